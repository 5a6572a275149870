"""Build a :class:`~.problem.Problem` from the cluster and the load snapshot.

The load model is the weigher's
(:mod:`cryptomine_scheduler.placement.scoring`): a host's predicted CPU
and memory are ``max(EWMA, mean) + k * std`` of its history, and an
instance's the same of its own, less the part of a recent rise that the
history says will not last (the payback): a move must pay for itself
over the ``cooldown`` that follows it, so each series counts only the
share of its EWMA above the window's mean expected to remain, on
average, over that horizon.  With ``rho`` the series' lag-1
autocorrelation (0-1) and ``n`` the samples the horizon spans at the
series' sampling rate::

    level = mean + share * max(EWMA - mean, 0) + k * std
    share = mean of rho ** t for t = 1 .. n
          = rho * (1 - rho ** n) / (n * (1 - rho))

A level that persists (rho near 1) counts whole; a spike over noise
(rho near 0) not at all, so no move chases it; an unknown rho counts
whole.  A host whose load data is missing or stale neither gives nor
takes instances; a host that breaks a mining threshold (GPU thermal or
power headroom, ASIC errors, the chassis' inlet temperature or power
budget) may give but not take, and one offers only the free GPUs its
chassis' power budget lets work to their limit (:func:`_gpus_powered`),
counting the GPU guests placed there still warming up.

The mining term (:mod:`.problem`) reads each host's devices as the
weigher does (placement's counts where the controller has them, else
the samples'; a host whose free devices are unknown takes no instance
holding one) and their pressure:

    GPU:  clamp((THERMAL_KNEE_C - thermal headroom) / THERMAL_KNEE_C),
          or the same of the power headroom over POWER_KNEE_PERCENT,
          whichever is higher (headrooms of all the host's GPUs: busy
          ones heat the chassis)
    ASIC: clamp(1 - hashrate against baseline)

so that GPUs with comfortable headroom, however they differ, give no
reason to move.  The host's ASIC pressure is its worst miner's; a guest
that holds a device losing work (its ``device_loss`` in the snapshot: a
miner down or sagging, a GPU throttled) gains ``device_weight *
device_loss`` by moving besides, its move costing that much less, so
that the guest on the sick device is the one that leaves (a dead
miner's guest, which the host's ratio of the miners up leaves out,
too).  A guest that moves cold is stopped for the move, earning
nothing: over the horizon the move must pay for itself in (the
``cooldown``), staying would have earned ``1 - loss`` and moving earns
all but the downtime ``D``, so the move gains ``loss - D / cooldown`` of
the horizon's work and costs ``device_weight * D / cooldown`` (all of it
when ``D`` is the longer).  A rig holding several devices gains and
costs that for each of them, as the mining term counts each.  ``D`` is
the deployment's own: the median of its recent cold migrations
(:func:`cold_downtime`).

A live migration copies the guest's memory, then again the pages the
guest dirtied meanwhile: at a bandwidth ``B`` and a dirty rate ``d`` it
copies about ``B / (B - d)`` times the memory, in that many times the
time, and never ends when ``d`` reaches ``B`` (the executor aborts it at
its timeout).  So a live move costs ``migration_cost_per_gb`` per GiB of
the guest's memory times its *copy factor*: the median time of its own
recorded live migrations against the median of the completed ones of
guests of its memory size (the fixed part of a migration cancels out),
at least 1 (:func:`copy_factors`).  One aborted at its timeout counts
the time it ran, less than it needed: a guest nova could not move once
costs many times more to try again.  A rented burst host costs
BURST_HOST_COST plus BURST_COST_WEIGHT * cost / (cost + 1) per instance
hosted.
"""

import collections
import dataclasses
import math
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np

from cryptomine_scheduler.history import snapshot as snapshot_mod
from cryptomine_scheduler.history.summaries import Stat
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.planning import problem as problem_mod
from cryptomine_scheduler.planning.problem import Pinned
from cryptomine_scheduler.replan import cluster as cluster_mod
from cryptomine_scheduler.telemetry.sample import HostMetric
from cryptomine_scheduler.telemetry.sample import InstanceMetric

