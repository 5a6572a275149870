"""Tables of the load history.

Raw samples carry a ``bucket`` (start of their rollup period) and a
``rolled_up`` flag so that a sample arriving late (replayed by a collector
after a broker outage) marks its bucket for recomputation.
"""

import sqlalchemy as sa

from cryptomine_scheduler import sample

HOST_METRICS = tuple(m.value for m in sample.HostMetric)
INSTANCE_METRICS = tuple(m.value for m in sample.InstanceMetric)


metadata = sa.MetaData()

hosts = sa.Table(
    'hosts', metadata,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('name', sa.String(255), nullable=False, unique=True),
    sa.Column('created_at', sa.Float, nullable=False),
)


def _metric_columns(names, suffixes=('',)):
    return [sa.Column(name + suffix, sa.Float, nullable=False)
            for name in names for suffix in suffixes]


host_samples = sa.Table(
    'host_samples', metadata,
    sa.Column('host_id', sa.Integer, sa.ForeignKey('hosts.id'),
              primary_key=True),
    sa.Column('seq', sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column('ts', sa.Float, nullable=False),
    sa.Column('bucket', sa.BigInteger, nullable=False),
    sa.Column('rolled_up', sa.Boolean, nullable=False, default=False),
    *_metric_columns(HOST_METRICS),
    sa.Index('ix_host_samples_host_ts', 'host_id', 'ts'),
    sa.Index('ix_host_samples_ts', 'ts'),
    sa.Index('ix_host_samples_rolled_up', 'rolled_up', 'bucket'),
)

instance_samples = sa.Table(
    'instance_samples', metadata,
    sa.Column('host_id', sa.Integer, sa.ForeignKey('hosts.id'),
              primary_key=True),
    sa.Column('seq', sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column('instance_uuid', sa.String(36), primary_key=True),
    sa.Column('ts', sa.Float, nullable=False),
    sa.Column('bucket', sa.BigInteger, nullable=False),
    *_metric_columns(INSTANCE_METRICS),
    sa.Index('ix_instance_samples_uuid_ts', 'instance_uuid', 'ts'),
    sa.Index('ix_instance_samples_host_bucket', 'host_id', 'bucket'),
    sa.Index('ix_instance_samples_ts', 'ts'),
)

host_rollups = sa.Table(
    'host_rollups', metadata,
    sa.Column('host_id', sa.Integer, sa.ForeignKey('hosts.id'),
              primary_key=True),
    sa.Column('bucket', sa.BigInteger, primary_key=True,
              autoincrement=False),
    sa.Column('samples', sa.Integer, nullable=False),
    *_metric_columns(HOST_METRICS, ('_mean', '_max')),
)

instance_rollups = sa.Table(
    'instance_rollups', metadata,
    sa.Column('instance_uuid', sa.String(36), primary_key=True),
    sa.Column('host_id', sa.Integer, sa.ForeignKey('hosts.id'),
              primary_key=True),
    sa.Column('bucket', sa.BigInteger, primary_key=True,
              autoincrement=False),
    sa.Column('samples', sa.Integer, nullable=False),
    *_metric_columns(INSTANCE_METRICS, ('_mean', '_max')),
)
