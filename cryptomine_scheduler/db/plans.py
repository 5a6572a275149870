"""Re-plans and their actions in the database.

A plan row is written once planning is done, with every move as an
action ``pending``; the executor then records each action's start and
end (:class:`PlanStore` is its recorder), and the plan's final status
when the round ends.  A controller that stops mid-round leaves
``running`` rows behind; :meth:`PlanStore.close_interrupted` closes them
at its next start.
"""

import collections
import enum
import json
import time
from collections.abc import Callable
from collections.abc import Iterable

import sqlalchemy as sa

from cryptomine_scheduler import exception
from cryptomine_scheduler.db import models

PENDING = 'pending'
RUNNING = 'running'


class ActionCause(enum.Enum):
    """Why an action ended without succeeding: recorded beside its
    error, which says it in words.  Only ``NOVA`` says something of the
    guest itself."""

    NOVA = 'nova'                      # nova refused or failed it
    NOVA_UNAVAILABLE = 'nova-unavailable'  # its API failed to answer
    TIMED_OUT = 'timed-out'            # aborted at its migration timeout
    ABORT_REQUESTED = 'abort-requested'  # an operator aborted the plan
    DEPENDENCY_LOST = 'dependency-lost'  # a move it relied on did not happen
    FAILURE_LIMIT = 'failure-limit'    # the round had failed too often
    ROUND_STOPPED = 'round-stopped'    # the round was stopped before it
    CONTROLLER_STOPPED = 'controller-stopped'  # mid-round
    ROUND_ERROR = 'round-error'        # an error stopped the round


class PlanStatus(enum.Enum):
    """Where a plan stands."""

    NOTHING_TO_DO = 'nothing-to-do'
    PLANNED = 'planned'          # dry run, or waiting to run
    RUNNING = 'running'
    SUCCEEDED = 'succeeded'
    PARTIAL = 'partial'          # some moves failed, were skipped or aborted
    FAILED = 'failed'            # no move succeeded
    ABORTED = 'aborted'          # stopped before any move succeeded


# Raised to RPC callers; defined where they need no database import.
PlanNotFound = exception.PlanNotFound


def _plain(row) -> dict:
    """A row as a dict with ``str`` keys (SQLAlchemy's are a subclass that
    serialisers do not all know)."""
    return {str(k): v for k, v in row.items()}


def _loads(text):
    return json.loads(text) if text else None