#: Headrooms below which GPUs are under pressure (see the docstring).
THERMAL_KNEE_C = 15.0
POWER_KNEE_PERCENT = 10.0
#: Objective cost per instance on a rented burst host: more than
#: ``min_gain`` (0.07), so an instance there comes home once home has
#: room, and a home instance leaves for a burst host only for a gain of
#: more than both together (the hysteresis around a peak).
BURST_HOST_COST = 0.15
BURST_COST_WEIGHT = 0.1
#: What hosting one instance costs on the host an operator drains
#: (:attr:`Policy.drain`): far more than any balance its staying could
#: keep, so that every instance that may leave it does.
DRAIN_HOST_COST = 100.0
#: Recorded cold migrations needed before their median replaces the
#: configured estimate of a cold migration's downtime.
COLD_SAMPLES = 3
#: Completed live migrations of guests of a memory size needed before a
#: guest's own are judged against them.
COPY_PEERS = 3
_DEVICE_COLUMN = {kind: d for d, kind in enumerate(problem_mod.DEVICES)}
#: Rows of the CPU and memory statistics, as the planner's resources.
_HOST_ROWS = [snapshot_mod.HOST_METRICS.index(m)
              for m in (HostMetric.CPU_PERCENT, HostMetric.MEM_PERCENT)]
_INSTANCE_ROWS = [snapshot_mod.INSTANCE_METRICS.index(m)
                  for m in (InstanceMetric.CPU_PERCENT,
                            InstanceMetric.RSS_MB)]

_STILL = (cluster_mod.GroupPolicy.AFFINITY,
          cluster_mod.GroupPolicy.SOFT_AFFINITY)
_APART = (cluster_mod.GroupPolicy.ANTI_AFFINITY,
          cluster_mod.GroupPolicy.SOFT_ANTI_AFFINITY)


@dataclasses.dataclass(frozen=True)
class LoadModel:
    """The weigher's settings, as the planner applies them."""

    risk_factor: float
    thresholds: scoring.Thresholds
    weights: scoring.Weights
    stale_after: float
    #: CPU an instance without load data is assumed to use (% of its vcpus).
    default_load_percent: float = 100.0


@dataclasses.dataclass(frozen=True)
class Policy:
    """Which instances a round may touch."""

    limits: problem_mod.Limits = problem_mod.Limits()
    cooldown: float = 3600.0
    allow_cold_migration: bool = False
    reserve_accelerator_hosts: bool = True
    #: Whether this round is in a cold-migration window.
    cold_window_open: bool = True
    #: Tenants whose cold-migration downtime of the day is spent.
    downtime_spent: frozenset[str] = frozenset()
    #: Tenants whose migrations of the day are spent.
    moves_spent: frozenset[str] = frozenset()
    #: Instances whose migrations failed too often today.
    failed_today: frozenset[str] = frozenset()
    #: Seconds a cold-migrated guest is expected to be stopped (the
    #: default of ``[replan] cold_migration_downtime``).
    cold_downtime: float = 120.0
    #: How many times its memory a live migration copies, by instance
    #: (:func:`copy_factors`); 1 for those not listed.
    copy_factors: Mapping[str, float] = dataclasses.field(
        default_factory=dict)
    #: A host to empty (an operator's drain): only its instances move,
    #: it receives none, each pays :data:`DRAIN_HOST_COST` to stay, and
    #: neither the cool-down nor the tenants' daily moves hold them.
    drain: str | None = None


@dataclasses.dataclass(frozen=True)
class LiveMigration:
    """A recorded live migration: of a guest of ``memory_mb``, it ran
    ``seconds``, and ``completed`` (else it was aborted at its timeout,
    still copying: ``seconds`` is less than it needed)."""

    instance: str
    memory_mb: float
    seconds: float
    completed: bool


def copy_factors(recorded: Iterable[LiveMigration]) -> dict[str, float]:
    """How many times its memory a live migration of each guest copies,
    judged from the ``recorded`` ones (module docstring): the median time
    of its own against the median of the completed ones of guests of its
    memory size, once there are :data:`COPY_PEERS` of those; at least 1
    (a guest resized in between: the higher of its sizes').
    """
    peers: dict[float, list[float]] = collections.defaultdict(list)
    own: dict[tuple[str, float], list[float]] = collections.defaultdict(list)
    for move in recorded:
        if move.completed:
            peers[move.memory_mb].append(move.seconds)
        own[move.instance, move.memory_mb].append(move.seconds)
    factors: dict[str, float] = {}
    for (instance, memory_mb), seconds in own.items():
        done = peers[memory_mb]
        if len(done) >= COPY_PEERS:
            factors[instance] = max(
                factors.get(instance, 1.0),
                float(np.median(seconds) / max(np.median(done), 1e-9)))
    return factors


