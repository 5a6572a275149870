"""Carry out a plan's moves, a few at a time, the way a cautious operator
would.

:class:`Executor` starts the moves in plan order and watches each to its
end:

* at most ``max_parallel`` migrations run at once, and at most
  ``max_parallel_per_host`` on a host (a move occupies its source and its
  destination).  A move whose hosts are busy waits, and the moves after
  it wait too: the order is the plan's;
* a move starts once the moves it relies on (``Move.after``) succeeded,
  and is skipped when one of them failed or was skipped;
* a migration that has not ended after ``migration_timeout`` seconds is
  aborted in nova, and so are the running ones once ``cancel`` is set (an
  operator's abort).  Its hosts stay busy until nova
  says it ended (finished after all: it succeeded; rolled back: it
  failed, 'timed out'), or until twice the timeout if nova never does
  (or its API stopped answering, which says nothing of the guest).
  Progress that cannot be read this time is read again at the next poll
  (every ``poll_interval`` seconds);
* after ``max_failures`` failures, or once ``stop`` (a service
  shutdown) or ``cancel`` is set, no move starts any more: the running
  ones are watched to their end and the rest are aborted.

Every start and end goes to a :class:`Recorder` (the plan store), each
end that is not a success with its error and its cause
(:class:`~cryptomine_scheduler.db.plans.ActionCause`).  The
migrations themselves go through a :class:`Migrator`:
:class:`~cryptomine_scheduler.replan.nova_migrator.OpenStackMigrator` asks
nova's API.
"""

import collections
import dataclasses
import enum
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import Protocol

from oslo_log import log as logging

from cryptomine_scheduler.db import plans
from cryptomine_scheduler.planning import heuristic

LOG = logging.getLogger(__name__)


class ActionStatus(enum.Enum):
    """Where one planned move stands."""

    PENDING = 'pending'
    RUNNING = 'running'
    SUCCEEDED = 'succeeded'
    FAILED = 'failed'
    SKIPPED = 'skipped'
    ABORTED = 'aborted'


#: Statuses after which a move that relies on it is skipped.
_LOST = (ActionStatus.FAILED, ActionStatus.SKIPPED)
Cause = plans.ActionCause
#: The error of a migration aborted in nova, by why it was.
_ABORTED = {Cause.TIMED_OUT: 'timed out',
            Cause.ABORT_REQUESTED: 'plan aborted on request'}


@dataclasses.dataclass(frozen=True)
class Limits:
    """How much one round may do at once, and how long it waits."""

    max_parallel: int = 2
    max_parallel_per_host: int = 1
    migration_timeout: float = 1800.0
    max_failures: int = 2
    poll_interval: float = 2.0
    #: Seconds a GiB of the guest's memory adds to ``migration_timeout``'s
    #: floor (nova's libvirt ``live_migration_completion_timeout``).
    migration_timeout_per_gib: float = 0.0

    def __post_init__(self):
        if min(self.max_parallel, self.max_parallel_per_host,
               self.max_failures) < 1:
            raise ValueError(f'{self}: parallelism and max_failures must '
                             'be at least 1')
        if self.migration_timeout <= 0 or self.poll_interval <= 0:
            raise ValueError(f'{self}: timeout and poll interval must be '
                             'positive')
        if self.migration_timeout_per_gib < 0:
            raise ValueError(f'{self}: the timeout per GiB must not be '
                             'negative')

    def timeout(self, move: heuristic.Move) -> float:
        """Seconds ``move`` may take before nova is asked to abort it:
        ``migration_timeout``, or longer for a guest whose memory nova's
        own completion timeout gives longer."""
        return max(self.migration_timeout,
                   self.migration_timeout_per_gib * move.memory_mb / 1024)


class MigrationState(enum.Enum):
    RUNNING = 'running'
    DONE = 'done'
    FAILED = 'failed'


@dataclasses.dataclass(frozen=True)
class Progress:
    """A migration's state, and why it failed."""

    state: MigrationState
    reason: str | None = None


class MigrationError(Exception):
    """nova refused a migration, or could not be asked
    (``unavailable``)."""

    def __init__(self, message: str, unavailable: bool = False):
        super().__init__(message)
        self.unavailable = unavailable


