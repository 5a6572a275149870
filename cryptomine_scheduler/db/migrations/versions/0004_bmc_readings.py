"""The BMC's chassis readings and where each GPU's readings come from.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'


def upgrade():
    with op.batch_alter_table('host_samples') as batch:
        batch.add_column(sa.Column('inlet_temperature_c', sa.Float,
                                   nullable=True))
        batch.add_column(sa.Column('chassis_power_w', sa.Float,
                                   nullable=True))
    # Every GPU stored so far was read through NVML.
    with op.batch_alter_table('gpu_samples') as batch:
        batch.add_column(sa.Column('source', sa.String(16), nullable=False,
                                   server_default='nvml'))