def cold_downtime(recorded: Sequence[float], configured: float) -> float:
    """The downtime to expect of a cold migration: the median of the
    ``recorded`` ones (seconds each was stopped) once there are
    :data:`COLD_SAMPLES`, else the ``configured`` estimate."""
    if len(recorded) < COLD_SAMPLES:
        return configured
    return float(np.median(recorded))


def stopped_share(policy: Policy) -> float:
    """The share of the payback horizon a cold move stops its guest:
    none without downtime, all of it when there is no longer horizon."""
    if policy.cold_downtime <= 0.0:
        return 0.0
    if policy.cold_downtime >= policy.cooldown:
        return 1.0
    return policy.cold_downtime / policy.cooldown


def persisting(rho, steps):
    """The share of a departure from the mean left, on average, over the
    next ``steps`` samples of a series of lag-1 autocorrelation ``rho``
    (module docstring); 1 where ``rho`` is unknown.  Broadcasts."""
    rho = np.clip(np.nan_to_num(rho, nan=1.0), 0.0, 1.0)
    with np.errstate(divide='ignore', invalid='ignore'):
        share = rho * (1.0 - rho ** steps) / (steps * (1.0 - rho))
    return np.where(rho >= 1.0, 1.0, share)


def _level(stats: np.ndarray, samples, k: float, window: float,
           horizon: float) -> np.ndarray:
    """The predicted level (module docstring) of series of ``stats[...,
    Stat]``, sampled ``samples`` times in ``window`` seconds, over
    ``horizon`` seconds; NaN where EWMA or mean is unknown."""
    ewma, mean = stats[..., Stat.EWMA], stats[..., Stat.MEAN]
    steps = np.maximum(horizon * np.maximum(samples, 1) / window, 1.0)
    share = persisting(stats[..., Stat.AUTOCORR], steps)
    with np.errstate(invalid='ignore'):
        return (np.maximum(ewma, mean)
                - (1.0 - share) * np.fmax(ewma - mean, 0.0)
                + k * stats[..., Stat.STD])


def _pin_reason(server: cluster_mod.Server, policy: Policy,
                last_moved: float | None, now: float) -> Pinned | None:
    if server.status != 'ACTIVE':
        return Pinned.NOT_ACTIVE
    if server.task_state:
        return Pinned.TASK
    if server.locked:
        return Pinned.LOCKED
    if server.migration is cluster_mod.MigrationMode.NEVER:
        return Pinned.NEVER
    if server.moves_cold:
        if server.migration is None and not policy.allow_cold_migration:
            return Pinned.NOT_LIVE_MIGRATABLE
        if not policy.cold_window_open:
            return Pinned.OUTSIDE_WINDOW
        if server.project in policy.downtime_spent:
            return Pinned.DOWNTIME_BUDGET
    # An operator's drain moves its host's instances whatever the
    # automatic rounds' budgets and cool-down say.
    drained = server.host == policy.drain
    if server.project in policy.moves_spent and not drained:
        return Pinned.TENANT_MOVES
    if server.uuid in policy.failed_today:
        return Pinned.FAILED_TODAY
    if (last_moved is not None and now - last_moved < policy.cooldown
            and not drained):
        return Pinned.COOL_DOWN
    return None


_PLAIN = problem_mod.accelerator_mask({scoring.Accelerator.CPU})


def _wanted(servers, placed: np.ndarray, offered: np.ndarray,
            policy: Policy) -> np.ndarray:
    """(N,) the accelerator bitmask each instance's destination must
    offer: its flavor's; for an instance asking none, none, or, with
    ``reserve_accelerator_hosts``, plain CPU when its host offers it (an
    instance on an accelerator host may leave it for any host)."""
    wanted = np.array([problem_mod.accelerator_mask(
        {s.accelerator} if s.accelerator else ()) for s in servers],
        dtype=np.int64).reshape(len(servers))
    if policy.reserve_accelerator_hosts and len(servers):
        plain = (wanted == 0) & ((offered[placed] & _PLAIN) != 0)
        wanted[plain] = _PLAIN
    return wanted


# Per host and round: plain floats, which numpy's scalar calls would
# cost several times over.
def _unit(x: float) -> float:
    """``x`` clamped to 0-1."""
    return min(max(x, 0.0), 1.0)


def _known(x: float) -> float:
    """``x``, or 0 when unknown (NaN)."""
    return 0.0 if math.isnan(x) else x


