"""The burst tier: instances' stays per tier, burst hosts held and released.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'


def upgrade():
    op.create_table(
        'tier_stays',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('instance', sa.String(36), nullable=False),
        sa.Column('host', sa.String(255), nullable=False),
        sa.Column('tier', sa.String(16), nullable=False),
        sa.Column('cost_per_hour', sa.Float, nullable=True),
        sa.Column('start', sa.Float, nullable=False),
        sa.Column('end', sa.Float, nullable=True))
    op.create_index('ix_tier_stays_instance', 'tier_stays', ['instance'])
    op.create_index('ix_tier_stays_end', 'tier_stays', ['end'])
    op.create_table(
        'burst_host_stays',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('host', sa.String(255), nullable=False),
        sa.Column('cost_per_hour', sa.Float, nullable=False),
        sa.Column('start', sa.Float, nullable=False),
        sa.Column('end', sa.Float, nullable=True))
    op.create_index('ix_burst_host_stays_host', 'burst_host_stays', ['host'])
    op.create_index('ix_burst_host_stays_end', 'burst_host_stays', ['end'])
    op.create_table(
        'burst_empty_hosts',
        sa.Column('host', sa.String(255), primary_key=True),
        sa.Column('since', sa.Float, nullable=False))
    op.create_table(
        'burst_releases',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('host', sa.String(255), nullable=False),
        sa.Column('cost_per_hour', sa.Float, nullable=False),
        sa.Column('empty_since', sa.Float, nullable=False),
        sa.Column('released_at', sa.Float, nullable=False),
        sa.Column('controller', sa.String(255), nullable=False),
        sa.Column('reason', sa.String(255), nullable=False),
        sa.Column('ended_at', sa.Float, nullable=True),
        sa.Column('ended', sa.String(16), nullable=True))
    op.create_index('ix_burst_releases_host', 'burst_releases', ['host'])
