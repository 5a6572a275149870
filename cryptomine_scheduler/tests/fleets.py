"""Seeded random fleets (cluster + load snapshot) for planner tests."""

import dataclasses
import uuid

import numpy as np

from cryptomine_scheduler.history import mining
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.history.summaries import Stat
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.planning import inputs
from cryptomine_scheduler.planning import problem as problem_mod
from cryptomine_scheduler.replan import cluster

NOW = 1_000_000.0
MODEL = inputs.LoadModel(
    risk_factor=1.0,
    thresholds=scoring.Thresholds(
        max_cpu_percent=90.0, max_mem_percent=90.0,
        min_gpu_thermal_headroom_c=5.0, min_gpu_power_headroom_percent=2.0,
        max_asic_errors_per_min=30.0, min_asic_hashrate_ratio=0.5,
        max_inlet_temperature_c=40.0),
    weights=scoring.Weights(cpu=1.0, memory=1.0, gpu_thermal=1.0,
                            gpu_power=0.5, gpu_utilization=0.5,
                            free_devices=1.0, asic_hashrate=1.0,
                            asic_efficiency=0.5),
    stale_after=60.0)
#: A round that moves for small gains: for tests of how rounds run,
#: on clusters too small for the default bar.
LOW_BAR = inputs.Policy(limits=problem_mod.Limits(min_gain=0.002))


def stats(rows: int, values, std=0.0) -> np.ndarray:
    """A stats array whose LAST, EWMA, MEAN and P95 are ``values``."""
    out = np.zeros((rows, len(Stat)))
    for stat in (Stat.LAST, Stat.EWMA, Stat.MEAN, Stat.P95):
        out[:len(values), stat] = values
    out[:len(values), Stat.STD] = std
    return out


def host_view(cpu: float, mem: float, age: float = 5.0,
              mining_values: dict | None = None) -> snapshot.HostView:
    values = np.zeros(len(snapshot.HOST_METRICS))
    values[snapshot.HOST_METRICS.index(
        snapshot.sample_mod.HostMetric.CPU_PERCENT)] = cpu
    values[snapshot.HOST_METRICS.index(
        snapshot.sample_mod.HostMetric.MEM_PERCENT)] = mem
    mining_stats = None
    if mining_values:
        row = np.full(len(mining.METRICS), np.nan)
        for metric, value in mining_values.items():
            row[mining.METRICS.index(metric)] = value
        mining_stats = stats(len(mining.METRICS), row)
    return snapshot.HostView(newest=NOW - age, age=age, samples=60,
                             stats=stats(len(values), values),
                             mining_stats=mining_stats)


def instance_view(host: str, cpu_percent: float,
                  rss_mb: float) -> snapshot.InstanceView:
    return snapshot.InstanceView(
        newest=NOW - 5.0, age=5.0, samples=60,
        stats=stats(2, [cpu_percent, rss_mb]), host=host)


def server_uuid(n: int) -> str:
    return str(uuid.UUID(int=n + 1))


@dataclasses.dataclass(frozen=True)
class Fleet:
    cluster: cluster.Cluster
    snapshot: snapshot.LoadSnapshot


def fleet(hosts: dict[str, tuple[int, int]],
          servers: list[tuple[str, int, int, float, float]],
          host_base: dict[str, tuple[float, float]] | None = None,
          **host_kwargs) -> Fleet:
    """A fleet from ``{host: (vcpus, memory_mb)}`` and servers
    ``(host, vcpus, memory_mb, busy_cores, rss_mb)``; each host's load is
    its servers' plus ``host_base`` (cores, MiB)."""
    host_base = host_base or {}
    computes = tuple(cluster.ComputeHost(name, vcpus, mem, **host_kwargs)
                     for name, (vcpus, mem) in hosts.items())
    load = {name: list(host_base.get(name, (0.0, 0.0))) for name in hosts}
    records, views = [], {}
    for n, (host, vcpus, mem, cores, rss) in enumerate(servers):
        uid = server_uuid(n)
        records.append(cluster.Server(uuid=uid, name=f'vm-{n}', host=host,
                                      vcpus=vcpus, memory_mb=mem))
        views[uid] = instance_view(host, 100.0 * cores / hosts[host][0],
                                   rss)
        load[host][0] += cores
        load[host][1] += rss
    host_views = {
        name: host_view(100.0 * load[name][0] / vcpus,
                        100.0 * load[name][1] / mem)
        for name, (vcpus, mem) in hosts.items()}
    return Fleet(cluster.Cluster(computes, tuple(records)),
                 snapshot.LoadSnapshot(NOW, 600.0, host_views, views))


def random_fleet(seed: int, n_hosts: int, n_servers: int,
                 skew: float = 2.0) -> Fleet:
    """Hosts of 32-64 cores; servers packed onto the first hosts more."""
    rng = np.random.default_rng(seed)
    hosts = {f'host{h:05d}': (int(rng.choice([32, 48, 64])),
                              int(rng.choice([65536, 131072, 262144])))
             for h in range(n_hosts)}
    names = list(hosts)
    weights = np.exp(-skew * np.arange(n_hosts) / max(n_hosts, 1))
    weights /= weights.sum()
    on = rng.choice(n_hosts, size=n_servers, p=weights)
    servers = []
    for h in on:
        vcpus = int(rng.choice([1, 2, 4]))
        mem = int(rng.choice([1024, 2048, 4096]))
        servers.append((names[h], vcpus, mem,
                        float(rng.uniform(0.1, 1.0) * vcpus),
                        float(rng.uniform(0.3, 1.0) * mem)))
    return fleet(hosts, servers, cpu_allocation_ratio=4.0,
                 ram_allocation_ratio=1.5)


def problem(f: Fleet, policy: inputs.Policy | None = None,
            model: inputs.LoadModel = MODEL, last_moved=None):
    return inputs.build(f.cluster, f.snapshot, model,
                        policy or inputs.Policy(), NOW, last_moved)


def constrained_fleet(seed: int, n_hosts: int = 4,
                      n_servers: int = 14) -> Fleet:
    """A small fleet with every kind of constraint: tight allocation
    ratios, two availability zones, hosts that take no instances (about
    one in five) and an anti-affinity group of three."""
    rng = np.random.default_rng(seed)
    hosts = {f'h{h}': (int(rng.choice([8, 16])),
                       int(rng.choice([16384, 32768])))
             for h in range(n_hosts)}
    names = list(hosts)
    servers = []
    for _ in range(n_servers):
        host = names[min(int(rng.exponential(1.0)), n_hosts - 1)]
        vcpus = int(rng.choice([1, 2, 4]))
        mem = int(rng.choice([2048, 4096]))
        servers.append((host, vcpus, mem, float(rng.uniform(0.2, 1.0) * vcpus),
                        float(rng.uniform(0.3, 1.0) * mem)))
    base = fleet(hosts, servers, cpu_allocation_ratio=1.5,
                 ram_allocation_ratio=1.0)
    computes = tuple(dataclasses.replace(
        h, accepts_moves=bool(rng.random() > 0.2),
        availability_zone='az1' if i % 2 == 0 or rng.random() < 0.5
        else 'az2') for i, h in enumerate(base.cluster.hosts))
    group = cluster.ServerGroup(
        'spread', 'spread', cluster.GroupPolicy.ANTI_AFFINITY,
        frozenset(server_uuid(n)
                  for n in rng.choice(n_servers, 3, replace=False)))
    return Fleet(cluster.Cluster(computes, base.cluster.servers, (group,)),
                 base.snapshot)
