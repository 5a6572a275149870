"""Host sensors, GPU and ASIC samples, and their 5-minute rollups.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'

GPU_FLOATS = ('utilization_percent', 'memory_utilization_percent',
              'memory_used_mb', 'memory_total_mb', 'power_w',
              'power_limit_w', 'temperature_c', 'slowdown_temperature_c',
              'fan_percent', 'sm_clock_mhz', 'memory_clock_mhz')
ASIC_FLOATS = ('hashrate_5s_ghs', 'hashrate_avg_ghs')
ASIC_COUNTERS = ('accepted_shares', 'rejected_shares', 'hardware_errors')
ASIC_READINGS = ('temperature_c', 'fan_rpm_min')
ASIC_CHAINS = ('chains_total', 'chains_active')
GPU_ROLLUPS = ('utilization_percent', 'memory_utilization_percent',
               'power_w', 'temperature_c', 'sm_clock_mhz')
ASIC_ROLLUPS = ('hashrate_5s_ghs', 'temperature_c', 'power_w',
                'hardware_errors')


def _nullable(names, type_=sa.Float):
    return [sa.Column(n, type_, nullable=True) for n in names]


def _raw(name, key_column, *columns):
    op.create_table(
        name,
        sa.Column('host_id', sa.Integer, sa.ForeignKey('hosts.id'),
                  primary_key=True),
        sa.Column('seq', sa.BigInteger, primary_key=True,
                  autoincrement=False),
        key_column,
        sa.Column('ts', sa.Float, nullable=False),
        sa.Column('bucket', sa.BigInteger, nullable=False),
        *columns)
    op.create_index(f'ix_{name}_host_bucket', name, ['host_id', 'bucket'])
    op.create_index(f'ix_{name}_ts', name, ['ts'])


def _rollup(name, key_column, metrics):
    op.create_table(
        name, key_column,
        sa.Column('host_id', sa.Integer, sa.ForeignKey('hosts.id'),
                  primary_key=True),
        sa.Column('bucket', sa.BigInteger, primary_key=True,
                  autoincrement=False),
        sa.Column('samples', sa.Integer, nullable=False),
        *_nullable(f'{m}_{agg}' for m in metrics for agg in ('mean', 'max')))


def _gpu_key():
    return sa.Column('index', sa.Integer, primary_key=True,
                     autoincrement=False)


def _miner_key():
    return sa.Column('miner', sa.String(255), primary_key=True)


def upgrade():
    with op.batch_alter_table('host_samples') as batch:
        batch.add_column(sa.Column('cpu_temperature_c', sa.Float,
                                   nullable=True))
        batch.add_column(sa.Column('energy_j', sa.Float, nullable=True))
    _raw('gpu_samples', _gpu_key(),
         sa.Column('pci_bus_id', sa.String(255), nullable=False),
         sa.Column('name', sa.String(255), nullable=False),
         *_nullable(GPU_FLOATS),
         sa.Column('throttle_reasons', sa.BigInteger, nullable=True),
         sa.Column('instances', sa.Text, nullable=False))
    _raw('asic_samples', _miner_key(),
         sa.Column('available', sa.Boolean, nullable=False),
         sa.Column('instance', sa.String(255), nullable=True),
         *_nullable(ASIC_FLOATS),
         *_nullable(ASIC_COUNTERS, sa.BigInteger),
         *_nullable(ASIC_READINGS),
         *_nullable(ASIC_CHAINS, sa.BigInteger),
         sa.Column('power_w', sa.Float, nullable=True))
    _rollup('gpu_rollups', _gpu_key(), GPU_ROLLUPS)
    _rollup('asic_rollups', _miner_key(), ASIC_ROLLUPS)
