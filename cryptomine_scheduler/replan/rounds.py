"""The re-planner: plan the placement, record it, and carry it out.

One round: read the cluster (nova) and the load snapshot (this
controller's summaries), build the planning problem with the weigher's
load model, plan with the heuristic, store the plan and its moves, and,
unless it is a dry run, hand the moves to the executor in a background
thread.  Only one round runs at a time across all controllers: the round
holds a tooz lock from planning to its last migration.  The lock lives as
long as its holder's session (etcd: a lease that its heartbeat renews);
the controller that takes it after a holder died settles the dead round
from nova's state before it plans.
"""

import collections
import dataclasses
import threading
import time
import uuid
from collections.abc import Callable
from collections.abc import Mapping

from oslo_config import cfg
from oslo_log import log as logging
from tooz import coordination

from cryptomine_scheduler import exception
from cryptomine_scheduler.db import plans as plans_mod
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.planning import efficacy as efficacy_mod
from cryptomine_scheduler.planning import heuristic
from cryptomine_scheduler.planning import inputs
from cryptomine_scheduler.planning import problem as problem_mod
from cryptomine_scheduler.replan import cluster as cluster_mod
from cryptomine_scheduler.replan import executor as executor_mod
from cryptomine_scheduler.replan import maintenance_windows

LOG = logging.getLogger(__name__)
LOCK_NAME = b'cryptomine-replan'
#: Seconds a stopping controller waits for its running migrations.
STOP_GRACE = 30.0
INTERVAL = 'interval'
#: Seconds over which ``[replan] max_moves_per_day`` counts.
DAY = 86400.0
#: Seconds of recorded migrations their expected cold downtime and the
#: guests' copy factors are learned from.
WEEK = 7 * DAY
#: What a migration nova ended makes of its action.
_ENDED = {
    executor_mod.MigrationState.DONE: executor_mod.ActionStatus.SUCCEEDED,
    executor_mod.MigrationState.FAILED: executor_mod.ActionStatus.FAILED,
}
OPERATOR = 'operator'
#: The trigger of an operator's drain of a host.
DRAIN = 'drain'
#: The disabled reason a drain gives the host's nova-compute service.
DRAIN_REASON = 'cryptomine: drained by plan {plan_id}'


def load_model(conf: cfg.ConfigOpts) -> inputs.LoadModel:
    """The weigher's load model from the ``[cryptomine]`` group."""
    c = conf.cryptomine
    return inputs.LoadModel(
        risk_factor=c.risk_factor,
        thresholds=scoring.Thresholds.from_opts(c),
        weights=scoring.Weights.from_opts(c),
        stale_after=c.stale_after,
        default_load_percent=c.default_expected_load_percent)


def in_aggregate(found: cluster_mod.Cluster,
                 aggregate: str) -> cluster_mod.Cluster:
    """The part of the cluster in host aggregate ``aggregate``."""
    hosts = tuple(h for h in found.hosts if aggregate in h.aggregates)
    if not hosts:
        raise exception.UnknownAggregate(
            f'no compute host in aggregate {aggregate!r}')
    names = {h.name for h in hosts}
    return dataclasses.replace(
        found, hosts=hosts,
        servers=tuple(s for s in found.servers if s.host in names))


def _on(found: cluster_mod.Cluster, host: str) -> int:
    """How many instances nova has on ``host``, which it must know."""
    if host not in {h.name for h in found.hosts}:
        raise exception.UnknownHost(f'no compute host {host!r} in nova')
    return sum(s.host == host for s in found.servers)


def _as_balance(problem: problem_mod.Problem, result: heuristic.Plan,
                drain: str) -> heuristic.Plan:
    """A drain's plan with the efficacy and gains of its moves as the
    fleet's balance sees them, without the cost the drain put on staying
    (its moves are the point, not a gain)."""
    cost = problem.host_cost.copy()
    cost[problem.hosts.index(drain)] -= inputs.DRAIN_HOST_COST
    plain = dataclasses.replace(problem, host_cost=cost)
    return dataclasses.replace(
        result, efficacy=efficacy_mod.efficacy(plain, result.placement),
        moves=tuple(dataclasses.replace(
            m, gain=m.gain - inputs.DRAIN_HOST_COST) for m in result.moves))


