"""The power cap each host's BMC holds its chassis to (schema 4 samples).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'


def upgrade():
    with op.batch_alter_table('host_samples') as batch:
        batch.add_column(sa.Column('chassis_power_cap_w', sa.Float,
                                   nullable=True))