class Recorder(Protocol):
    """Where the executor reports (the plan store)."""

    def action_started(self, plan_id: str, position: int) -> None: ...

    def action_finished(self, plan_id: str, position: int,
                        status: ActionStatus, error: str | None = None,
                        cause: plans.ActionCause | None = None
                        ) -> None: ...


class Migrator(Protocol):
    """What moves instances (nova)."""

    def start(self, instance: str, destination: str, live: bool) -> None:
        """Ask for the migration; raise :class:`MigrationError` if refused."""

    def progress(self, instance: str, source: str,
                 destination: str) -> Progress:
        """The state of the migration :meth:`start` asked for; raise
        :class:`MigrationError` when it cannot be read this time."""

    def abort(self, instance: str) -> None:
        """Ask nova to abort the migration :meth:`start` asked for; raise
        :class:`MigrationError` when nova cannot (a cold migration)."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a round ended: each move's status, by plan position."""

    statuses: tuple[ActionStatus, ...]
    seconds: float

    @property
    def counts(self) -> dict[ActionStatus, int]:
        return {status: self.statuses.count(status)
                for status in ActionStatus}


@dataclasses.dataclass
class _Running:
    position: int
    move: heuristic.Move
    started: float
    #: Why nova was asked to abort it; None while it was not.
    aborting: plans.ActionCause | None = None
    #: Whether the last look at its progress failed.
    unread: bool = False


class _Round:
    """The state of one :meth:`Executor.run`."""

    def __init__(self, plan_id: str, moves: Sequence[heuristic.Move],
                 recorder: Recorder):
        self.plan_id = plan_id
        self.moves = moves
        self.recorder = recorder
        self.statuses = [ActionStatus.PENDING] * len(moves)
        self.running: list[_Running] = []
        self.busy: collections.Counter[str] = collections.Counter()
        self.upcoming = 0
        self.failures = 0

    def begin(self, position: int, started: float) -> None:
        move = self.moves[position]
        LOG.info('Plan %s move %d: migrating %s from %s to %s',
                 self.plan_id, position, move.instance, move.source,
                 move.destination)
        self.statuses[position] = ActionStatus.RUNNING
        self.recorder.action_started(self.plan_id, position)
        self.running.append(_Running(position, move, started))
        self.busy.update((move.source, move.destination))

    def end(self, position: int, status: ActionStatus,
            error: str | None = None,
            cause: plans.ActionCause | None = None) -> None:
        move = self.moves[position]
        log = LOG.warning if status is ActionStatus.FAILED else LOG.info
        log('Plan %s move %d (%s from %s to %s): %s %s', self.plan_id,
            position, move.instance, move.source, move.destination,
            status.value, error or '')
        self.statuses[position] = status
        self.failures += status is ActionStatus.FAILED
        self.recorder.action_finished(self.plan_id, position, status, error,
                                      cause)
        for action in self.running:
            if action.position == position:
                self.running.remove(action)
                self.busy.subtract((move.source, move.destination))
                break

    def has_room(self, move: heuristic.Move, limits: Limits) -> bool:
        return (len(self.running) < limits.max_parallel
                and self.busy[move.source] < limits.max_parallel_per_host
                and self.busy[move.destination]
                < limits.max_parallel_per_host)

    def lost_dependency(self, move: heuristic.Move) -> int | None:
        """An earlier move this one relies on that failed or was skipped."""
        return next((p for p in move.after if self.statuses[p] in _LOST),
                    None)

    def dependencies_done(self, move: heuristic.Move) -> bool:
        return all(self.statuses[p] is ActionStatus.SUCCEEDED
                   for p in move.after)