class PlanStore:
    """Plans and actions, on the history store's engine."""

    def __init__(self, engine: sa.Engine,
                 clock: Callable[[], float] = time.time):
        self.engine = engine
        self._clock = clock

    def create(self, plan_id: str, *, trigger: str, controller: str,
               dry_run: bool, status: PlanStatus, planning_seconds: float,
               efficacy: dict, pinned: dict[str, int], moves: Iterable,
               cold: frozenset[str] = frozenset(),
               error: str | None = None) -> None:
        """Store a new plan and its ``moves`` (:class:`heuristic.Move`)."""
        now = self._clock()
        finished = status not in (PlanStatus.PLANNED, PlanStatus.RUNNING)
        with self.engine.begin() as conn:
            conn.execute(models.plans.insert(), {
                'id': plan_id, 'created_at': now,
                'finished_at': now if finished else None,
                'trigger': trigger, 'controller': controller,
                'dry_run': dry_run, 'status': status.value,
                'planning_seconds': planning_seconds,
                'efficacy': json.dumps(efficacy),
                'pinned': json.dumps(pinned), 'error': error})
            rows = [{'plan_id': plan_id, 'position': k,
                     'instance': m.instance, 'source': m.source,
                     'destination': m.destination,
                     'memory_mb': m.memory_mb, 'gain': m.gain,
                     'after': json.dumps(list(m.after)),
                     'live': m.instance not in cold, 'status': PENDING}
                    for k, m in enumerate(moves)]
            if rows:
                conn.execute(models.plan_actions.insert(), rows)

    def set_status(self, plan_id: str, status: PlanStatus,
                   error: str | None = None) -> None:
        """Record the plan's status (and its end, unless running)."""
        values = {'status': status.value, 'error': error}
        if status is not PlanStatus.RUNNING:
            values['finished_at'] = self._clock()
        with self.engine.begin() as conn:
            conn.execute(models.plans.update()
                         .where(models.plans.c.id == plan_id)
                         .values(**values))

    def _update_action(self, plan_id: str, position: int, **values) -> None:
        a = models.plan_actions.c
        with self.engine.begin() as conn:
            conn.execute(models.plan_actions.update()
                         .where(a.plan_id == plan_id, a.position == position)
                         .values(**values))

    def action_started(self, plan_id: str, position: int) -> None:
        self._update_action(plan_id, position, status=RUNNING,
                            started_at=self._clock())

    def action_finished(self, plan_id: str, position: int, status,
                        error: str | None = None,
                        cause: ActionCause | None = None) -> None:
        """``status`` is an executor ``ActionStatus``."""
        self._update_action(plan_id, position, status=status.value,
                            error=error, cause=cause and cause.value,
                            finished_at=self._clock())

    def get(self, plan_id: str) -> dict:
        """The plan and its actions; raise :class:`PlanNotFound`."""
        with self.engine.connect() as conn:
            row = conn.execute(models.plans.select().where(
                models.plans.c.id == plan_id)).mappings().first()
            if row is None:
                raise PlanNotFound(f'no plan {plan_id!r}')
            actions = conn.execute(
                models.plan_actions.select()
                .where(models.plan_actions.c.plan_id == plan_id)
                .order_by(models.plan_actions.c.position)).mappings().all()
        plan = self._plan(row)
        plan['actions'] = [
            {**_plain(a), 'after': json.loads(a['after'])} for a in actions
        ]
        for action in plan['actions']:
            del action['plan_id']
        return plan

    def migrations_of(self, instance: str, since: float) -> list[dict]:
        """The actions that started moving ``instance`` at ``since`` or
        later, oldest first, with their plan's ID."""
        a = models.plan_actions.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(a.plan_id, a.source, a.destination, a.live,
                          a.status, a.cause, a.error, a.started_at,
                          a.finished_at)
                .where(a.instance == instance, a.started_at >= since)
                .order_by(a.started_at)).mappings().all()
        return [_plain(row) for row in rows]

    def list(self, limit: int = 20) -> list[dict]:
        """The newest plans first, without their actions."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                models.plans.select()
                .order_by(models.plans.c.created_at.desc())
                .limit(limit)).mappings().all()
        return [self._plan(r) for r in rows]

    @staticmethod
    def _plan(row) -> dict:
        return {**_plain(row), 'efficacy': _loads(row['efficacy']),
                'pinned': _loads(row['pinned'])}

    def last_moved(self, since: float) -> dict[str, float]:
        """When each instance last finished a move (succeeded or not)
        after ``since``: a failed try also deserves its cool-down."""
        a = models.plan_actions.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(a.instance, sa.func.max(a.finished_at))
                .where(a.finished_at >= since,
                       a.status.in_(('succeeded', 'failed')))
                .group_by(a.instance)).all()
        return dict(rows)

    def cold_downtime(self, since: float) -> dict[str, float]:
        """Seconds each instance spent in the cold migrations that
        started at ``since`` or later (to now for a running one)."""
        a = models.plan_actions.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(a.instance, a.started_at, a.finished_at)
                .where(a.started_at >= since, a.live.is_(False))).all()
        now = self._clock()
        spent: dict[str, float] = collections.defaultdict(float)
        for instance, started, finished in rows:
            spent[instance] += (now if finished is None else finished) - (
                started)
        return dict(spent)

    def cold_migration_seconds(self, since: float) -> tuple[float, ...]:
        """How long each cold migration that succeeded after ``since``
        kept its guest stopped."""
        a = models.plan_actions.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(a.finished_at - a.started_at)
                .where(a.finished_at >= since, a.live.is_(False),
                       a.status == 'succeeded')).scalars().all()
        return tuple(float(seconds) for seconds in rows)

    def live_migrations(self, since: float
                        ) -> tuple[tuple[str, float, float, bool], ...]:
        """(instance, memory MiB, seconds, completed) of each live
        migration that ended after ``since`` and either succeeded or
        failed when it timed out (aborted while still copying)."""
        a = models.plan_actions.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(a.instance, a.memory_mb,
                          a.finished_at - a.started_at,
                          a.status == 'succeeded')
                .where(a.finished_at >= since, a.live.is_(True),
                       (a.status == 'succeeded')
                       | ((a.status == 'failed')
                          & (a.cause == ActionCause.TIMED_OUT.value)))
            ).all()
        return tuple((instance, float(memory_mb), float(seconds), bool(done))
                     for instance, memory_mb, seconds, done in rows)

    def moves_by_instance(self, since: float) -> dict[str, float]:
        """Migrations of each instance started at ``since`` or later,
        whatever their end."""
        a = models.plan_actions.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(a.instance, sa.func.count())
                .where(a.started_at >= since)
                .group_by(a.instance)).all()
        return {instance: float(count) for instance, count in rows}

    def failures_by_instance(self, since: float) -> dict[str, int]:
        """Migrations of each instance that nova refused or failed and
        that ended at ``since`` or later."""
        a = models.plan_actions.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(a.instance, sa.func.count())
                .where(a.finished_at >= since, a.status == 'failed',
                       a.cause == ActionCause.NOVA.value)
                .group_by(a.instance)).all()
        return dict(rows)

    def moves_started(self, since: float) -> int:
        """Migrations started at ``since`` or later, whatever their
        end."""
        a = models.plan_actions.c
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .where(a.started_at >= since)).scalar_one()

    def close_open_actions(self, plan_id: str, status: str, error: str,
                           cause: ActionCause) -> None:
        """End the plan's pending and running actions as ``status``."""
        self._close_actions(plan_id, (PENDING, RUNNING), status, error,
                            cause)

    def _close_actions(self, plan_id: str, open_states: tuple[str, ...],
                       status: str, error: str, cause: ActionCause) -> None:
        a = models.plan_actions.c
        with self.engine.begin() as conn:
            conn.execute(models.plan_actions.update()
                         .where(a.plan_id == plan_id,
                                a.status.in_(open_states))
                         .values(status=status, error=error,
                                 cause=cause.value,
                                 finished_at=self._clock()))

    def running_elsewhere(self, controller: str) -> tuple[str, ...]:
        """The plans other controllers have running, oldest first."""
        p = models.plans.c
        with self.engine.connect() as conn:
            return tuple(r.id for r in conn.execute(
                sa.select(p.id).where(p.status == PlanStatus.RUNNING.value,
                                      p.controller != controller)
                .order_by(p.created_at)))

    def close_interrupted(self, controller: str) -> int:
        """Mark the plans ``controller`` left running when it stopped
        aborted, with their open actions; return how many plans.

        An action that was running counts as failed: nova may have
        finished or rolled back its migration, and either way the
        instance deserves its cool-down.
        """
        reason = 'controller stopped during the round'
        p = models.plans.c
        with self.engine.connect() as conn:
            running = [r.id for r in conn.execute(
                sa.select(p.id).where(p.status == PlanStatus.RUNNING.value,
                                      p.controller == controller))]
        cause = ActionCause.CONTROLLER_STOPPED
        for plan_id in running:
            self._close_actions(plan_id, (RUNNING,), 'failed', reason, cause)
            self._close_actions(plan_id, (PENDING,), 'aborted', reason,
                                cause)
            self.set_status(plan_id, PlanStatus.ABORTED, reason)
        return len(running)
