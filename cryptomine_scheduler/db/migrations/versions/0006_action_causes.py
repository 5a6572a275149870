"""Why each move did not succeed, as a value the planner can query.

The failures counted per instance and the timed-out live migrations the
copy factors learn from were told apart by how their error text began;
the actions recorded so far get the cause their text gave.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'

_actions = sa.table('plan_actions', sa.column('status', sa.String),
                    sa.column('error', sa.Text), sa.column('cause',
                                                           sa.String))


def _cause_of_recorded_error():
    status, error = _actions.c.status, _actions.c.error
    return sa.case(
        (error.like('timed out%'), 'timed-out'),
        (error.like('plan aborted on request%'), 'abort-requested'),
        (error.like('controller % stopped during the round')
         | (error == 'controller stopped during the round'),
         'controller-stopped'),
        (error.like('round stopped by an error%'), 'round-error'),
        (error.like('round stopped after %'), 'failure-limit'),
        (status == 'skipped', 'dependency-lost'),
        (status == 'failed', 'nova'),
        (status == 'aborted', 'round-stopped'),
        else_=None)


def upgrade():
    with op.batch_alter_table('plan_actions') as batch:
        batch.add_column(sa.Column('cause', sa.String(32), nullable=True))
    op.execute(_actions.update()
               .where(_actions.c.status.in_(('failed', 'skipped',
                                             'aborted')))
               .values(cause=_cause_of_recorded_error()))
