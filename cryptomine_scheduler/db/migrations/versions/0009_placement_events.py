"""nova's placements as every controller learnt them, kept across restarts.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'


def upgrade():
    op.create_table(
        'placement_events',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('at', sa.Float, nullable=False),
        sa.Column('host', sa.String(255), nullable=True),
        sa.Column('vcpus', sa.Integer, nullable=True),
        sa.Column('memory_mb', sa.Integer, nullable=True),
        sa.Column('expected_load_percent', sa.Float, nullable=True),
        sa.Column('flavor', sa.String(255), nullable=True),
        sa.Column('image', sa.String(255), nullable=True),
        sa.Column('gpus', sa.Integer, nullable=True))
    op.create_index('ix_placement_events_at', 'placement_events', ['at'])
