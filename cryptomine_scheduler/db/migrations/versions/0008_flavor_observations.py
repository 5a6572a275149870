"""What warm guests of each flavor used: learned loads kept across restarts.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'


def upgrade():
    op.create_table(
        'flavor_observations',
        sa.Column('instance_uuid', sa.String(36), primary_key=True),
        sa.Column('flavor', sa.String(255), nullable=False),
        sa.Column('image', sa.String(255), nullable=True),
        sa.Column('percent', sa.Float, nullable=False),
        sa.Column('observed_at', sa.Float, nullable=False))
    op.create_index('ix_flavor_observations_observed_at',
                    'flavor_observations', ['observed_at'])
