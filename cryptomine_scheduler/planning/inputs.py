"""Build a :class:`~.problem.Problem` from the cluster and the load snapshot.

The load model is the weigher's (:mod:`cryptomine_scheduler.scoring`):
a host's predicted CPU and memory are ``max(EWMA, mean) + k * std`` of
its history, and an instance's the same of its own.  A host whose load
data is missing or stale neither gives nor takes instances; a host that
breaks a mining threshold (GPU thermal or power headroom, ASIC errors)
may give but not take.
"""

import dataclasses

import numpy as np

from cryptomine_scheduler import cluster as cluster_mod
from cryptomine_scheduler import scoring
from cryptomine_scheduler import snapshot as snapshot_mod
from cryptomine_scheduler.planning import problem as problem_mod
from cryptomine_scheduler.planning.problem import Pinned
from cryptomine_scheduler.sample import InstanceMetric
from cryptomine_scheduler.summaries import Stat

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


def _instance_upper(view: snapshot_mod.InstanceView, metric, k) -> float:
    return (max(view.metric(metric, Stat.EWMA), view.metric(metric, Stat.MEAN))
            + k * view.metric(metric, Stat.STD))


def _pin_reason(server: cluster_mod.Server, policy: Policy,
                last_moved: float | None, now: float) -> Pinned | None:
    if server.status != 'ACTIVE':
        return Pinned.NOT_ACTIVE
    if server.task_state:
        return Pinned.TASK
    if server.locked:
        return Pinned.LOCKED
    if not server.live_migratable and not policy.allow_cold_migration:
        return Pinned.NOT_LIVE_MIGRATABLE
    if last_moved is not None and now - last_moved < policy.cooldown:
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
    for i, host in enumerate(hosts):
        view = snap.hosts.get(host.name)
        kinds = host.accelerators
        if view is not None and view.age <= model.stale_after:
            est = scoring.estimate(view, model.risk_factor)
            total[i] = (est.cpu_percent / 100.0 * host.vcpus,
                        est.mem_percent / 100.0 * host.memory_mb)
            informed[i] = not np.isnan(total[i]).any()
            if scoring.violations(dataclasses.replace(
                    est, cpu_percent=np.nan, mem_percent=np.nan),
                    model.thresholds):
                receives[i] = False
            kinds = scoring.offered(kinds, est)
        offered[i] = problem_mod.accelerator_mask(
            kinds or {scoring.Accelerator.CPU})
    total = np.nan_to_num(total)
    receives &= informed

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
    for n, server in enumerate(servers):
        host = hosts[placed[n]]
        view = snap.instances.get(server.uuid)
        if view is not None:
            demand[n] = (
                _instance_upper(view, InstanceMetric.CPU_PERCENT,
                                model.risk_factor) / 100.0 * host.vcpus,
                _instance_upper(view, InstanceMetric.RSS_MB,
                                model.risk_factor))
        else:
            demand[n] = (server.vcpus * model.default_load_percent / 100.0,
                         server.memory_mb)
        reason = (Pinned.NO_LOAD_DATA if not informed[placed[n]]
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
    alloc_demand = np.array([[s.vcpus, s.memory_mb] for s in servers],
                            dtype=float).reshape(len(servers), 2)
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
        limit=np.array([model.thresholds.max_cpu_percent,
                        model.thresholds.max_mem_percent]) / 100.0,
        weights=weights / max(weights.sum(), 1e-9),
        zone=zone,
        host_accelerators=offered,
        wants_accelerator=_wanted(servers, placed, offered, policy),
        accepts_moves=receives,
        movable=movable,
        move_cost=(alloc_demand[:, 1] / 1024.0
                   * policy.limits.migration_cost_per_gb),
        anti_affinity=anti,
        limits=policy.limits,
        pinned=pinned)
