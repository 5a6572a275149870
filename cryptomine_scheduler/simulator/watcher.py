"""Watcher's workload strategies as python-watcher 17.0.0's code runs them.

Watcher's documentation describes an older ``workload_stabilization``
(CPU and RAM, threshold 0.2, one migration per audit); its code, with
the audit's parameters left to their defaults, does this:

* ``workload_stabilization``: the CPU metric only.  A host's load is
  its CPU usage (the datasource's ``host_cpu_usage``, mean over the last
  600 s) over 100; an instance's is its CPU usage (``instance_cpu_usage``,
  % of its vCPUs, mean over the last 720 s) times its vCPUs over the
  host's.  When the standard deviation of the hosts' loads exceeds the
  threshold (0.1), each instance, host after host in the order of their
  names, is tried on one destination drawn at random among the other
  hosts (``host_choice = retry``, ``retry_count = 1``); those whose move
  would lower the deviation are the candidates, lowest first.  Going down
  that list, each move is evaluated on the loads the moves before it
  left, and made when it brings the deviation below the lowest reached
  so far (starting at 1); the audit ends after the first evaluated move
  that leaves it under the threshold.  No vCPU or RAM room is checked.
* ``workload_balance``: the CPU metric, mean over the last 300 s.  Hosts
  at or above the threshold (25 % of their vCPUs busy) are the sources,
  the others the destinations.  From the busiest source with a suitable
  instance, the instance that brings it closest to the mean host load
  (in cores) without going under it moves to the least busy destination
  whose flavor room (vCPUs and RAM, with the allocation ratios) takes it
  and which stays under the threshold with it: one migration per audit.

Watcher sees a migrating instance on its source host, as nova lists it,
and knows neither accelerators nor live-migration limits: nova refuses
those moves (:func:`apply`).

The simulator's datasource (:class:`Cluster`) aggregates the samples
stamped within the period: the last ``ceil(period / step)`` steps.  A
host's CPU usage is its instances' summed per step: the guests it holds
now, without the cost of migrations in flight.
"""

import dataclasses
import math
import random

import numpy as np

from cryptomine_scheduler.simulator.engine import World

#: workload_stabilization's default ``periods`` (instance, compute_node)
#: in seconds; its threshold is :attr:`.engine.Settings.watcher_threshold`.
INSTANCE_PERIOD = 720.0
NODE_PERIOD = 600.0
#: workload_balance's defaults: its ``period`` and ``threshold`` (%).
BALANCE_PERIOD = 300.0
BALANCE_THRESHOLD = 25.0

#: (instance, destination host), as indices of the trace and the fleet.
Move = tuple[int, int]


@dataclasses.dataclass(frozen=True)
class Cluster:
    """What an audit reads: the compute model Watcher builds from nova
    and the CPU samples its datasource aggregates.

    Per host: ``vcpus``, ``memory_mb`` and the CPU and RAM allocation
    ``ratios`` (H, 2).  Per instance of the trace: its flavor (vCPUs,
    MiB rounded up) and the host nova lists it on (-1: not placed; a
    migrating instance is on its source); ``cpu`` (N, K) its busy cores
    over the last K steps, oldest first (NaN: no sample).
    """

    hosts: tuple[str, ...]
    vcpus: np.ndarray
    memory_mb: np.ndarray
    ratios: np.ndarray
    instances: tuple[str, ...]
    flavor: np.ndarray
    host_of: np.ndarray
    cpu: np.ndarray
    step: float

    def _window(self, period: float) -> np.ndarray:
        return self.cpu[:, self.cpu.shape[1]
                        - min(self.cpu.shape[1],
                              math.ceil(period / self.step)):]

    def instance_percent(self, period: float) -> np.ndarray:
        """(N,) each instance's mean CPU usage over ``period``, % of its
        vCPUs; NaN without a sample (or not placed)."""
        window = self._window(period)
        count = (~np.isnan(window)).sum(axis=1)
        total = np.nansum(window, axis=1)
        with np.errstate(invalid='ignore', divide='ignore'):
            mean = np.where(count > 0, total / count, np.nan)
        mean[self.host_of < 0] = np.nan
        return mean / self.flavor[:, 0] * 100.0

    def host_percent(self, period: float) -> np.ndarray:
        """(H,) each host's mean CPU usage over ``period``, % of its
        vCPUs: its instances' busy cores summed per step."""
        window = np.nan_to_num(self._window(period))
        placed = self.host_of >= 0
        busy = np.zeros((len(self.hosts), window.shape[1]))
        np.add.at(busy, self.host_of[placed], window[placed])
        return busy.mean(axis=1) / self.vcpus * 100.0

    def on(self, host: int) -> np.ndarray:
        """The instances nova lists on ``host``, in the trace's order."""
        return np.flatnonzero(self.host_of == host)


