"""Initial load history schema: hosts, raw samples and 5-minute rollups.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None

HOST_METRICS = ('cpu_percent', 'load_1', 'load_5', 'load_15', 'mem_used_mb',
                'mem_available_mb', 'mem_percent', 'swap_used_mb',
                'swap_percent')
INSTANCE_METRICS = ('cpu_percent', 'rss_mb')


def _floats(names, suffixes=('',)):
    return [sa.Column(n + s, sa.Float, nullable=False)
            for n in names for s in suffixes]


def _host_fk():
    return sa.Column('host_id', sa.Integer, sa.ForeignKey('hosts.id'),
                     primary_key=True)


def upgrade():
    op.create_table(
        'hosts',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('name', sa.String(255), nullable=False, unique=True),
        sa.Column('created_at', sa.Float, nullable=False))
    op.create_table(
        'host_samples', _host_fk(),
        sa.Column('seq', sa.BigInteger, primary_key=True,
                  autoincrement=False),
        sa.Column('ts', sa.Float, nullable=False),
        sa.Column('bucket', sa.BigInteger, nullable=False),
        sa.Column('rolled_up', sa.Boolean, nullable=False),
        *_floats(HOST_METRICS))
    op.create_index('ix_host_samples_host_ts', 'host_samples',
                    ['host_id', 'ts'])
    op.create_index('ix_host_samples_ts', 'host_samples', ['ts'])
    op.create_index('ix_host_samples_rolled_up', 'host_samples',
                    ['rolled_up', 'bucket'])
    op.create_table(
        'instance_samples', _host_fk(),
        sa.Column('seq', sa.BigInteger, primary_key=True,
                  autoincrement=False),
        sa.Column('instance_uuid', sa.String(36), primary_key=True),
        sa.Column('ts', sa.Float, nullable=False),
        sa.Column('bucket', sa.BigInteger, nullable=False),
        *_floats(INSTANCE_METRICS))
    op.create_index('ix_instance_samples_uuid_ts', 'instance_samples',
                    ['instance_uuid', 'ts'])
    op.create_index('ix_instance_samples_host_bucket', 'instance_samples',
                    ['host_id', 'bucket'])
    op.create_index('ix_instance_samples_ts', 'instance_samples', ['ts'])
    op.create_table(
        'host_rollups', _host_fk(),
        sa.Column('bucket', sa.BigInteger, primary_key=True,
                  autoincrement=False),
        sa.Column('samples', sa.Integer, nullable=False),
        *_floats(HOST_METRICS, ('_mean', '_max')))
    op.create_table(
        'instance_rollups',
        sa.Column('instance_uuid', sa.String(36), primary_key=True),
        _host_fk(),
        sa.Column('bucket', sa.BigInteger, primary_key=True,
                  autoincrement=False),
        sa.Column('samples', sa.Integer, nullable=False),
        *_floats(INSTANCE_METRICS, ('_mean', '_max')))
