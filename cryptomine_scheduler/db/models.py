"""Tables of the load history.

Raw samples carry a ``bucket`` (start of their rollup period) and a
``rolled_up`` flag (on the host sample) so that a sample arriving late
(replayed by a collector after a broker outage) marks its bucket for
recomputation.  GPU and ASIC columns mirror the fields of
:class:`~cryptomine_scheduler.telemetry.sample.GpuLoad` and
``AsicLoad``; readings a device does not report are NULL.
"""

import dataclasses

import sqlalchemy as sa

from cryptomine_scheduler.telemetry import sample

HOST_METRICS = tuple(m.value for m in sample.HostMetric)
INSTANCE_METRICS = tuple(m.value for m in sample.InstanceMetric)
SENSOR_FIELDS = tuple(f.name for f in dataclasses.fields(sample.HostSensors))
# Device readings kept as 5-minute means and maxima.
GPU_ROLLUP_METRICS = sample.DEVICE_METRICS[sample.DeviceKind.GPU]
ASIC_ROLLUP_METRICS = sample.DEVICE_METRICS[sample.DeviceKind.ASIC]

_COLUMN_TYPES = {
    float | None: (sa.Float, True),
    int | None: (sa.BigInteger, True),
    str: (sa.String(255), False),
    str | None: (sa.String(255), True),
    bool: (sa.Boolean, False),
    # Instance UUIDs joined by commas.
    tuple[str, ...]: (sa.Text, False),
    sample.GpuReadingSource: (sa.String(16), False),
}


def device_columns(cls, skip):
    """Columns for the fields of a device dataclass, but ``skip``."""
    columns = []
    for field in dataclasses.fields(cls):
        if field.name not in skip:
            type_, nullable = _COLUMN_TYPES[field.type]
            columns.append(sa.Column(field.name, type_, nullable=nullable))
    return columns


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
    *(sa.Column(name, sa.Float, nullable=True) for name in SENSOR_FIELDS),
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


def _raw_device_table(name, key, key_type, cls):
    return sa.Table(
        name, metadata,
        sa.Column('host_id', sa.Integer, sa.ForeignKey('hosts.id'),
                  primary_key=True),
        sa.Column('seq', sa.BigInteger, primary_key=True,
                  autoincrement=False),
        sa.Column(key, key_type, primary_key=True, autoincrement=False),
        sa.Column('ts', sa.Float, nullable=False),
        sa.Column('bucket', sa.BigInteger, nullable=False),
        *device_columns(cls, skip={key}),
        sa.Index(f'ix_{name}_host_bucket', 'host_id', 'bucket'),
        sa.Index(f'ix_{name}_ts', 'ts'),
    )


gpu_samples = _raw_device_table('gpu_samples', 'index', sa.Integer,
                                sample.GpuLoad)
asic_samples = _raw_device_table('asic_samples', 'miner', sa.String(255),
                                 sample.AsicLoad)

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


def _device_rollup_table(name, key, key_type, metrics):
    return sa.Table(
        name, metadata,
        sa.Column(key, key_type, primary_key=True, autoincrement=False),
        sa.Column('host_id', sa.Integer, sa.ForeignKey('hosts.id'),
                  primary_key=True),
        sa.Column('bucket', sa.BigInteger, primary_key=True,
                  autoincrement=False),
        sa.Column('samples', sa.Integer, nullable=False),
        *(sa.Column(f'{m}_{agg}', sa.Float, nullable=True)
          for m in metrics for agg in ('mean', 'max')),
        sa.Index(f'ix_{name}_host_bucket', 'host_id', 'bucket'),
    )


gpu_rollups = _device_rollup_table('gpu_rollups', 'index', sa.Integer,
                                   GPU_ROLLUP_METRICS)
asic_rollups = _device_rollup_table('asic_rollups', 'miner', sa.String(255),
                                    ASIC_ROLLUP_METRICS)

# Re-plans and their moves.  ``efficacy`` and ``pinned`` are JSON; times
# are Unix seconds.
plans = sa.Table(
    'plans', metadata,
    sa.Column('id', sa.String(36), primary_key=True),
    sa.Column('created_at', sa.Float, nullable=False, index=True),
    sa.Column('finished_at', sa.Float, nullable=True),
    sa.Column('trigger', sa.String(16), nullable=False),
    sa.Column('controller', sa.String(255), nullable=False),
    sa.Column('dry_run', sa.Boolean, nullable=False),
    sa.Column('status', sa.String(16), nullable=False),
    sa.Column('planning_seconds', sa.Float, nullable=False),
    sa.Column('efficacy', sa.Text, nullable=False),
    sa.Column('pinned', sa.Text, nullable=False),
    sa.Column('error', sa.Text, nullable=True),
)