def cluster(world: World, period: float) -> Cluster:
    """The audit's view of ``world`` now, with ``period`` seconds of
    samples."""
    trace, t = world.trace, world.step
    k = math.ceil(period / trace.step)
    fleet = world.fleet
    return Cluster(
        hosts=fleet.names, vcpus=fleet.vcpus.astype(int),
        memory_mb=fleet.memory_mb.astype(int),
        ratios=np.array([[h.cpu_allocation_ratio, h.ram_allocation_ratio]
                         for h in fleet.hosts]),
        instances=tuple(trace.instances),
        flavor=np.stack([trace.vcpus.astype(int),
                         np.ceil(trace.memory_mb).astype(int)], axis=1),
        host_of=world.host_of.copy(), cpu=trace.cpu[:, max(0, t - k):t],
        step=trace.step)


def _sd(loads: np.ndarray) -> np.ndarray:
    """The standard deviation over the last axis, summed in order as
    Watcher's loop sums (``cumsum`` is sequential), to the last bit."""
    n = loads.shape[-1]
    mean = np.cumsum(loads, axis=-1)[..., -1] / n
    deviation = (loads - mean[..., None]) ** 2
    return np.sqrt(np.cumsum(deviation, axis=-1)[..., -1] / n)


def stabilization(c: Cluster, threshold: float,
                  rng: random.Random) -> list[Move]:
    """workload_stabilization's audit (module docstring); ``rng`` draws
    the destinations as Watcher's ``random.sample`` does."""
    load = c.host_percent(NODE_PERIOD) / 100.0
    current = float(_sd(load))
    if not current > threshold:
        return []
    share = c.instance_percent(INSTANCE_PERIOD) / 100.0
    names = sorted(range(len(c.hosts)), key=c.hosts.__getitem__)
    tried = []
    for source in names:
        others = [h for h in names if h != source]
        for i in c.on(source):
            destination = rng.sample(others, 1)[0]
            if not np.isnan(share[i]):
                tried.append((i, source, destination))
    if not tried:
        return []
    instance, source, destination = np.array(tried).T
    vcpus = c.flavor[instance, 0]
    leaving = share[instance] * (vcpus / c.vcpus[source])
    arriving = share[instance] * (vcpus / c.vcpus[destination])
    after = np.tile(load, (len(tried), 1))
    rows = np.arange(len(tried))
    after[rows, source] -= leaving
    after[rows, destination] += arriving
    values = _sd(after)
    candidates = sorted(np.flatnonzero(values < current).tolist(),
                        key=values.__getitem__)
    moves, lowest = [], 1.0
    for k in candidates:
        case = load.copy()
        case[source[k]] -= leaving[k]
        case[destination[k]] += arriving[k]
        value = float(_sd(case))
        if value < lowest:
            lowest, load = value, case
            moves.append((int(instance[k]), int(destination[k])))
        if value < threshold:
            break
    return moves


def balance(c: Cluster, threshold: float) -> list[Move]:
    """workload_balance's audit (module docstring); ``threshold`` in %.

    An active instance without samples on a source host it looks at
    fails Watcher's audit (a missing key): no move then.
    """
    work = c.instance_percent(BALANCE_PERIOD) * c.flavor[:, 0] / 100.0
    placed = (c.host_of >= 0) & ~np.isnan(work)
    node_work = np.bincount(c.host_of[placed], work[placed],
                            minlength=len(c.hosts))
    util = node_work / c.vcpus * 100.0
    average = np.cumsum(node_work)[-1] / len(c.hosts)
    over = util >= threshold
    if not over.any() or over.all():
        return []
    chosen = None
    for source in sorted(np.flatnonzero(over).tolist(),
                         key=util.__getitem__, reverse=True):
        excess, closest = node_work[source] - average, 1000000
        for i in c.on(source):
            if np.isnan(work[i]):
                return []
            delta = excess - work[i]
            if 0 <= delta < closest:
                chosen, closest = int(i), delta
        if chosen is not None:
            break
    if chosen is None:
        return []
    used = np.stack([np.bincount(c.host_of[c.host_of >= 0],
                                 c.flavor[c.host_of >= 0, r],
                                 minlength=len(c.hosts))
                     for r in range(2)], axis=1)
    capacity = np.stack([c.vcpus, c.memory_mb], axis=1) * c.ratios
    room = (capacity - used >= c.flavor[chosen]).all(axis=1)
    fits = (work[chosen] + node_work
            < threshold / 100.0 * c.vcpus)
    destinations = np.flatnonzero(~over & room & fits).tolist()
    if not destinations:
        return []
    return [(chosen, min(destinations, key=util.__getitem__))]


def apply(world: World, moves: list[Move]) -> None:
    """Ask nova for each move in turn; a move nova refuses is counted
    (:attr:`.engine.World.refused_migrations`) and the others go on.
    nova refuses to live-migrate a guest holding a device or already
    moving, to a host that lacks the accelerator kind it asks for, or
    without room for its flavor in placement
    (:meth:`.engine.World.migrate`)."""
    for instance, destination in moves:
        if (world.live_migratable[instance]
                and instance not in world.migrating
                and world.compatible(instance)[destination]):
            world.migrate(instance, destination)
        else:
            world.refused_migrations += 1
