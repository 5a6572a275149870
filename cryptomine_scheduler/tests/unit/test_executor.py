"""The executor's order, parallelism, skips, aborts and timeouts, with a
scripted migrator (nova's side) and a fake clock."""

import dataclasses
import threading

from oslotest import base

from cryptomine_scheduler.db.plans import ActionCause
from cryptomine_scheduler.planning import heuristic
from cryptomine_scheduler.replan import executor
from cryptomine_scheduler.replan.executor import ActionStatus
from cryptomine_scheduler.tests import recorders

S = ActionStatus
C = ActionCause
POLL = 2.0


class Clock:
    """Time that moves only when the executor sleeps."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclasses.dataclass(frozen=True)
class Script:
    """What nova does with one instance's migration."""

    #: Seconds after the start it ends; None: never.
    seconds: float | None = 5.0
    #: It ends FAILED with this reason.
    fails: str | None = None
    #: The start is refused with this error.
    refused: str | None = None
    #: Its first progress reads fail.
    unreadable: int = 0
    #: Its progress reads fail from this many seconds after the start.
    unreadable_after: float | None = None
    #: Seconds after nova is asked to abort it that it is rolled back;
    #: None: the abort changes nothing.
    rolls_back: float | None = None


class ScriptedMigrator:
    """A migrator that follows each instance's :class:`Script`."""

    def __init__(self, clock: Clock, scripts: dict[str, Script]):
        self.clock = clock
        self.scripts = scripts
        self.started: dict[str, float] = {}
        self.live: dict[str, bool] = {}
        self.reads: dict[str, int] = {}
        self.aborted: dict[str, float] = {}

    def start(self, instance: str, destination: str, live: bool) -> None:
        script = self.scripts.get(instance, Script())
        if script.refused:
            raise executor.MigrationError(script.refused)
        self.started[instance] = self.clock()
        self.live[instance] = live

    def progress(self, instance: str, source: str,
                 destination: str) -> executor.Progress:
        script = self.scripts.get(instance, Script())
        self.reads[instance] = self.reads.get(instance, 0) + 1
        elapsed = self.clock() - self.started[instance]
        if self.reads[instance] <= script.unreadable or (
                script.unreadable_after is not None
                and elapsed >= script.unreadable_after):
            raise executor.MigrationError('503 Service Unavailable', True)
        aborted = self.aborted.get(instance)
        if (aborted is not None and script.rolls_back is not None
                and self.clock() - aborted >= script.rolls_back):
            return executor.Progress(executor.MigrationState.FAILED,
                                     'migration cancelled')
        if script.seconds is None or elapsed < script.seconds:
            return executor.Progress(executor.MigrationState.RUNNING)
        if script.fails:
            return executor.Progress(executor.MigrationState.FAILED,
                                     script.fails)
        return executor.Progress(executor.MigrationState.DONE)

    def abort(self, instance: str) -> None:
        if not self.live[instance]:
            raise executor.MigrationError('nova aborts live migrations only')
        self.aborted[instance] = self.clock()


def move(instance, source, destination, after=()) -> heuristic.Move:
    return heuristic.Move(instance=instance, source=source,
                          destination=destination, memory_mb=2048.0,
                          gain=0.01, after=tuple(after))