plan_actions = sa.Table(
    'plan_actions', metadata,
    sa.Column('plan_id', sa.String(36), sa.ForeignKey('plans.id'),
              primary_key=True),
    sa.Column('position', sa.Integer, primary_key=True,
              autoincrement=False),
    sa.Column('instance', sa.String(36), nullable=False, index=True),
    sa.Column('source', sa.String(255), nullable=False),
    sa.Column('destination', sa.String(255), nullable=False),
    sa.Column('memory_mb', sa.Float, nullable=False),
    sa.Column('gain', sa.Float, nullable=False),
    sa.Column('after', sa.Text, nullable=False),
    sa.Column('live', sa.Boolean, nullable=False),
    sa.Column('status', sa.String(16), nullable=False),
    sa.Column('error', sa.Text, nullable=True),
    # A plans.ActionCause value: why a move did not succeed.
    sa.Column('cause', sa.String(32), nullable=True),
    sa.Column('started_at', sa.Float, nullable=True),
    sa.Column('finished_at', sa.Float, nullable=True),
)

# The burst tier (times are Unix seconds; ``end`` is NULL while it
# lasts).  Which host and tier each instance ran on, and at what cost an
# hour (NULL on a home host): one row per stay.
tier_stays = sa.Table(
    'tier_stays', metadata,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('instance', sa.String(36), nullable=False, index=True),
    sa.Column('host', sa.String(255), nullable=False),
    sa.Column('tier', sa.String(16), nullable=False),
    sa.Column('cost_per_hour', sa.Float, nullable=True),
    sa.Column('start', sa.Float, nullable=False),
    sa.Column('end', sa.Float, nullable=True, index=True),
)

# The periods a burst host was held (in nova and not released).
burst_host_stays = sa.Table(
    'burst_host_stays', metadata,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('host', sa.String(255), nullable=False, index=True),
    sa.Column('cost_per_hour', sa.Float, nullable=False),
    sa.Column('start', sa.Float, nullable=False),
    sa.Column('end', sa.Float, nullable=True, index=True),
)

# Burst hosts seen empty and enabled, since when.
burst_empty_hosts = sa.Table(
    'burst_empty_hosts', metadata,
    sa.Column('host', sa.String(255), primary_key=True),
    sa.Column('since', sa.Float, nullable=False),
)

# Burst hosts the controller released (disabled), and when that ended:
# the operator enabled the host again, or removed it from nova.
burst_releases = sa.Table(
    'burst_releases', metadata,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('host', sa.String(255), nullable=False, index=True),
    sa.Column('cost_per_hour', sa.Float, nullable=False),
    sa.Column('empty_since', sa.Float, nullable=False),
    sa.Column('released_at', sa.Float, nullable=False),
    sa.Column('controller', sa.String(255), nullable=False),
    sa.Column('reason', sa.String(255), nullable=False),
    sa.Column('ended_at', sa.Float, nullable=True),
    sa.Column('ended', sa.String(16), nullable=True),
)

# What each warm guest of a flavor was measured to use (the learned
# expected loads, :mod:`..history.flavor_loads`), kept across restarts.
flavor_observations = sa.Table(
    'flavor_observations', metadata,
    sa.Column('instance_uuid', sa.String(36), primary_key=True),
    sa.Column('flavor', sa.String(255), nullable=False),
    sa.Column('image', sa.String(255), nullable=True),
    sa.Column('percent', sa.Float, nullable=False),
    sa.Column('observed_at', sa.Float, nullable=False, index=True),
)

# What nova's notifications said of each new guest (placed, or failed or
# deleted where ``host`` is NULL), whichever controller consumed them:
# read back at start, so that a controller serves the guests still
# warming up after a restart (:mod:`..history.shared_placements`).
placement_events = sa.Table(
    'placement_events', metadata,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('instance_uuid', sa.String(36), nullable=False),
    sa.Column('at', sa.Float, nullable=False, index=True),
    sa.Column('host', sa.String(255), nullable=True),
    sa.Column('vcpus', sa.Integer, nullable=True),
    sa.Column('memory_mb', sa.Integer, nullable=True),
    sa.Column('expected_load_percent', sa.Float, nullable=True),
    sa.Column('flavor', sa.String(255), nullable=True),
    sa.Column('image', sa.String(255), nullable=True),
    sa.Column('gpus', sa.Integer, nullable=True),
)
