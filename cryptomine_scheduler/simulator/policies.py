"""The placement policies compared, each as its documentation describes.

* ``nova-spread``: nova's default weighing, the RAMWeigher (most free
  RAM, as the flavors allocate it) with multiplier 1.0.
* ``nova-metrics``: nova's default weighers plus the MetricsWeigher with
  ``[metrics] weight_setting = cpu.percent=-1.0``: the RAM and metrics
  weights, each normalised over the candidate hosts to 0-1 (all equal:
  all 0) and summed.  ``cpu.percent`` is the compute monitor's last
  reading, which boots do not change until the host reports again.
* ``load-aware``: our LoadAwareFilter and LoadAwareWeigher: each host
  judged with the guest on it (the load model of
  :mod:`cryptomine_scheduler.placement.scoring` on the controller's
  summaries, the pending-boot credit and the guest's expected load),
  refused as the filter refuses
  (:func:`~cryptomine_scheduler.placement.scoring.refusal`: the
  accelerator kind, hardware safety, and the CPU and memory thresholds
  under ``overload_policy = hard``, and a burst host's cost against the
  flavor's margin, which no trace gives), the best score winning: the
  operator's own hosts within the thresholds first, then burst hosts
  within them, cheapest first, then the hosts over a threshold.
* ``load-aware-replan``: the same, plus our re-planner
  (:mod:`cryptomine_scheduler.planning`) every re-plan interval, whose
  cost of an instance on a burst host brings instances home first.
* ``burst-aware``: ``load-aware-replan`` with the controller's burst
  loop: a burst host empty for ``release_after`` is released (no boot
  goes there), and a released one is rented again (the operator's
  provisioning enables it) for a boot that no host in use can take
  within the thresholds, the one our weigher ranks first among all, or
  for a move the re-planner chose (its burst cost per instance makes
  that one that pays).
* ``watcher``: nova-spread at boot, then an audit every re-plan interval
  of Watcher's workload_stabilization strategy as its code runs it
  (:mod:`.watcher`: CPU only, threshold 0.1, a random destination per
  instance, every improving move in one audit), each move asked of nova,
  which refuses those it would not make (no room, a device, a move in
  flight, a host of another kind).
* ``watcher-balance`` (on request): the same with Watcher's
  workload_balance strategy (one move per audit).
* ``watcher-real`` and ``watcher-balance-real`` (on request, with
  python-watcher installed): python-watcher's own strategy classes on a
  model and a datasource of the simulator's state
  (:mod:`.watcher_real`), their moves asked of nova likewise.

nova's policies and Watcher know no tiers: burst hosts are hosts to
them.  Ties go to the host listed first, as nova keeps the order of equal
weights.
"""

import abc
import importlib.util
import math
import random

import numpy as np

from cryptomine_scheduler.conf.scheduler import OVERLOAD_HARD
from cryptomine_scheduler.history import flavor_loads
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.planning import heuristic
from cryptomine_scheduler.planning import inputs
from cryptomine_scheduler.planning import problem as problem_mod
from cryptomine_scheduler.replan import cluster as cluster_mod
from cryptomine_scheduler.simulator import fleet as fleet_mod
from cryptomine_scheduler.simulator import watcher
from cryptomine_scheduler.simulator.engine import Migration
from cryptomine_scheduler.simulator.engine import Settings
from cryptomine_scheduler.simulator.engine import SimulationError
from cryptomine_scheduler.simulator.engine import World


def _normalised(values: np.ndarray) -> np.ndarray:
    """nova's weight normalisation: min to 0, max to 1, all equal to 0."""
    low, high = values.min(), values.max()
    if high == low:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def _best(weights: np.ndarray, room: np.ndarray) -> int:
    """The candidate with the highest weight, the first one on ties."""
    candidates = np.flatnonzero(room)
    return int(candidates[np.argmax(weights[candidates])])


class Policy(abc.ABC):
    """Places booting instances; may move them on re-plan steps."""

    name = ''
    uses_history = False
    replans = False
    #: Releases idle burst hosts (:meth:`.engine.World.release_idle`).
    releases = False
    #: Compared only when named (:func:`defaults`).
    on_request = False

    def __init__(self, settings: Settings):
        self.settings = settings

    @abc.abstractmethod
    def place(self, world: World, instance: int,
              room: np.ndarray) -> int | None:
        """The host ``instance`` boots on, among the hosts of ``room``;
        None when the policy's filter refuses them all (NoValidHost)."""

    def replan(self, world: World) -> None:
        """Start migrations; called only when ``replans`` is set."""
        raise NotImplementedError(f'{self.name} does not re-plan')


class NovaSpread(Policy):
    name = 'nova-spread'

    def ram_weights(self, world: World, room: np.ndarray) -> np.ndarray:
        free = world.memory_mb - world.allocated[:, 1]
        weights = np.zeros(len(free))
        weights[room] = _normalised(free[room])
        return weights

    def place(self, world, instance, room):
        return _best(self.ram_weights(world, room), room)