class PlanningLock:
    """One round at a time: in this process, and through tooz across
    controllers when ``coordination_url`` is set (the tooz lock
    ``name``)."""

    def __init__(self, url: str | None, member: str,
                 name: bytes = LOCK_NAME):
        self._local = threading.Lock()
        self._coordinator = None
        self._lock = None
        self._name = name
        if url:
            self._coordinator = coordination.get_coordinator(
                url, member.encode())

    def start(self) -> None:
        if self._coordinator is not None:
            self._coordinator.start(start_heart=True)
            self._lock = self._coordinator.get_lock(self._name)

    def stop(self) -> None:
        if self._coordinator is not None:
            self._coordinator.stop()

    def acquire(self) -> bool:
        """Take the lock if free; False if held (or the backend fails)."""
        if not self._local.acquire(blocking=False):
            return False
        try:
            if self._lock is None or self._lock.acquire(blocking=False):
                return True
        except coordination.ToozError:
            LOG.exception('Coordination backend failed; not planning')
        self._local.release()
        return False

    def release(self) -> None:
        try:
            if self._lock is not None:
                self._lock.release()
        except coordination.ToozError:
            LOG.exception('Coordination backend failed releasing the '
                          'planning lock (it expires with the session)')
        finally:
            self._local.release()


@dataclasses.dataclass
class _Round:
    plan_id: str
    #: Start no further move (a shutdown, or an operator's abort).
    stop: threading.Event
    #: Abort the running migrations too (an operator's abort).
    cancel: threading.Event = dataclasses.field(
        default_factory=threading.Event)
    thread: threading.Thread | None = None


