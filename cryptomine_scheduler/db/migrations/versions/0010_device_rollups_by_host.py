"""The 5-minute rollups of a host's GPUs and miners, found by host.

Their primary key leads with the device (a GPU's index, a miner's
address), so reading one host's devices over a period scanned every
host's rollups.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = '0010'
down_revision = '0009'


def upgrade():
    for table in ('gpu_rollups', 'asic_rollups'):
        op.create_index(f'ix_{table}_host_bucket', table,
                        ['host_id', 'bucket'])