class NovaMetrics(NovaSpread):
    name = 'nova-metrics'

    def place(self, world, instance, room):
        weights = self.ram_weights(world, room)
        weights[room] += _normalised(-world.last_cpu_percent[room])
        return _best(weights, room)


class LoadAware(Policy):
    """LoadAwareFilter and LoadAwareWeigher on the step's snapshot.

    A host's estimate without credit is computed once per step; the boots
    of the step add their expected load to their host's credit.  With
    ``learn_loads`` the expected load is learned per flavor as the
    controller learns it: each placed instance's first step is its load
    at the end of its warm-up.
    """

    name = 'load-aware'
    uses_history = True

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self._step = -1
        self._estimates: list[scoring.Estimate] = []
        self._credit: np.ndarray = np.zeros((0, 2))
        self._learned = flavor_loads.FlavorLoads()
        self._table: flavor_loads.Table = {}
        #: Per instance: observed yet, and its first step (set on the
        #: first step, when the trace is known).
        self._observed: np.ndarray | None = None
        self._boot_step: np.ndarray | None = None

    def _learn(self, world: World) -> None:
        """Observe the instances placed before this step, once each."""
        trace = world.trace
        if self._observed is None:
            self._observed = np.zeros(len(trace.instances), dtype=bool)
            self._boot_step = np.argmax(trace.alive, axis=1)
        warm = ((world.host_of >= 0) & ~self._observed
                & (self._boot_step < world.step))
        for i in np.flatnonzero(warm):
            self._learned.observe(
                _flavor_key(world, i), None,
                trace.cpu[i, self._boot_step[i]] / trace.vcpus[i] * 100.0)
        self._observed |= warm

    def _expected_percent(self, world: World, instance: int) -> float:
        """The load a booting instance counts for, % of its vCPUs."""
        if self.settings.learn_loads:
            learned = flavor_loads.expected(
                self._table, _flavor_key(world, instance), None)
            if learned is not None:
                return learned
        return self.settings.expected_load_percent

    def _start_step(self, world: World) -> None:
        if self.settings.learn_loads:
            self._learn(world)
            self._table = self._learned.wire()
        snap = world.snapshot()
        self._step = world.step
        self._estimates = [
            scoring.estimate(snap.hosts[name], self.settings.risk_factor)
            for name in world.fleet.names]
        self._credit = np.zeros((len(self._estimates), 2))
        self._busy_gpus = np.zeros(len(self._estimates), dtype=int)

    def _guest(self, world: World, instance: int) -> np.ndarray:
        """The cores and MiB a booting instance counts for."""
        return np.array([world.flavor[instance, 0]
                         * self._expected_percent(world, instance) / 100.0,
                         world.flavor[instance, 1]])

    def choose(self, world: World, instance: int,
               room: np.ndarray) -> tuple[int | None, float]:
        """The host of ``room`` our filter passes and weigher ranks
        first for ``instance``, and how far over the CPU or memory
        threshold it would be (:func:`~cryptomine_scheduler.placement.scoring.
        overage`, 0 within them); (None, inf) when the filter refuses
        them all."""
        if world.step != self._step:
            self._start_step(world)
        s = self.settings
        demand = scoring.Demand(world.trace.accelerators[instance],
                                s.accelerator_penalty)
        guest = self._guest(world, instance)
        best, best_score, best_over = None, -math.inf, math.inf
        for host in np.flatnonzero(room):
            cores, megabytes = self._credit[host] + guest
            est = scoring.with_busy_gpus(scoring.with_load(
                self._estimates[host], cores / world.vcpus[host] * 100.0,
                megabytes / world.memory_mb[host] * 100.0),
                int(self._busy_gpus[host]))
            cost = world.burst_cost[host]
            if scoring.refusal(est, s.thresholds, demand,
                               s.overload_policy == OVERLOAD_HARD,
                               burst_cost=cost):
                continue
            over = scoring.overage(est, s.thresholds)
            score = scoring.score(est, s.weights, demand, over,
                                  burst_cost=cost)
            if score > best_score:  # the first one on ties
                best, best_score, best_over = int(host), score, over
        return best, best_over

    def _credited(self, world: World, instance: int,
                  host: int | None) -> int | None:
        """``host``, where ``instance`` boots: its load now counts
        there until the next step's snapshot."""
        if host is not None:
            self._credit[host] += self._guest(world, instance)
            self._busy_gpus[host] += (world.trace.accelerators[instance]
                                       is scoring.Accelerator.GPU)
        return host

    def place(self, world, instance, room):
        return self._credited(world, instance,
                              self.choose(world, instance, room)[0])