def _knee(headroom: float, knee: float) -> float:
    """Pressure of a headroom: 0 from ``knee`` up, 1 at none; 0 when
    unknown."""
    if math.isnan(headroom):
        return 0.0
    return _unit((knee - headroom) / knee)


def _gpus_powered(est: scoring.Estimate, limits: scoring.Thresholds
                  ) -> float:
    """How many of the host's free GPUs new guests may work to their
    limit within the chassis' power budget: none while the chassis is
    over it, all without a budget or a BMC reading, and all while their
    rise is unknown (as :func:`.scoring.power_refusal` judges)."""
    free = est.devices.gpu_free
    budget = scoring.power_budget(est, limits)
    room = budget - est.chassis_power_w
    if budget <= 0 or math.isnan(room):
        return free
    rise = est.devices.gpu_free_power_rise_w
    if room < 0:
        return 0.0
    if math.isnan(rise) or rise <= 0:
        return free
    return min(free, float(math.floor(room / rise)))


def _devices(est: scoring.Estimate, limits: scoring.Thresholds
             ) -> tuple[tuple, tuple, tuple]:
    """(counts, free, pressures) of a host's GPUs and miners."""
    dev = est.devices
    gpu = max(_knee(est.gpu_thermal_headroom_c, THERMAL_KNEE_C),
              _knee(est.gpu_power_headroom_percent, POWER_KNEE_PERCENT))
    ratio = dev.asic_hashrate_ratio
    asic = 0.0 if math.isnan(ratio) else _unit(1.0 - ratio)
    return ((_known(dev.gpu_count), _known(dev.asic_count)),
            (_known(_gpus_powered(est, limits)), _known(dev.asic_free)),
            (gpu, asic))


def _host_cost(host: cluster_mod.ComputeHost) -> float:
    cost = host.burst_cost_per_hour
    if cost is None:
        return 0.0
    return BURST_HOST_COST + BURST_COST_WEIGHT * cost / (cost + 1.0)