class ExecutorTest(base.BaseTestCase):

    def run_moves(self, moves, scripts=None, cold=frozenset(), stop=None,
                  on_start=None, cancel=None, **limits):
        """Run ``moves``; returns (outcome, recorder, migrator)."""
        self.clock = Clock()
        recorder = recorders.ListRecorder(self.clock, on_start)
        migrator = ScriptedMigrator(self.clock, scripts or {})
        limits.setdefault('poll_interval', POLL)
        runner = executor.Executor(migrator, recorder,
                                   executor.Limits(**limits),
                                   clock=self.clock, sleep=self.clock.sleep)
        outcome = runner.run('plan-1', moves, frozenset(cold),
                             stop or threading.Event(), cancel)
        self.assertEqual(len(recorder.calls), sum(
            c.plan_id == 'plan-1' for c in recorder.calls))
        return outcome, recorder, migrator

    def test_all_succeed_within_overall_limit(self):
        moves = [move(f'i{n}', f'src{n}', f'dst{n}') for n in range(5)]
        outcome, recorder, migrator = self.run_moves(moves, max_parallel=2)
        self.assertEqual((S.SUCCEEDED,) * 5, outcome.statuses)
        self.assertEqual([0, 1, 2, 3, 4], recorder.started())
        self.assertEqual((2, 1), recorder.concurrency(moves))
        # Two at a time, each done at its first poll 5 s after its start
        # (polls every 2 s: 6 s): three waves.
        self.assertEqual(18.0, outcome.seconds)
        self.assertEqual({'i0': 0.0, 'i1': 0.0, 'i2': 6.0, 'i3': 6.0,
                          'i4': 12.0}, migrator.started)
        self.assertEqual(5, outcome.counts[S.SUCCEEDED])
        self.assertEqual(0, outcome.counts[S.FAILED])

    def test_per_host_limit_and_plan_order(self):
        # Move 1 leaves the source of move 0 and waits for it; move 2
        # could start at once on its free hosts but keeps the plan order.
        moves = [move('i0', 'a', 'b'), move('i1', 'a', 'c'),
                 move('i2', 'd', 'e')]
        outcome, recorder, migrator = self.run_moves(
            moves, max_parallel=3, max_parallel_per_host=1)
        self.assertEqual((S.SUCCEEDED,) * 3, outcome.statuses)
        self.assertEqual({'i0': 0.0, 'i1': 6.0, 'i2': 6.0},
                         migrator.started)
        self.assertEqual((2, 1), recorder.concurrency(moves))

    def test_per_host_limit_of_two(self):
        moves = [move('i0', 'a', 'b'), move('i1', 'a', 'c'),
                 move('i2', 'a', 'd')]
        _, recorder, migrator = self.run_moves(
            moves, max_parallel=3, max_parallel_per_host=2)
        self.assertEqual({'i0': 0.0, 'i1': 0.0, 'i2': 6.0},
                         migrator.started)
        self.assertEqual((2, 2), recorder.concurrency(moves))

    def test_dependent_move_waits_for_success(self):
        # Move 1 goes into b once move 0 has made room there.
        moves = [move('i0', 'b', 'c'), move('i1', 'a', 'b', after=[0]),
                 move('i2', 'd', 'e')]
        outcome, _, migrator = self.run_moves(
            moves, scripts={'i0': Script(seconds=9.0)}, max_parallel=3)
        self.assertEqual((S.SUCCEEDED,) * 3, outcome.statuses)
        self.assertEqual({'i0': 0.0, 'i1': 10.0, 'i2': 10.0},
                         migrator.started)

    def test_failure_skips_dependents_and_round_goes_on(self):
        moves = [move('i0', 'b', 'c'), move('i1', 'a', 'b', after=[0]),
                 move('i2', 'x', 'b', after=[1]), move('i3', 'd', 'e')]
        outcome, recorder, migrator = self.run_moves(
            moves, scripts={'i0': Script(fails='NoValidHost: c is full')},
            max_parallel=1, max_failures=2)
        self.assertEqual(
            (S.FAILED, S.SKIPPED, S.SKIPPED, S.SUCCEEDED), outcome.statuses)
        finished = recorder.finished()
        self.assertEqual((S.FAILED, 'NoValidHost: c is full', C.NOVA),
                         finished[0])
        self.assertEqual((S.SKIPPED, 'relies on move 0 (i0): failed',
                          C.DEPENDENCY_LOST), finished[1])
        self.assertEqual((S.SKIPPED, 'relies on move 1 (i1): skipped',
                          C.DEPENDENCY_LOST), finished[2])
        self.assertEqual(['i0', 'i3'], sorted(migrator.started))
        self.assertEqual([0, 3], recorder.started())

    def test_max_failures_aborts_the_rest_and_watches_the_running(self):
        moves = [move('i0', 'a', 'b'), move('i1', 'c', 'd'),
                 move('i2', 'e', 'f'), move('i3', 'g', 'h'),
                 move('i4', 'k', 'l')]
        scripts = {'i0': Script(seconds=1.0, fails='boom 0'),
                   'i1': Script(seconds=30.0),
                   'i2': Script(seconds=1.0, fails='boom 2')}
        outcome, recorder, migrator = self.run_moves(
            moves, scripts, max_parallel=2, max_failures=2)
        self.assertEqual(
            (S.FAILED, S.SUCCEEDED, S.FAILED, S.ABORTED, S.ABORTED),
            outcome.statuses)
        self.assertEqual(['i0', 'i1', 'i2'], sorted(migrator.started))
        finished = recorder.finished()
        self.assertEqual((S.ABORTED, 'round stopped after 2 failed moves',
                          C.FAILURE_LIMIT), finished[3])
        # The aborts are recorded when the second failure is seen, before
        # the running migration ends.
        order = [(c.position, c.status) for c in recorder.calls
                 if c.status is not None]
        self.assertEqual([(0, S.FAILED), (2, S.FAILED), (3, S.ABORTED),
                          (4, S.ABORTED), (1, S.SUCCEEDED)], order)
        self.assertEqual(30.0, outcome.seconds)
        self.assertEqual(2, outcome.counts[S.ABORTED])

    def test_refused_start_is_a_failure(self):
        moves = [move('i0', 'a', 'b'), move('i1', 'c', 'd')]
        outcome, recorder, _ = self.run_moves(
            moves, {'i0': Script(refused='409 Conflict: instance locked')},
            max_failures=1)
        self.assertEqual((S.FAILED, S.ABORTED), outcome.statuses)
        self.assertEqual([0], recorder.started())
        self.assertEqual((S.FAILED, '409 Conflict: instance locked', C.NOVA),
                         recorder.finished()[0])
        self.assertEqual(0.0, outcome.seconds)

    def test_timeout_aborts_in_nova_and_holds_the_hosts_until_it_ends(self):
        moves = [move('i0', 'a', 'b'), move('i1', 'a', 'c', after=[0]),
                 move('i2', 'b', 'd')]
        outcome, recorder, migrator = self.run_moves(
            moves, {'i0': Script(seconds=None, rolls_back=5.0)},
            migration_timeout=60.0, max_parallel=3)
        self.assertEqual((S.FAILED, S.SKIPPED, S.SUCCEEDED),
                         outcome.statuses)
        # Polled every 2 s: the first poll at or past 60 s asks nova to
        # abort, the first at or past 65 s sees it rolled back.
        self.assertEqual({'i0': 60.0}, migrator.aborted)
        failed = [c for c in recorder.calls if c.status is S.FAILED]
        self.assertEqual(('timed out', C.TIMED_OUT, 66.0),
                         (failed[0].error, failed[0].cause, failed[0].at))
        # i2 leaves b, where i0 was still arriving: it waits for nova.
        self.assertEqual(66.0, migrator.started['i2'])

    def test_finished_after_the_abort_was_asked_succeeded(self):
        outcome, _, migrator = self.run_moves(
            [move('i0', 'a', 'b')], {'i0': Script(seconds=61.0)},
            migration_timeout=60.0)
        self.assertEqual((S.SUCCEEDED,), outcome.statuses)
        self.assertEqual({'i0': 60.0}, migrator.aborted)

    def test_nova_that_never_ends_it_is_given_up_at_twice_the_timeout(self):
        for cold in (frozenset(), frozenset({'i0'})):  # cold: no abort
            with self.subTest(cold=bool(cold)):
                outcome, recorder, migrator = self.run_moves(
                    [move('i0', 'a', 'b')], {'i0': Script(seconds=None)},
                    cold=cold, migration_timeout=60.0)
                self.assertEqual((S.FAILED,), outcome.statuses)
                failed = recorder.finished()[0]
                self.assertEqual(
                    (S.FAILED, 'timed out; nova did not end it in 120 s',
                     C.TIMED_OUT), failed)
                self.assertEqual({} if cold else {'i0': 60.0},
                                 migrator.aborted)

    def test_a_large_guest_gets_nova_s_time_per_gib(self):
        # 2 GiB at 40 s a GiB is 80 s, more than the 60 s floor.
        outcome, recorder, migrator = self.run_moves(
            [move('i0', 'a', 'b')], {'i0': Script(seconds=None,
                                                  rolls_back=5.0)},
            migration_timeout=60.0, migration_timeout_per_gib=40.0)
        self.assertEqual((S.FAILED,), outcome.statuses)
        self.assertEqual({'i0': 80.0}, migrator.aborted)
        limits = executor.Limits(migration_timeout=60.0,
                                 migration_timeout_per_gib=20.0)
        self.assertEqual(60.0, limits.timeout(move('i0', 'a', 'b')))

    def test_just_before_timeout_succeeds(self):
        outcome, _, _ = self.run_moves(
            [move('i0', 'a', 'b')], {'i0': Script(seconds=58.0)},
            migration_timeout=60.0)
        self.assertEqual((S.SUCCEEDED,), outcome.statuses)

    def test_stop_before_the_round(self):
        stop = threading.Event()
        stop.set()
        moves = [move('i0', 'a', 'b'), move('i1', 'c', 'd')]
        outcome, recorder, migrator = self.run_moves(moves, stop=stop)
        self.assertEqual((S.ABORTED, S.ABORTED), outcome.statuses)
        self.assertEqual({}, migrator.started)
        self.assertEqual((S.ABORTED, 'round stopped on request',
                          C.ROUND_STOPPED), recorder.finished()[1])

    def test_stop_during_the_round_watches_running_moves(self):
        stop = threading.Event()
        moves = [move('i0', 'a', 'b'), move('i1', 'c', 'd'),
                 move('i2', 'e', 'f'), move('i3', 'g', 'h')]

        def stop_at_second(position):
            if position == 1:
                stop.set()
        outcome, recorder, migrator = self.run_moves(
            moves, {'i1': Script(seconds=11.0)}, stop=stop,
            on_start=stop_at_second, max_parallel=3)
        self.assertEqual((S.SUCCEEDED, S.SUCCEEDED, S.ABORTED, S.ABORTED),
                         outcome.statuses)
        self.assertEqual(['i0', 'i1'], sorted(migrator.started))
        self.assertEqual({}, migrator.aborted)  # a shutdown: left to nova
        self.assertEqual(12.0, outcome.seconds)

    def test_cancel_aborts_the_running_moves_in_nova(self):
        cancel, stop = threading.Event(), threading.Event()

        def cancel_at_second(position):
            if position == 1:
                cancel.set()
                stop.set()
        outcome, recorder, migrator = self.run_moves(
            [move('i0', 'a', 'b'), move('i1', 'c', 'd'),
             move('i2', 'e', 'f')],
            {'i1': Script(seconds=11.0, rolls_back=1.0)}, stop=stop,
            cancel=cancel, on_start=cancel_at_second, max_parallel=3)
        # Asked at the next poll (2 s): i0 finished before nova could
        # abort it, i1 was rolled back.
        self.assertEqual({'i0': 2.0, 'i1': 2.0}, migrator.aborted)
        self.assertEqual((S.SUCCEEDED, S.FAILED, S.ABORTED),
                         outcome.statuses)
        self.assertEqual((S.FAILED, 'plan aborted on request',
                          C.ABORT_REQUESTED), recorder.finished()[1])

    def test_cold_instances_are_cold_migrated(self):
        _, _, migrator = self.run_moves(
            [move('i0', 'a', 'b'), move('i1', 'c', 'd')], cold={'i1'})
        self.assertEqual({'i0': True, 'i1': False}, migrator.live)

    def test_unreadable_progress_is_read_again(self):
        outcome, _, migrator = self.run_moves(
            [move('i0', 'a', 'b')], {'i0': Script(unreadable=4)})
        self.assertEqual((S.SUCCEEDED,), outcome.statuses)
        self.assertEqual(5, migrator.reads['i0'])
        self.assertEqual(10.0, outcome.seconds)

    def test_nova_unreadable_to_twice_the_timeout_is_not_a_timeout(self):
        # Aborted at 60 s, then unread from 100 s on.
        outcome, recorder, migrator = self.run_moves(
            [move('i0', 'a', 'b')],
            {'i0': Script(seconds=None, unreadable_after=100.0)},
            migration_timeout=60.0)
        self.assertEqual((S.FAILED,), outcome.statuses)
        self.assertEqual({'i0': 60.0}, migrator.aborted)
        self.assertEqual(
            (S.FAILED, "nova's API did not say how it ended in 120 s",
             C.NOVA_UNAVAILABLE), recorder.finished()[0])

    def test_no_moves(self):
        outcome, recorder, _ = self.run_moves([])
        self.assertEqual((), outcome.statuses)
        self.assertEqual([], recorder.calls)
        self.assertEqual(0.0, outcome.seconds)

    def test_limits_are_checked(self):
        for bad in ({'max_parallel': 0}, {'max_parallel_per_host': 0},
                    {'max_failures': 0}, {'migration_timeout': 0.0},
                    {'migration_timeout_per_gib': -1.0},
                    {'poll_interval': -1.0}):
            with self.subTest(**bad):
                self.assertRaises(ValueError, executor.Limits, **bad)