class LoadAwareReplan(LoadAware):
    """:class:`LoadAware`, and the re-planner on every re-plan step.

    ``planner_seconds`` are the heuristic's own times (the rest of a
    round builds the snapshot and the problem).
    """

    name = 'load-aware-replan'
    replans = True

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.planner_seconds: list[float] = []

    def replan(self, world):
        s = self.settings
        model = inputs.LoadModel(
            risk_factor=s.risk_factor, thresholds=s.thresholds,
            weights=s.weights, stale_after=2 * world.trace.step)
        policy = inputs.Policy(
            limits=problem_mod.Limits(max_moves=s.max_moves,
                                      min_gain=s.min_gain),
            cooldown=s.cooldown,
            reserve_accelerator_hosts=s.reserve_accelerator_hosts,
            # As the controller: learned from the cold moves made.
            cold_downtime=inputs.cold_downtime(
                [m.end - m.start for m in world.migrations
                 if m.cold and m.end <= world.now],
                inputs.Policy.cold_downtime))
        cluster = cluster_mod.Cluster(world.compute_hosts, world.servers())
        problem = inputs.build(cluster, world.snapshot(), model, policy,
                               world.now, world.last_moved)
        plan = heuristic.plan(problem)
        self.planner_seconds.append(plan.seconds)
        index = {name: i for i, name in enumerate(world.trace.instances)}
        hosts = {name: h for h, name in enumerate(world.fleet.names)}
        started: list[Migration | None] = []
        for move in plan.moves:
            after = tuple(started[k] for k in move.after)
            # As the executor: a move waiting on one nova refused is
            # skipped.
            started.append(None if None in after else world.migrate(
                index[move.instance], hosts[move.destination], after=after))


class BurstAware(LoadAwareReplan):
    """:class:`LoadAwareReplan` with the controller's burst loop
    (module docstring)."""

    name = 'burst-aware'
    releases = True

    def place(self, world, instance, room):
        best, over = self.choose(world, instance, room & ~world.released)
        if best is None or over > 0:
            best, _ = self.choose(world, instance, room)
            if best is not None and world.released[best]:
                world.rent(best)
        return self._credited(world, instance, best)

    def replan(self, world):
        started = len(world.migrations)
        super().replan(world)
        for move in world.migrations[started:]:
            if world.released[move.destination]:
                world.rent(move.destination)


class Watcher(NovaSpread):
    """Watcher's workload_stabilization audit (module docstring)."""

    name = 'watcher'
    replans = True
    #: The samples an audit reads, in seconds.
    period = max(watcher.INSTANCE_PERIOD, watcher.NODE_PERIOD)

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.rng = random.Random(settings.watcher_seed)

    def audit(self, cluster: watcher.Cluster) -> list[watcher.Move]:
        """The migrations of one audit, in order."""
        return watcher.stabilization(
            cluster, self.settings.watcher_threshold, self.rng)

    def replan(self, world):
        watcher.apply(world, self.audit(watcher.cluster(world,
                                                        self.period)))


class WatcherBalance(Watcher):
    """Watcher's workload_balance audit (module docstring)."""

    name = 'watcher-balance'
    on_request = True
    period = watcher.BALANCE_PERIOD

    def audit(self, cluster):
        return watcher.balance(cluster, watcher.BALANCE_THRESHOLD)


def _watcher_real():
    """:mod:`.watcher_real`, which needs python-watcher."""
    if importlib.util.find_spec('watcher') is None:
        raise SimulationError(
            "the watcher-real policies run python-watcher's strategies; "
            "install it: pip install 'cryptomine-scheduler[watcher]'")
    try:
        from cryptomine_scheduler.simulator import watcher_real
    except ImportError as exc:  # eventlet forbidden, as in nova's tests
        raise SimulationError(f'python-watcher cannot load: {exc}') from exc
    return watcher_real


class WatcherReal(Watcher):
    """python-watcher's own workload_stabilization (module docstring)."""

    name = 'watcher-real'
    on_request = True

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.strategies = _watcher_real()

    def audit(self, cluster):
        return self.strategies.stabilization(
            cluster, self.settings.watcher_threshold, self.rng)


class WatcherBalanceReal(WatcherBalance):
    """python-watcher's own workload_balance (module docstring)."""

    name = 'watcher-balance-real'

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.strategies = _watcher_real()

    def audit(self, cluster):
        return self.strategies.balance(cluster, watcher.BALANCE_THRESHOLD)


POLICIES = {p.name: p for p in (NovaSpread, NovaMetrics, LoadAware,
                                LoadAwareReplan, Watcher, BurstAware,
                                WatcherBalance, WatcherReal,
                                WatcherBalanceReal)}


def defaults(fleet: fleet_mod.Fleet) -> list[str]:
    """The policies compared unless asked: all of them but those on
    request, less ``burst-aware`` on a fleet without burst hosts (where
    it is ``load-aware-replan``)."""
    return [name for name, policy in POLICIES.items()
            if not policy.on_request
            and (fleet.burst.any() or not policy.releases)]


def _flavor_key(world: World, instance: int) -> str:
    """What the controller learns loads under: the flavor (size and
    accelerator; a trace has no flavor names)."""
    kind = world.trace.accelerators[instance]
    vcpus, memory_mb = world.flavor[instance]
    return f'{vcpus:g}:{memory_mb:g}:{kind.value if kind else "any"}'