class Replanner:
    """Plans on demand (RPC) and every ``[replan] interval`` seconds.

    ``cluster_source`` reads the cluster from nova and ``migrator``
    moves instances; without them this controller cannot plan or move
    (:class:`~cryptomine_scheduler.exception.ReplanUnavailable`).
    ``disable_service`` disables a host's nova-compute service with a
    reason (False where it was disabled already): a drain needs it.
    """

    def __init__(self, conf: cfg.ConfigOpts, plans: plans_mod.PlanStore,
                 tracker: snapshot.LoadTracker,
                 cluster_source: Callable[[], cluster_mod.Cluster] | None,
                 migrator: executor_mod.Migrator | None, metrics,
                 clock: Callable[[], float] = time.time,
                 disable_service: Callable[[str, str], bool] | None = None):
        self.conf = conf
        self.plans = plans
        self._tracker = tracker
        self._cluster_source = cluster_source
        self._migrator = migrator
        self._disable_service = disable_service
        self._metrics = metrics
        self._clock = clock
        self._lock = PlanningLock(conf.replan.coordination_url, conf.host)
        self._round: _Round | None = None
        self._started = threading.Event()
        self._stopping = threading.Event()
        self._timer = threading.Thread(target=self._every_interval,
                                       name='cryptomine-replan', daemon=True)

    @staticmethod
    def _spent(found: cluster_mod.Cluster, budget: float,
               by_instance: Callable[[], dict[str, float]]
               ) -> frozenset[str]:
        """The tenants whose instances of ``found`` together reached
        ``budget`` of what ``by_instance`` counts per instance (nothing
        is counted for a budget of 0: none)."""
        if not budget:
            return frozenset()
        counted = by_instance()
        spent: dict[str, float] = collections.defaultdict(float)
        for server in found.servers:
            if server.project is not None:
                spent[server.project] += counted.get(server.uuid, 0.0)
        return frozenset(p for p, total in spent.items() if total >= budget)

    def _policy(self, max_moves: int | None, now: float,
                found: cluster_mod.Cluster, drain: str | None = None,
                cold: bool = False) -> inputs.Policy:
        """The configured policy; for a drain of host ``drain``, every
        instance on it may move (``cold``: those that cannot live-migrate
        too, now, whatever the windows and budgets of cold moves)."""
        r = self.conf.replan
        if drain is not None:
            on_host = _on(found, drain)
            max_moves = on_host if max_moves is None else max_moves
        policy = inputs.Policy(
            limits=problem_mod.Limits(
                max_moves=r.max_moves if max_moves is None else max_moves,
                min_gain=r.min_gain,
                migration_cost_per_gb=r.migration_cost_per_gb,
                planning_budget=r.planning_budget),
            cooldown=r.cooldown, allow_cold_migration=r.allow_cold_migration,
            reserve_accelerator_hosts=r.reserve_accelerator_hosts,
            cold_window_open=maintenance_windows.open_at(
                tuple(r.cold_migration_windows), now),
            downtime_spent=self._spent(
                found, r.cold_downtime_per_tenant,
                lambda: self.plans.cold_downtime(now - DAY)),
            moves_spent=self._spent(
                found, r.max_moves_per_tenant,
                lambda: self.plans.moves_by_instance(now - DAY)),
            failed_today=frozenset(
                instance for instance, failed in
                self.plans.failures_by_instance(now - DAY).items()
                if failed >= r.max_failures_per_instance),
            cold_downtime=inputs.cold_downtime(
                self.plans.cold_migration_seconds(now - WEEK),
                r.cold_migration_downtime),
            copy_factors=inputs.copy_factors(
                inputs.LiveMigration(*row) for row in
                self.plans.live_migrations(now - WEEK)),
            drain=drain)
        if cold:
            policy = dataclasses.replace(
                policy, allow_cold_migration=True, cold_window_open=True,
                downtime_spent=frozenset())
        return policy

    def create(self, *, trigger: str, dry_run: bool, execute: bool,
               max_moves: int | None = None,
               aggregate: str | None = None, drain: str | None = None,
               cold: bool = False, disable: bool = False) -> dict:
        """Plan now; with ``execute``, start moving in the background.
        With ``drain``, the plan empties that host (:meth:`_policy`);
        ``disable`` disables its nova-compute service first, so that nova
        places nothing new there, unless it is disabled already
        (``disabled_host`` in the plan returned says whether this round
        did).

        Returns the stored plan.  Raises :class:`~cryptomine_scheduler.
        exception.ReplanBusy` while another round runs,
        :class:`~cryptomine_scheduler.exception.ReplanUnavailable` without
        nova, :class:`~cryptomine_scheduler.exception.UnknownHost` for a
        drain of a host nova does not have,
        :class:`~cryptomine_scheduler.exception.NovaUnavailable` where
        nova does not disable the host (then nothing moves).
        """
        if cold and drain is None:
            raise exception.BadArgument('cold moves are for a drain only')
        if disable and (drain is None or dry_run or not execute):
            raise exception.BadArgument(
                'disabling a host is for a drain carried out only')
        if self._cluster_source is None or (execute and
                                            self._migrator is None) or (
                disable and self._disable_service is None):
            raise exception.ReplanUnavailable(
                'this controller has no nova API configured ([nova_api])')
        if not self._started.is_set() or self._stopping.is_set():
            raise exception.ReplanBusy(
                'the controller is starting or stopping')
        if not self._lock.acquire():
            raise exception.ReplanBusy('another re-plan round is running')
        try:
            self._settle_orphans()
            plan_id, moves, stopped, disabled = self._plan(
                trigger, dry_run, execute, max_moves, aggregate,
                drain, cold, disable)
            if execute and moves:
                self._start_round(plan_id, moves, stopped)
        except BaseException:
            self._lock.release()
            raise
        if not (execute and moves):
            self._lock.release()
        return {**self.plans.get(plan_id), 'disabled_host': disabled}

    def _settle_orphans(self) -> None:
        """Close the rounds that controllers which died holding the lock
        left running, from nova's state; raise
        :class:`~cryptomine_scheduler.exception.ReplanBusy` while one of
        their migrations still runs.

        Holding the lock, this controller knows that no other one is in
        a round: another's plan still running is an orphan.  A migration
        nova finished is recorded as succeeded, one that failed as
        failed; the moves not started are aborted.
        """
        if self._migrator is None:
            return
        for plan_id in self.plans.running_elsewhere(self.conf.host):
            plan = self.plans.get(plan_id)
            if self._record_ended_migrations(plan):
                raise exception.ReplanBusy(f'plan {plan_id} of controller '
                                 f'{plan["controller"]}, which stopped, '
                                 f'still has migrations running')
            why = f'controller {plan["controller"]} stopped during the round'
            self.plans.close_open_actions(
                plan_id, executor_mod.ActionStatus.ABORTED.value, why,
                plans_mod.ActionCause.CONTROLLER_STOPPED)
            counts = collections.Counter(
                executor_mod.ActionStatus(a['status'])
                for a in self.plans.get(plan_id)['actions'])
            self.plans.set_status(plan_id, final_status(counts), why)
            LOG.warning('Plan %s closed from nova\'s state: %s', plan_id,
                        why)

    def _record_ended_migrations(self, plan: dict) -> bool:
        """Record the plan's migrations that nova ended; True if one
        still runs."""
        running = False
        for action in plan['actions']:
            if action['status'] != executor_mod.ActionStatus.RUNNING.value:
                continue
            progress = self._migrator.progress(
                action['instance'], action['source'], action['destination'])
            status = _ENDED.get(progress.state)
            if status is None:
                running = True
            else:
                failed = status is executor_mod.ActionStatus.FAILED
                self.plans.action_finished(
                    plan['id'], action['position'], status, progress.reason,
                    plans_mod.ActionCause.NOVA if failed else None)
        return running

    def _disable_drained(self, host: str, plan_id: str) -> bool:
        """Disable ``host``'s nova-compute service for the drain of plan
        ``plan_id``; whether it was enabled until now."""
        try:
            disabled = self._disable_service(
                host, DRAIN_REASON.format(plan_id=plan_id))
        except Exception as exc:
            LOG.exception('Disabling nova-compute on %s failed', host)
            raise exception.NovaUnavailable(
                f'disabling nova-compute on {host} failed, so nothing '
                f'moved: {exc}') from exc
        LOG.info('Drain %s: nova-compute on %s %s', plan_id, host,
                 'disabled' if disabled else 'was disabled already')
        return disabled

    def _plan(self, trigger, dry_run, execute, max_moves, aggregate,
              drain, allow_cold, disable):
        started = time.perf_counter()
        try:
            found = self._cluster_source()
        except Exception as exc:
            LOG.exception('Reading the cluster from nova failed')
            raise exception.NovaUnavailable(
                f'reading the cluster from nova failed: {exc}') from exc
        if aggregate:
            found = in_aggregate(found, aggregate)
        now = self._clock()
        policy = self._policy(max_moves, now, found, drain, allow_cold)
        plan_id = str(uuid.uuid4())
        disabled = disable and self._disable_drained(drain, plan_id)
        snap = snapshot.LoadSnapshot.from_wire(self._tracker.snapshot(now))
        problem = inputs.build(found, snap, load_model(self.conf), policy,
                               now, self.plans.last_moved(
                                   now - policy.cooldown))
        result = heuristic.plan(problem)
        if drain is not None:
            result = _as_balance(problem, result, drain)
        seconds = time.perf_counter() - started
        unmigratable = {s.uuid for s in found.servers if s.moves_cold}
        cold = frozenset(m.instance for m in result.moves
                         if m.instance in unmigratable)
        if not result.moves:
            status = plans_mod.PlanStatus.NOTHING_TO_DO
        elif execute and not dry_run:
            status = plans_mod.PlanStatus.RUNNING
        else:
            status = plans_mod.PlanStatus.PLANNED
        self.plans.create(
            plan_id, trigger=trigger, controller=self.conf.host,
            dry_run=dry_run, status=status, planning_seconds=seconds,
            efficacy=result.efficacy.to_dict(),
            pinned=dict(collections.Counter(
                r.value for r in problem.pinned.values())),
            moves=result.moves, cold=cold)
        self._metrics.plan_finished(status.value, seconds)
        LOG.info('Plan %s (%s%s): %d moves, objective %.4f -> %.4f, '
                 'planned in %.2f s', plan_id, trigger,
                 ', dry run' if dry_run else '', len(result.moves),
                 result.efficacy.before.objective,
                 result.efficacy.after.objective, seconds)
        moves = result.moves if (execute and not dry_run) else ()
        return plan_id, moves, cold, disabled

    def _start_round(self, plan_id, moves, cold) -> None:
        stop = threading.Event()
        current = _Round(plan_id, stop)
        current.thread = threading.Thread(
            target=self._execute, args=(current, moves, cold),
            name=f'cryptomine-round-{plan_id[:8]}', daemon=True)
        self._round = current
        current.thread.start()

    def _execute(self, current: _Round, moves, cold) -> None:
        r = self.conf.replan
        executor = executor_mod.Executor(
            self._migrator, _MeteredRecorder(
                self.plans, self._metrics, self._clock,
                tuple('cold' if move.instance in cold else 'live'
                      for move in moves)),
            executor_mod.Limits(
                max_parallel=r.max_parallel,
                max_parallel_per_host=r.max_parallel_per_host,
                migration_timeout=r.migration_timeout,
                migration_timeout_per_gib=r.migration_timeout_per_gib,
                max_failures=r.max_failures,
                poll_interval=r.migration_poll_interval))
        try:
            outcome = executor.run(current.plan_id, moves, cold,
                                   current.stop, current.cancel)
            self.plans.set_status(current.plan_id,
                                  final_status(outcome.counts))
        except Exception as exc:
            LOG.exception('Plan %s stopped by an error', current.plan_id)
            error = f'round stopped by an error: {exc}'
            self.plans.close_open_actions(current.plan_id, 'failed', error,
                                          plans_mod.ActionCause.ROUND_ERROR)
            self.plans.set_status(current.plan_id,
                                  plans_mod.PlanStatus.FAILED, error)
        finally:
            self._lock.release()

    def abort(self, plan_id: str) -> dict:
        """Start no further move of ``plan_id`` and abort its running
        migrations in nova; return the plan.

        Raises :class:`~cryptomine_scheduler.exception.NotRunningHere`
        when the plan is running on another controller (the client asks
        the one that owns it).
        """
        plan = self.plans.get(plan_id)
        current = self._round
        if current is not None and current.plan_id == plan_id:
            current.cancel.set()
            current.stop.set()
            LOG.info('Plan %s: abort requested', plan_id)
        elif plan['status'] == plans_mod.PlanStatus.RUNNING.value:
            raise exception.NotRunningHere(
                f'plan {plan_id} runs on controller {plan["controller"]!r}, '
                f'not on {self.conf.host!r}')
        return plan

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the running round, if any, to end."""
        current = self._round
        if current is not None and current.thread is not None:
            current.thread.join(timeout)

    def _left_today(self) -> int | None:
        """Moves a periodic round may plan under ``max_moves_per_day``
        (None: ``max_moves``)."""
        r = self.conf.replan
        if not r.max_moves_per_day:
            return None
        started = self.plans.moves_started(self._clock() - DAY)
        left = max(0, r.max_moves_per_day - started)
        if left < r.max_moves:
            LOG.info('Periodic re-plan: %d of max_moves_per_day = %d '
                     'started in the last 24 h; this round plans at most '
                     '%d', started, r.max_moves_per_day, left)
        return min(r.max_moves, left)

    def _every_interval(self) -> None:
        interval = self.conf.replan.interval
        while not self._stopping.wait(interval):
            try:
                self.create(trigger=INTERVAL, dry_run=self.conf.replan.dry_run,
                            execute=not self.conf.replan.dry_run,
                            max_moves=self._left_today())
            except exception.ReplanBusy:
                LOG.info('Periodic re-plan skipped: another round runs')
            except Exception:
                LOG.exception('Periodic re-plan failed; next in %d s',
                              interval)

    def start(self) -> None:
        closed = self.plans.close_interrupted(self.conf.host)
        if closed:
            LOG.warning('Closed %d plan(s) this controller left running '
                        'when it stopped', closed)
        self._lock.start()
        self._started.set()
        if self.conf.replan.interval:
            self.start_rounds()

    def start_rounds(self) -> None:
        """Re-plan every ``[replan] interval`` seconds from now on
        (:meth:`start` does when the interval is set; once only)."""
        if self._cluster_source is not None and not self._timer.is_alive():
            self._timer.start()

    def stop(self, grace: float = STOP_GRACE) -> None:
        """No new round; the running one starts no new move.

        Waits up to ``grace`` seconds for its running migrations; nova
        finishes those that take longer, and the next start closes the
        plan's rows.
        """
        self._stopping.set()
        if self._timer.is_alive():
            self._timer.join()
        current = self._round
        if current is not None:
            current.stop.set()
        self.wait(grace)
        self._lock.stop()


def final_status(counts: Mapping[executor_mod.ActionStatus, int]
                 ) -> plans_mod.PlanStatus:
    """A finished round's status from its actions' counts."""
    done = counts.get(executor_mod.ActionStatus.SUCCEEDED, 0)
    total = sum(counts.values())
    if done == total:
        return plans_mod.PlanStatus.SUCCEEDED
    if done:
        return plans_mod.PlanStatus.PARTIAL
    if counts.get(executor_mod.ActionStatus.FAILED, 0):
        return plans_mod.PlanStatus.FAILED
    return plans_mod.PlanStatus.ABORTED


class _MeteredRecorder:
    """The plan store as the executor's recorder, counting migrations
    (``how``: each move's, live or cold, by plan position)."""

    def __init__(self, plans: plans_mod.PlanStore, metrics, clock,
                 how: tuple[str, ...]):
        self._plans = plans
        self._metrics = metrics
        self._clock = clock
        self._how = how
        self._started: dict[tuple[str, int], float] = {}

    def action_started(self, plan_id: str, position: int) -> None:
        self._started[plan_id, position] = self._clock()
        self._plans.action_started(plan_id, position)

    def action_finished(self, plan_id: str, position: int, status,
                        error: str | None = None,
                        cause: plans_mod.ActionCause | None = None) -> None:
        self._plans.action_finished(plan_id, position, status, error, cause)
        started = self._started.pop((plan_id, position), None)
        if started is not None:
            self._metrics.migration_finished(
                status.value, self._clock() - started, self._how[position],
                cause and cause.value)
