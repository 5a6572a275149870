"""Re-plans and their actions (migrations).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'


def upgrade():
    op.create_table(
        'plans',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('created_at', sa.Float, nullable=False),
        sa.Column('finished_at', sa.Float, nullable=True),
        sa.Column('trigger', sa.String(16), nullable=False),
        sa.Column('controller', sa.String(255), nullable=False),
        sa.Column('dry_run', sa.Boolean, nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('planning_seconds', sa.Float, nullable=False),
        sa.Column('efficacy', sa.Text, nullable=False),
        sa.Column('pinned', sa.Text, nullable=False),
        sa.Column('error', sa.Text, nullable=True))
    op.create_index('ix_plans_created_at', 'plans', ['created_at'])
    op.create_table(
        'plan_actions',
        sa.Column('plan_id', sa.String(36), sa.ForeignKey('plans.id'),
                  primary_key=True),
        sa.Column('position', sa.Integer, primary_key=True,
                  autoincrement=False),
        sa.Column('instance', sa.String(36), nullable=False),
        sa.Column('source', sa.String(255), nullable=False),
        sa.Column('destination', sa.String(255), nullable=False),
        sa.Column('memory_mb', sa.Float, nullable=False),
        sa.Column('gain', sa.Float, nullable=False),
        sa.Column('after', sa.Text, nullable=False),
        sa.Column('live', sa.Boolean, nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('error', sa.Text, nullable=True),
        sa.Column('started_at', sa.Float, nullable=True),
        sa.Column('finished_at', sa.Float, nullable=True))
    op.create_index('ix_plan_actions_instance', 'plan_actions', ['instance'])