def build(cluster: cluster_mod.Cluster, snap: snapshot_mod.LoadSnapshot,
          model: LoadModel, policy: Policy, now: float,
          last_moved: dict[str, float] | None = None) -> problem_mod.Problem:
    """The round's problem; ``last_moved`` maps instance UUID to time."""
    last_moved = last_moved or {}
    hosts = cluster.hosts
    index = {h.name: i for i, h in enumerate(hosts)}
    n_hosts = len(hosts)
    capacity = np.array([[h.vcpus, h.memory_mb] for h in hosts],
                        dtype=float).reshape(n_hosts, 2)
    total = np.zeros((n_hosts, 2))
    informed = np.zeros(n_hosts, dtype=bool)
    receives = np.array([h.accepts_moves for h in hosts], dtype=bool)
    offered = np.zeros(n_hosts, dtype=np.int64)
    devices = np.zeros((3, n_hosts, len(problem_mod.DEVICES)))
    fresh, stats, samples = [], [], []
    thresholds = [h.thresholds(model.thresholds) for h in hosts]
    for i, host in enumerate(hosts):
        view = snap.hosts.get(host.name)
        kinds = host.accelerators
        if view is not None and view.age <= model.stale_after:
            # GPU guests nova placed there that are still warming up
            # draw power its samples do not show yet.
            est = scoring.with_busy_gpus(
                scoring.estimate(view, model.risk_factor),
                sum(guest.gpus for guest in snap.pending.get(host.name, ())))
            limits = thresholds[i]
            devices[:, i] = _devices(est, limits)
            fresh.append(i)
            stats.append(view.stats[_HOST_ROWS])
            samples.append(view.samples)
            if scoring.violations(dataclasses.replace(
                    est, cpu_percent=np.nan, mem_percent=np.nan), limits):
                receives[i] = False
            kinds = scoring.offered(kinds, est)
        offered[i] = problem_mod.accelerator_mask(
            kinds or {scoring.Accelerator.CPU})
    if fresh:
        total[fresh] = _level(np.stack(stats), np.array(samples)[:, None],
                              model.risk_factor, snap.window,
                              policy.cooldown) / 100.0 * capacity[fresh]
        informed[fresh] = ~np.isnan(total[fresh]).any(axis=1)
    total = np.nan_to_num(total)
    drained = np.array([h.name == policy.drain for h in hosts], dtype=bool)
    receives &= informed & ~drained

    servers = [s for s in cluster.servers if s.host in index]
    placed = np.array([index[s.host] for s in servers], dtype=np.int64)
    demand = np.zeros((len(servers), 2))
    pinned: dict[int, Pinned] = {}
    anti = np.full(len(servers), -1, dtype=np.int64)
    position = {s.uuid: n for n, s in enumerate(servers)}
    for g, group in enumerate(cluster.groups):
        for uuid in group.members & position.keys():
            n = position[uuid]
            if group.policy in _STILL:
                pinned[n] = Pinned.AFFINITY
            elif group.policy in _APART:
                anti[n] = g
    views = [snap.instances.get(s.uuid) for s in servers]
    seen = np.array([v is not None for v in views], dtype=bool)
    if seen.any():
        known = [v for v in views if v is not None]
        demand[seen] = _level(
            np.stack([v.stats[_INSTANCE_ROWS] for v in known]),
            np.array([v.samples for v in known])[:, None],
            model.risk_factor, snap.window, policy.cooldown)
        demand[seen, 0] *= capacity[placed[seen], 0] / 100.0
    for n, server in enumerate(servers):
        if not seen[n]:
            demand[n] = (server.vcpus * model.default_load_percent / 100.0,
                         server.memory_mb)
        # A drain needs no load data of the host it empties.
        reason = (Pinned.NO_LOAD_DATA if not (informed[placed[n]]
                                              or drained[placed[n]])
                  else _pin_reason(server, policy,
                                   last_moved.get(server.uuid), now))
        if reason is not None:
            pinned.setdefault(n, reason)
    demand = np.nan_to_num(demand)
    base = np.maximum(
        total - np.stack([np.bincount(placed, demand[:, r],
                                      minlength=n_hosts)
                          for r in range(2)], axis=1), 0.0)
    zones = {}
    zone = np.array([zones.setdefault(h.availability_zone, len(zones))
                     for h in hosts], dtype=np.int64)
    weights = np.array([model.weights.cpu, model.weights.memory])
    movable = np.ones(len(servers), dtype=bool)
    movable[list(pinned)] = False
    if policy.drain is not None:
        # The others are not pinned: a drain does not touch them.
        movable &= drained[placed]
        pinned = {n: why for n, why in pinned.items() if drained[placed[n]]}
    alloc_demand = np.array([[s.vcpus, s.memory_mb] for s in servers],
                            dtype=float).reshape(len(servers), 2)
    stopped = np.array([s.moves_cold for s in servers], dtype=float)
    copied = np.array([1.0 if s.moves_cold
                       else policy.copy_factors.get(s.uuid, 1.0)
                       for s in servers]).reshape(len(servers))
    device_loss = np.array([
        v.device_loss if v is not None and v.device_loss is not None
        and s.accelerator in _DEVICE_COLUMN else 0.0
        for s, v in zip(servers, views, strict=True)])
    holds = np.array([_DEVICE_COLUMN.get(s.accelerator, -1)
                      for s in servers], dtype=np.int64)
    # The devices each instance holds.  A cold move stops one holding
    # none too: its work is weighed as one device's.
    hold_count = np.array([s.devices if k >= 0 else 1
                           for s, k in zip(servers, holds, strict=True)],
                          dtype=float)
    return problem_mod.Problem(
        hosts=tuple(h.name for h in hosts),
        instances=tuple(s.uuid for s in servers),
        current=placed,
        capacity=np.maximum(capacity, 1e-9),
        base=base,
        demand=demand,
        alloc_capacity=np.array(
            [[h.vcpus * h.cpu_allocation_ratio,
              h.memory_mb * h.ram_allocation_ratio] for h in hosts],
            dtype=float).reshape(n_hosts, 2),
        alloc_demand=alloc_demand,
        limit=np.array([[t.max_cpu_percent, t.max_mem_percent]
                        for t in thresholds]).reshape(n_hosts, 2) / 100.0,
        weights=weights / max(weights.sum(), 1e-9),
        zone=zone,
        host_accelerators=offered,
        wants_accelerator=_wanted(servers, placed, offered, policy),
        accepts_moves=receives,
        movable=movable,
        move_cost=(alloc_demand[:, 1] / 1024.0 * copied
                   * policy.limits.migration_cost_per_gb
                   + policy.limits.device_weight * hold_count
                   * (stopped * stopped_share(policy) - device_loss)),
        anti_affinity=anti,
        limits=policy.limits,
        pinned=pinned,
        holds=holds,
        hold_count=hold_count,
        device_count=devices[0],
        device_free=devices[1],
        device_pressure=devices[2],
        host_cost=np.array([_host_cost(h) for h in hosts])
        + DRAIN_HOST_COST * drained)