class Executor:
    """Carries out plans (module docstring)."""

    def __init__(self, migrator: Migrator, recorder: Recorder,
                 limits: Limits = Limits(),
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self._migrator = migrator
        self._recorder = recorder
        self._limits = limits
        self._clock = clock
        self._sleep = sleep

    def run(self, plan_id: str, moves: Sequence[heuristic.Move],
            cold: frozenset[str], stop: threading.Event,
            cancel: threading.Event | None = None) -> Outcome:
        """Carry out ``moves`` in order; instances in ``cold`` are
        cold-migrated, the others live-migrated."""
        began = self._clock()
        round_ = _Round(plan_id, moves, self._recorder)
        cancel = cancel or threading.Event()
        while True:
            for action in list(round_.running):
                self._watch(round_, action, cancel)
            self._start_next(round_, cold, stop)
            halt = self._halt_reason(round_, stop)
            if halt is not None:
                for position in range(round_.upcoming, len(moves)):
                    round_.end(position, ActionStatus.ABORTED, *halt)
                round_.upcoming = len(moves)
            if not round_.running and round_.upcoming == len(moves):
                break
            self._sleep(self._limits.poll_interval)
        return Outcome(tuple(round_.statuses), self._clock() - began)

    def _halt_reason(self, round_: _Round, stop: threading.Event
                     ) -> tuple[str, plans.ActionCause] | None:
        if round_.failures >= self._limits.max_failures:
            return (f'round stopped after {round_.failures} failed moves',
                    Cause.FAILURE_LIMIT)
        if stop.is_set():
            return 'round stopped on request', Cause.ROUND_STOPPED
        return None

    def _start_next(self, round_: _Round, cold: frozenset[str],
                    stop: threading.Event) -> None:
        """Start the moves that may start now, in plan order."""
        while (round_.upcoming < len(round_.moves)
               and self._halt_reason(round_, stop) is None):
            position = round_.upcoming
            move = round_.moves[position]
            lost = round_.lost_dependency(move)
            if lost is not None:
                round_.end(position, ActionStatus.SKIPPED,
                           f'relies on move {lost} '
                           f'({round_.moves[lost].instance}): '
                           f'{round_.statuses[lost].value}',
                           Cause.DEPENDENCY_LOST)
            elif not (round_.dependencies_done(move)
                      and round_.has_room(move, self._limits)):
                return
            else:
                round_.begin(position, self._clock())
                try:
                    self._migrator.start(move.instance, move.destination,
                                         live=move.instance not in cold)
                except MigrationError as exc:
                    round_.end(position, ActionStatus.FAILED, str(exc),
                               Cause.NOVA_UNAVAILABLE if exc.unavailable
                               else Cause.NOVA)
            round_.upcoming += 1

    def _watch(self, round_: _Round, action: _Running,
               cancel: threading.Event) -> None:
        """End ``action`` if its migration ended; abort it in nova once it
        timed out or the round is cancelled."""
        move = action.move
        try:
            progress = self._migrator.progress(move.instance, move.source,
                                               move.destination)
        except MigrationError as exc:
            LOG.warning('Plan %s move %d: cannot read its progress (%s); '
                        'trying again', round_.plan_id, action.position, exc)
            progress = Progress(MigrationState.RUNNING)
            action.unread = True
        else:
            action.unread = False
        elapsed = self._clock() - action.started
        timeout = self._limits.timeout(move)
        if progress.state is MigrationState.DONE:
            round_.end(action.position, ActionStatus.SUCCEEDED)
        elif progress.state is MigrationState.FAILED:
            if action.aborting is None:
                round_.end(action.position, ActionStatus.FAILED,
                           progress.reason or 'failed', Cause.NOVA)
            else:
                round_.end(action.position, ActionStatus.FAILED,
                           _ABORTED[action.aborting], action.aborting)
        elif elapsed >= 2 * timeout and action.unread:
            # Whether nova ended it is not known: not the guest's doing.
            round_.end(action.position, ActionStatus.FAILED,
                       f'nova\'s API did not say how it ended in '
                       f'{elapsed:.0f} s', Cause.NOVA_UNAVAILABLE)
        elif elapsed >= 2 * timeout:
            cause = action.aborting or Cause.TIMED_OUT
            round_.end(action.position, ActionStatus.FAILED,
                       f'{_ABORTED[cause]}; nova did not end it in '
                       f'{elapsed:.0f} s', cause)
        elif action.aborting is None and (elapsed >= timeout
                                          or cancel.is_set()):
            action.aborting = (Cause.TIMED_OUT if elapsed >= timeout
                               else Cause.ABORT_REQUESTED)
            self._abort(round_, action)

    def _abort(self, round_: _Round, action: _Running) -> None:
        move = action.move
        why = _ABORTED[action.aborting]
        try:
            self._migrator.abort(move.instance)
        except MigrationError as exc:
            LOG.warning('Plan %s move %d (%s): %s, and nova cannot abort '
                        'it (%s); watching it to its end', round_.plan_id,
                        action.position, move.instance, why, exc)
            return
        LOG.warning('Plan %s move %d (%s): %s; asked nova to abort it',
                    round_.plan_id, action.position, move.instance, why)
