"""The replay: one policy, one trace, one fleet, step by step.

Each step of the trace, in this order:

1. instances whose trace ended leave (their flavor is released);
2. a policy that releases burst hosts gives back those empty for
   ``release_after`` (:meth:`World.release_idle`); on a re-plan step,
   the policy may start migrations;
3. instances whose trace starts boot, one at a time, where the policy
   places them;
4. every host's load over the step is the sum of its instances' (a
   migrating instance counts on both hosts, from its start until it
   completes; see :class:`Migration`), recorded for the metrics;
5. the simulated collectors sample every host and instance: the
   summaries the load-aware policies read (:mod:`.history`, with the
   controller's statistics) get one sample stamped at the end of the
   step.

Hosts are taken to have run idle for one summary window before the
trace starts, so the first boots see hosts with (idle) data.  A boot
fails as it would in nova (NoValidHost) and its instance never runs when
no host has room for it (flavor vCPUs and memory within the allocation
ratios, a free GPU for a GPU instance, a free miner for an ASIC one
(dead or alive: placement counts miners), the accelerator kind it asks
for: placement's verdict, the same for every policy) or when the
policy's filter refuses every host that has room (the policy's own
verdict).  Both are counted, apart, beside the quality figures: a policy
that refuses work must not look better for carrying less.

A GPU instance holds a GPU of its host, an ASIC instance a miner (see
:mod:`.fleet`), until it leaves; neither live-migrates (the device
stays with the host).  Those of the kinds in ``cold_migration`` the
re-planner may move by cold migration, as their flavors'
``cryptomine:migration = cold`` lets it, and as nova's migrate and
confirm do: the move takes a free device of the kind at the destination
from its start (nova refuses it without one), and the guest is down for
its whole time, its flavor memory's copy and :data:`COLD_RESTART_S` (it
uses no CPU and hashes nothing meanwhile, which its hashrate figures
count as lost), then holds the new device and gives the old one back.

Each step every GPU heats by its own utilisation and throttles when
too hot, and every miner's health follows the fleet's failure injection
(:mod:`.miners`, the same for every policy); the collectors' mining rows
report both as the controller derives them
(:mod:`cryptomine_scheduler.history.mining`), so our filter and weigher judge
them as in production.
"""

import dataclasses
import math
import time
import typing

import numpy as np

from cryptomine_scheduler.conf.scheduler import OVERLOAD_SOFT
from cryptomine_scheduler.history import mining
from cryptomine_scheduler.history import snapshot as snapshot_mod
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.planning import problem as problem_mod
from cryptomine_scheduler.replan import cluster
from cryptomine_scheduler.simulator import fleet as fleet_mod
from cryptomine_scheduler.simulator import history as history_mod
from cryptomine_scheduler.simulator import miners as miners_mod
from cryptomine_scheduler.simulator import traces
from cryptomine_scheduler.telemetry.sample import HostMetric

if typing.TYPE_CHECKING:
    from cryptomine_scheduler.simulator import policies

#: The scheduler's default thresholds and weights (nova.conf [cryptomine]).
THRESHOLDS = scoring.Thresholds(
    max_cpu_percent=90.0, max_mem_percent=90.0,
    min_gpu_thermal_headroom_c=5.0, min_gpu_power_headroom_percent=2.0,
    max_asic_errors_per_min=30.0, min_asic_hashrate_ratio=0.5,
    max_inlet_temperature_c=40.0)
WEIGHTS = scoring.Weights(cpu=1.0, memory=1.0, gpu_thermal=1.0,
                          gpu_power=0.5, gpu_utilization=0.5,
                          free_devices=1.0, asic_hashrate=1.0,
                          asic_efficiency=0.5)
_HOST_ROWS = (snapshot_mod.HOST_METRICS.index(HostMetric.CPU_PERCENT),
              snapshot_mod.HOST_METRICS.index(HostMetric.MEM_PERCENT))
_MINING_COLUMN = {m: i for i, m in enumerate(mining.METRICS)}
#: Seconds a cold-migrated guest takes to stop and start again, on top
#: of its memory's copy.
COLD_RESTART_S = 60.0
#: A device's guest: none, or one that a cold migration is bringing.
FREE, RESERVED = -1, -2


class SimulationError(ValueError):
    """The trace cannot run on the fleet."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """How the simulation and its policies behave.

    The re-planning policies re-plan (or audit) every ``replan_interval``
    seconds, at least every step; 0 means never, as the controller's
    ``[replan] interval = 0``.
    ``window`` and ``half_life`` are the controller's summary window and
    EWMA half-life (its defaults, 600 s and 60 s, suit 10-second samples;
    a 5-minute trace needs longer ones).  ``expected_load_percent`` is
    what a booting instance counts for until it is sampled (the flavor's
    ``cryptomine:expected_load_percent``) unless ``learn_loads``, as the
    controller with nova's notifications, learned its flavor's load from
    the instances before it; ``overload_policy`` and
    ``accelerator_penalty`` are nova.conf's ``[cryptomine]`` options of
    those names, ``max_moves``, ``min_gain``, ``cooldown`` and
    ``reserve_accelerator_hosts`` the controller's ``[replan]`` options;
    ``cold_migration`` holds the kinds of instance (GPU, ASIC) whose
    flavors say ``cryptomine:migration = cold``, which the re-planner
    then moves (in a window always open, without downtime budgets).  A
    migration of ``M`` MiB takes ``M / migration_mb_per_s`` seconds (a
    cold one :data:`COLD_RESTART_S` more), ``parallel_migrations`` at a
    time.  ``overload_percent`` is the CPU
    load a host-step counts as overloaded above; ``watcher_threshold`` is
    the threshold of Watcher's workload_stabilization (standard deviation
    of the hosts' CPU load, 0-1) and ``watcher_seed`` seeds its random
    choice of destinations (:mod:`.watcher`).  A burst host empty for
    ``release_after`` seconds is released (``[burst] release_after``): by
    the policies that release, and in the burst host-hours of every
    policy (:mod:`.metrics`).
    """

    replan_interval: float = 300.0
    window: float = 3600.0
    half_life: float = 600.0
    risk_factor: float = 1.0
    thresholds: scoring.Thresholds = THRESHOLDS
    weights: scoring.Weights = WEIGHTS
    expected_load_percent: float = 100.0
    learn_loads: bool = True
    overload_policy: str = OVERLOAD_SOFT
    accelerator_penalty: float = 0.1
    max_moves: int = 10
    min_gain: float = problem_mod.Limits.min_gain
    cooldown: float = 3600.0
    reserve_accelerator_hosts: bool = True
    cold_migration: frozenset[scoring.Accelerator] = frozenset()
    migration_mb_per_s: float = 125.0
    parallel_migrations: int = 2
    overload_percent: float = 90.0
    watcher_threshold: float = 0.1
    watcher_seed: int = 0
    release_after: float = 3600.0


DEFAULTS = Settings()


@dataclasses.dataclass(frozen=True)
class Migration:
    """A live migration, or a ``cold`` one (the guest down), from
    ``start`` to ``end`` (seconds into the run)."""

    instance: int
    source: int
    destination: int
    start: float
    end: float
    memory_mb: float
    cold: bool = False


@dataclasses.dataclass(frozen=True)
class Run:
    """What happened under one policy.

    ``cpu`` and ``memory`` are each host's load per step as a fraction of
    its capacity (above 1 when the instances ask for more than it has),
    ``kinds`` each host's kind (``cpu``, ``gpu`` or ``asic``),
    ``vcpus`` each host's CPUs,
    ``active`` whether it held an instance, ``cost_per_hour`` what each
    host costs an hour (NaN for the operator's own).  Per step and GPU
    (the fleet's GPUs host after host, ``gpu_host`` naming each one's host):
    ``gpu_held`` whether an instance held it, ``gpu_work`` the
    utilisation its instance asked (0-1), ``gpu_delivered`` the share of
    that it did (less when it throttled or its guest was down) and
    ``gpu_headroom`` its thermal headroom (degC).  Per step and host:
    ``chassis_power`` (W, NaN where no BMC reads it).  Per step and miner:
    ``asic_held`` whether an instance held it and ``asic_ratio`` the
    hashrate its guest got of its baseline (0 while the miner is down,
    less while the guest is).
    """

    policy: str
    step: float
    hosts: tuple[str, ...]
    kinds: tuple[str, ...]
    cpu: np.ndarray
    memory: np.ndarray
    vcpus: np.ndarray
    active: np.ndarray
    cost_per_hour: np.ndarray
    gpu_host: np.ndarray
    gpu_held: np.ndarray
    gpu_work: np.ndarray
    gpu_delivered: np.ndarray
    gpu_headroom: np.ndarray
    chassis_power: np.ndarray
    asic_held: np.ndarray
    asic_ratio: np.ndarray
    migrations: tuple[Migration, ...]
    plan_seconds: tuple[float, ...]
    boots: int
    no_room_boots: int
    refused_boots: int
    refused_migrations: int
    seconds: float


@dataclasses.dataclass(frozen=True)
class GpuReadings:
    """The fleet's GPUs in one step, one entry per GPU."""

    utilisation: np.ndarray        # asked of it, 0-1
    delivered: np.ndarray          # share of that it did, 0-1
    thermal_headroom: np.ndarray   # degC
    power_headroom: np.ndarray     # % of the limit
    throttled: np.ndarray          # bool


@dataclasses.dataclass(frozen=True)
class _Devices:
    """The fleet's devices of one kind, one entry per device: its host and
    its guest (an instance, :data:`FREE` or :data:`RESERVED`); and how
    many of each host's are in use (placement's count)."""

    hosts: np.ndarray
    guests: np.ndarray
    used: np.ndarray


def _overlap(start: float, end: float, low: float, high: float) -> float:
    return max(0.0, min(end, high) - max(start, low))


class World:
    """The state of one run, which policies read and act on."""

    def __init__(self, trace: traces.Trace, fleet: fleet_mod.Fleet,
                 settings: Settings, with_history: bool):
        self.trace = trace
        self.fleet = fleet
        self.settings = settings
        self.step = 0
        self.now = 0.0
        n, h = len(trace.instances), len(fleet.hosts)
        self.host_of = np.full(n, -1, dtype=np.int64)
        self.allocated = np.zeros((h, 2))
        self.gpus_used = np.zeros(h, dtype=np.int64)
        self.flavor = np.stack([trace.vcpus.astype(float), trace.memory_mb],
                               axis=1)
        self.wants = np.array([k or scoring.Accelerator.CPU
                               for k in trace.accelerators])
        self.wants_any = np.array([k is None for k in trace.accelerators])
        # GPUs are passed through and miners are the host's: their
        # guests cannot live-migrate.
        self.live_migratable = ((self.wants != scoring.Accelerator.GPU)
                                & (self.wants != scoring.Accelerator.ASIC))
        self.offers = np.array([s.accelerator for s in fleet.hosts])
        self.gpu_total = fleet.gpus
        self.asic_total = fleet.asics
        self.asics_used = np.zeros(h, dtype=np.int64)
        # The devices, host after host; the instance holding each (or
        # FREE, or RESERVED) and the device each instance holds (-1:
        # none).
        self.gpu_host = np.repeat(np.arange(h), self.gpu_total)
        self.gpu_guest = np.full(len(self.gpu_host), FREE)
        self.miner_host = np.repeat(np.arange(h), self.asic_total)
        self.miner_guest = np.full(len(self.miner_host), FREE)
        self.device_of = np.full(n, -1)
        #: The device a cold migration takes at its destination, by
        #: instance; and the share of this step each instance is down.
        self._reserved: dict[int, int] = {}
        self.down = np.zeros(n)
        self.health = miners_mod.fleet_health(fleet, trace.steps,
                                              trace.step)
        self.vcpus = fleet.vcpus
        self.memory_mb = fleet.memory_mb
        self.allocatable = fleet.allocatable
        self.compute_hosts = tuple(s.compute_host() for s in fleet.hosts)
        #: What each host costs an hour as the scoring takes it (None:
        #: the operator's own).
        self.burst_cost = tuple(s.cost_per_hour for s in fleet.hosts)
        self.burst = fleet.burst
        #: Burst hosts given back (no boot goes there), and since when
        #: each host holds no instance (NaN: it holds some).
        self.released = np.zeros(h, dtype=bool)
        self.empty_since = np.zeros(h)
        self.migrating: dict[int, Migration] = {}
        self._servers: list[cluster.Server | None] = [None] * n
        self.last_moved: dict[str, float] = {}
        self.lanes = np.zeros(max(1, settings.parallel_migrations))
        self.migrations: list[Migration] = []
        self.refused_migrations = 0
        #: Each host's CPU % over the last step (nova's cpu.percent).
        self.last_cpu_percent = np.zeros(h)
        #: The share of what was asked of it each GPU did over the last
        #: step (less than 1 while it throttled).
        self.gpu_delivered = np.ones(len(self.gpu_host))
        self._snapshot: snapshot_mod.LoadSnapshot | None = None
        self.hosts_history = self.mining_history = None
        self.instances_history = None
        self.mining_hosts = np.flatnonzero(
            [s.accelerator is not scoring.Accelerator.CPU
             for s in fleet.hosts])
        if with_history:
            self._start_history()

    # -- what policies ask -------------------------------------------------

    def room(self, i: int) -> np.ndarray:
        """Hosts nova's placement and PCI filters allow for instance ``i``."""
        fits = ((self.allocated + self.flavor[i]
                 <= self.allocatable + 1e-9).all(axis=1))
        if self.wants[i] is scoring.Accelerator.GPU:
            fits &= self.gpus_used < self.gpu_total
        elif self.wants[i] is scoring.Accelerator.ASIC:
            fits &= self.asics_used < self.asic_total
        return fits & self.compatible(i)

    def compatible(self, i: int) -> np.ndarray:
        """Hosts that offer the accelerator instance ``i`` asks for."""
        if self.wants_any[i]:
            return np.ones(len(self.offers), dtype=bool)
        return self.offers == self.wants[i]

    def movable(self) -> np.ndarray:
        """Placed instances that may be live-migrated now."""
        ok = (self.host_of >= 0) & self.live_migratable
        ok[list(self.migrating)] = False
        return ok

    def servers(self) -> tuple[cluster.Server, ...]:
        """The placed instances as nova would list them."""
        return tuple(self._servers[i]
                     for i in np.flatnonzero(self.host_of >= 0))

    def _server(self, i: int, host: int,
                task_state: str | None = None) -> cluster.Server:
        trace = self.trace
        return cluster.Server(
            uuid=trace.instances[i], name=trace.instances[i],
            host=self.compute_hosts[host].name, vcpus=int(trace.vcpus[i]),
            memory_mb=int(math.ceil(trace.memory_mb[i])),
            task_state=task_state, accelerator=trace.accelerators[i],
            live_migratable=bool(self.live_migratable[i]),
            migration=(cluster.MigrationMode.COLD
                       if self.wants[i] in self.settings.cold_migration
                       else None))

    def snapshot(self) -> snapshot_mod.LoadSnapshot:
        """The controller's load snapshot at the start of this step."""
        if self._snapshot is None:
            self._snapshot = self._make_snapshot()
        return self._snapshot

    # -- what policies do --------------------------------------------------

    def migrate(self, i: int, destination: int,
                after: tuple[Migration, ...] = ()) -> Migration | None:
        """Start moving instance ``i`` as soon as a lane is free and the
        migrations it relies on are done; None, counted, when nova would
        refuse it: the destination has no room in placement, even after
        the migrations out of it that it waits for, or no free device of
        the kind the instance holds (a cold migration: module
        docstring)."""
        freed = sum((self.flavor[m.instance] for m in after
                     if m.source == destination), np.zeros(2))
        devices = self._devices(i)
        if (not (self.allocated[destination] - freed + self.flavor[i]
                 <= self.allocatable[destination] + 1e-9).all()
                or devices is not None
                and not (devices.hosts[devices.guests == FREE]
                         == destination).any()):
            self.refused_migrations += 1
            return None
        lane = int(np.argmin(self.lanes))
        start = max([self.now, self.lanes[lane]] + [m.end for m in after])
        duration = self.flavor[i, 1] / self.settings.migration_mb_per_s
        if devices is not None:
            duration += COLD_RESTART_S
            device = self._take_device(i, destination)
            devices.guests[device] = RESERVED
            self._reserved[i] = device
        move = Migration(instance=i, source=int(self.host_of[i]),
                         destination=destination, start=start,
                         end=start + duration, memory_mb=self.flavor[i, 1],
                         cold=devices is not None)
        self.lanes[lane] = move.end
        self.allocated[destination] += self.flavor[i]
        self.migrating[i] = move
        self._servers[i] = self._server(i, move.source, 'migrating')
        self.migrations.append(move)
        self.last_moved[self.trace.instances[i]] = self.now
        return move

    def rent(self, host: int) -> None:
        """Rent released burst host ``host`` again (the operator's
        provisioning enables its compute service)."""
        self.released[host] = False

    # -- the engine's side -------------------------------------------------

    def release_idle(self) -> None:
        """Release the burst hosts that have held no instance (nor an
        incoming migration) for ``release_after`` seconds, as the
        controller's burst loop does."""
        holding = np.zeros(len(self.offers), dtype=bool)
        holding[self.host_of[self.host_of >= 0]] = True
        holding[[m.destination for m in self.migrating.values()]] = True
        self.empty_since[holding] = np.nan
        self.empty_since[~holding & np.isnan(self.empty_since)] = self.now
        idle = (self.burst & ~self.released & ~holding
                & (self.now - self.empty_since
                   >= self.settings.release_after))
        self.released |= idle

    def _devices(self, i: int) -> '_Devices | None':
        """The devices of the kind instance ``i`` holds; None for none."""
        if self.wants[i] is scoring.Accelerator.GPU:
            return _Devices(self.gpu_host, self.gpu_guest, self.gpus_used)
        if self.wants[i] is scoring.Accelerator.ASIC:
            return _Devices(self.miner_host, self.miner_guest,
                            self.asics_used)
        return None

    def _take_device(self, i: int, host: int) -> int:
        """Count a device of ``host`` in use for instance ``i`` and return
        the free one it gets: the first GPU; the first miner up, else
        the first (placement counts miners, not their health)."""
        devices = self._devices(i)
        free = np.flatnonzero((devices.hosts == host)
                              & (devices.guests == FREE))
        devices.used[host] += 1
        if devices.guests is self.miner_guest:
            # argmax: the first True, or the first when none is.
            return int(free[np.argmax(self.health.up[self.step, free])])
        return int(free[0])

    def _give_back(self, i: int, host: int, device: int) -> None:
        """Free ``device`` of ``host``, held by or brought for ``i``."""
        devices = self._devices(i)
        devices.used[host] -= 1
        devices.guests[device] = FREE

    def boot(self, i: int, host: int) -> None:
        self.host_of[i] = host
        self._servers[i] = self._server(i, host)
        self.allocated[host] += self.flavor[i]
        devices = self._devices(i)
        if devices is not None:
            self.device_of[i] = self._take_device(i, host)
            devices.guests[self.device_of[i]] = i

    def leave(self, i: int) -> None:
        if self.host_of[i] < 0:
            return  # its boot failed
        move = self.migrating.pop(i, None)
        if move is not None:
            self.allocated[move.destination] -= self.flavor[i]
            if move.cold:
                self._give_back(i, move.destination, self._reserved.pop(i))
        host = self.host_of[i]
        self.allocated[host] -= self.flavor[i]
        if self.device_of[i] >= 0:
            self._give_back(i, host, self.device_of[i])
        self.device_of[i] = -1
        self.host_of[i] = -1

    def begin_step(self, step: int) -> None:
        self.step = step
        self.now = step * self.trace.step
        self._snapshot = None

    def load(self) -> np.ndarray:
        """(H, 2) CPU cores and MiB each host carries this step, on
        average; completes the migrations that end within it and notes
        the share of the step each cold-migrated guest is down
        (:attr:`down`)."""
        t, trace, h = self.step, self.trace, len(self.offers)
        on = self.host_of >= 0
        where = self.host_of[on]
        demand = np.stack([trace.cpu[on, t], trace.rss_mb[on, t]], axis=1)
        load = np.stack([np.bincount(where, demand[:, r], minlength=h)
                         for r in range(2)], axis=1)
        low, high = self.now, self.now + trace.step
        self.down[:] = 0.0
        for i, move in list(self.migrating.items()):
            need = np.array([trace.cpu[i, t], trace.rss_mb[i, t]])
            both = _overlap(move.start, move.end, low, high) / trace.step
            moved = _overlap(move.end, math.inf, low, high) / trace.step
            if move.cold:
                # Stopped while it moves: on neither host.
                self.down[i] = both
                load[move.destination] += need * moved
                load[move.source] -= need * (both + moved)
            else:
                load[move.destination] += need * (both + moved)
                load[move.source] -= need * moved
            if move.end <= high:
                self._complete(move)
        return load

    def _complete(self, move: Migration) -> None:
        """The instance of ``move`` runs on its destination from now on,
        with the device brought for it when the move was cold."""
        i = move.instance
        del self.migrating[i]
        self.allocated[move.source] -= self.flavor[i]
        self.host_of[i] = move.destination
        self._servers[i] = self._server(i, move.destination)
        if move.cold:
            self._give_back(i, move.source, self.device_of[i])
            self.device_of[i] = self._reserved.pop(i)
            self._devices(i).guests[self.device_of[i]] = i

    def up_share(self, guests: np.ndarray) -> np.ndarray:
        """The share of this step the guest of each device of ``guests``
        (:attr:`gpu_guest` or :attr:`miner_guest`) ran: 1 where none."""
        share = np.ones(len(guests))
        held = guests >= 0
        share[held] -= self.down[guests[held]]
        return share

    def gpu_work(self) -> np.ndarray:
        """The utilisation (0-1) each GPU's guest asks this step."""
        work = np.zeros(len(self.gpu_host))
        held = self.gpu_guest >= 0
        if self.trace.gpu is not None:
            work[held] = np.nan_to_num(
                self.trace.gpu[self.gpu_guest[held], self.step]) / 100.0
        return work

    def gpus(self) -> GpuReadings:
        """The GPU readings of this step (a guest down asks nothing of
        its GPU while it is)."""
        return self._gpus(self.gpu_work() * self.up_share(self.gpu_guest),
                          self.now + self.trace.step)

    def _gpus(self, work: np.ndarray, seconds: float) -> GpuReadings:
        """GPU readings with ``work`` (0-1) asked of each GPU."""
        g = len(work)
        delivered, thermal, power = np.ones(g), np.zeros(g), np.zeros(g)
        throttled = np.zeros(g, dtype=bool)
        for host in np.flatnonzero(self.gpu_total):
            spec = self.fleet.hosts[host].gpu
            mine = self.gpu_host == host
            heat = spec.heat(work[mine], seconds)
            delivered[mine] = heat.delivered
            thermal[mine] = spec.slowdown_c - heat.temperature_c
            power[mine] = 100.0 - heat.power_percent
            throttled[mine] = heat.throttled
        return GpuReadings(work, delivered, thermal, power, throttled)

    def chassis_power(self, gpus: GpuReadings) -> np.ndarray:
        """Each host's chassis power (W) as its BMC reads it: what it
        draws besides its GPUs and their draw; NaN without a BMC."""
        power = np.full(len(self.fleet.hosts), np.nan)
        for host in np.flatnonzero(self.gpu_total):
            spec = self.fleet.hosts[host].gpu
            if spec.chassis_base_w is not None:
                mine = self.gpu_host == host
                power[host] = spec.chassis_base_w + (
                    100.0 - gpus.power_headroom[mine]).sum() / 100.0 * (
                    spec.power_limit_w)
        return power

    def sample(self, load: np.ndarray, gpus: GpuReadings) -> None:
        """The collectors' samples of this step, stamped at its end."""
        percent = load / np.stack([self.vcpus, self.memory_mb], axis=1) * 100
        self.last_cpu_percent = percent[:, 0]
        self.gpu_delivered = gpus.delivered
        if self.hosts_history is None:
            return
        stamp = self.now + self.trace.step
        self.hosts_history.add(stamp, percent)
        if len(self.mining_hosts):
            self.mining_history.add(stamp,
                                    self._mining_rows(gpus, self.step))
        t, on = self.step, self.host_of >= 0
        values = np.full((len(self.host_of), 2), np.nan)
        values[on, 0] = (self.trace.cpu[on, t]
                         / self.vcpus[self.host_of[on]] * 100.0)
        values[on, 1] = self.trace.rss_mb[on, t]
        self.instances_history.add(stamp, values, on)

    def _mining_rows(self, gpus: GpuReadings,
                     step: int) -> np.ndarray:
        """The mining metrics the controller would derive, per GPU or
        ASIC host, from the GPUs' readings and the miners' health at
        ``step``."""
        rows = np.full((len(self.mining_hosts), len(mining.METRICS)),
                       np.nan)
        chassis = self.chassis_power(gpus)
        for row, host in zip(rows, self.mining_hosts, strict=True):
            if self.gpu_total[host]:
                spec = self.fleet.hosts[host].gpu
                self._gpu_row(row, gpus, self.gpu_host == host,
                              spec.power_limit_w)
                if spec.chassis_base_w is not None:  # its BMC reads it
                    row[_MINING_COLUMN[mining.MiningMetric.CHASSIS_POWER]] = (
                        chassis[host])
                    row[_MINING_COLUMN[
                        mining.MiningMetric.CHASSIS_POWER_CAP]] = (
                        spec.chassis_cap_w)
            if self.asic_total[host]:
                self._asic_row(row, host, step)
        return rows

    def _gpu_row(self, row: np.ndarray, gpus: GpuReadings,
                 mine: np.ndarray, power_limit_w: float) -> None:
        """Fill ``row`` with a host's GPU metrics (``mine``: its GPUs,
        each limited to ``power_limit_w``)."""
        column, metric = _MINING_COLUMN, mining.MiningMetric
        free = mine & (self.gpu_guest == FREE)
        row[column[metric.GPU_COUNT]] = mine.sum()
        row[column[metric.GPU_FREE]] = free.sum()
        row[column[metric.GPU_UTILIZATION]] = (
            gpus.utilisation[mine].mean() * 100.0)
        row[column[metric.GPU_THERMAL_HEADROOM]] = (
            gpus.thermal_headroom[mine].min())
        row[column[metric.GPU_FREE_THERMAL_HEADROOM]] = (
            gpus.thermal_headroom[free].min() if free.any() else np.nan)
        row[column[metric.GPU_POWER_HEADROOM]] = (
            gpus.power_headroom[mine].min())
        row[column[metric.GPU_FREE_POWER_RISE]] = (
            gpus.power_headroom[free].max() / 100.0 * power_limit_w
            if free.any() else np.nan)
        row[column[metric.GPU_THROTTLED]] = gpus.throttled[mine].any()

    def _asic_row(self, row: np.ndarray, host: int, step: int) -> None:
        """Fill ``row`` with a host's ASIC metrics at ``step``."""
        column, metric = _MINING_COLUMN, mining.MiningMetric
        spec = self.fleet.hosts[host].asic
        mine = self.miner_host == host
        up = self.health.up[step, mine]
        ratio = self.health.hashrate_ratio[step, mine][up]
        row[column[metric.ASIC_COUNT]] = spec.count
        row[column[metric.ASIC_FREE]] = (
            up & (self.miner_guest[mine] == FREE)).sum()
        row[column[metric.ASIC_UNAVAILABLE]] = spec.count - up.sum()
        row[column[metric.ASIC_HARDWARE_ERRORS_PER_MIN]] = (
            self.health.errors_per_min[step, mine].sum())
        if up.any():
            hashrate = ratio.sum() * spec.hashrate_ghs
            row[column[metric.ASIC_HASHRATE]] = hashrate
            row[column[metric.ASIC_HASHRATE_RATIO]] = ratio.min()
            row[column[metric.HASHRATE_PER_WATT]] = (
                hashrate / (up.sum() * spec.power_w))

    def _start_history(self) -> None:
        s = self.settings
        depth = int(s.window // self.trace.step) + 1
        h, n = len(self.offers), len(self.host_of)
        self.hosts_history = history_mod.History(h, 2, s.window,
                                                 s.half_life, depth)
        self.mining_history = history_mod.History(
            len(self.mining_hosts), len(mining.METRICS), s.window,
            s.half_life, depth)
        self.instances_history = history_mod.History(n, 2, s.window,
                                                     s.half_life, depth)
        for k in range(depth - 1, -1, -1):
            stamp = -k * self.trace.step
            self.hosts_history.add(stamp, np.zeros((h, 2)))
            if len(self.mining_hosts):
                idle = self._gpus(np.zeros(len(self.gpu_host)), stamp)
                self.mining_history.add(stamp, self._mining_rows(idle, 0))

    def _make_snapshot(self) -> snapshot_mod.LoadSnapshot:
        if self.hosts_history is None:
            raise SimulationError('this policy keeps no load history')
        names = self.fleet.names
        hosts_summary = self.hosts_history.summaries()
        stats = np.full((len(names), len(snapshot_mod.HOST_METRICS),
                         hosts_summary.stats.shape[2]), np.nan)
        stats[:, _HOST_ROWS, :] = hosts_summary.stats
        mining_stats: dict[int, np.ndarray] = {}
        if len(self.mining_hosts):
            mined = self.mining_history.summaries().stats
            mining_stats = dict(zip(self.mining_hosts.tolist(), mined,
                                    strict=True))
        hosts = {
            name: snapshot_mod.HostView(
                newest=hosts_summary.newest[k],
                age=self.now - hosts_summary.newest[k],
                samples=int(hosts_summary.samples[k]), stats=stats[k],
                mining_stats=mining_stats.get(k))
            for k, name in enumerate(names)}
        summary = self.instances_history.summaries()
        # What each device lost at the last sample, the previous step's:
        # a miner of its baseline hashrate, a GPU of its work.
        lost = {scoring.Accelerator.ASIC: 1.0 - self.health.hashrate_ratio[
                    max(self.step - 1, 0)],
                scoring.Accelerator.GPU: 1.0 - self.gpu_delivered}
        instances = {}
        for i in np.flatnonzero((self.host_of >= 0) & (summary.samples > 0)):
            device, kind_lost = self.device_of[i], lost.get(self.wants[i])
            instances[self.trace.instances[i]] = snapshot_mod.InstanceView(
                newest=summary.newest[i], age=self.now - summary.newest[i],
                samples=int(summary.samples[i]), stats=summary.stats[i],
                host=names[self.host_of[i]],
                device_loss=(float(kind_lost[device])
                             if kind_lost is not None and device >= 0
                             else None))
        return snapshot_mod.LoadSnapshot(self.now, self.settings.window,
                                         hosts, instances)


def _events(trace: traces.Trace) -> tuple[list, list]:
    """Per step: the instances that arrive, and those that have left."""
    alive = trace.alive
    first = np.argmax(alive, axis=1)
    last = alive.shape[1] - 1 - np.argmax(alive[:, ::-1], axis=1)
    arrivals = [[] for _ in range(trace.steps)]
    departures = [[] for _ in range(trace.steps + 1)]
    for i in np.flatnonzero(alive.any(axis=1)):
        arrivals[first[i]].append(int(i))
        departures[last[i] + 1].append(int(i))
    return arrivals, departures


def simulate(trace: traces.Trace, fleet: fleet_mod.Fleet,
             policy: 'policies.Policy', settings: Settings = DEFAULTS) -> Run:
    """Replay ``trace`` on ``fleet`` under ``policy`` (a fresh one)."""
    started = time.perf_counter()
    world = World(trace, fleet, settings, policy.uses_history)
    arrivals, departures = _events(trace)
    replans = policy.replans and settings.replan_interval > 0
    replan_every = max(1, round(settings.replan_interval / trace.step))
    h, steps = len(fleet.hosts), trace.steps
    cpu, memory = np.zeros((steps, h)), np.zeros((steps, h))
    active = np.zeros((steps, h), dtype=bool)
    g, a = len(world.gpu_host), len(world.miner_host)
    gpu_held = np.zeros((steps, g), dtype=bool)
    gpu_work, gpu_delivered = np.zeros((steps, g)), np.zeros((steps, g))
    gpu_headroom = np.zeros((steps, g))
    chassis_power = np.zeros((steps, h))
    asic_held = np.zeros((steps, a), dtype=bool)
    asic_ratio = np.zeros((steps, a))
    plan_seconds, no_room, refused = [], 0, 0
    for t in range(steps):
        world.begin_step(t)
        for i in departures[t]:
            world.leave(i)
        if policy.releases:
            world.release_idle()
        if replans and t and t % replan_every == 0:
            planning = time.perf_counter()
            policy.replan(world)
            plan_seconds.append(time.perf_counter() - planning)
        for i in arrivals[t]:
            room = world.room(i)
            fits = bool(room.any())
            if not fits:
                if not world.compatible(i).any():
                    raise SimulationError(
                        f'{trace.instances[i]} needs a '
                        f'{world.wants[i].value} host; the fleet has none')
                no_room += 1
                continue
            host = policy.place(world, i, room)
            if host is None:
                refused += 1
                continue
            world.boot(i, host)
        placed = world.host_of >= 0
        active[t] = np.bincount(world.host_of[placed], minlength=h) > 0
        load = world.load()
        # After a cold migration that ended: the guest's new device.
        gpu_held[t] = world.gpu_guest >= 0
        asic_held[t] = world.miner_guest >= 0
        gpus = world.gpus()
        cpu[t] = load[:, 0] / world.vcpus
        memory[t] = load[:, 1] / world.memory_mb
        gpu_work[t] = world.gpu_work()
        gpu_delivered[t] = gpus.delivered * world.up_share(world.gpu_guest)
        asic_ratio[t] = (world.health.hashrate_ratio[t]
                         * world.up_share(world.miner_guest))
        gpu_headroom[t] = gpus.thermal_headroom
        chassis_power[t] = world.chassis_power(gpus)
        world.sample(load, gpus)
    return Run(policy=policy.name, step=trace.step, hosts=fleet.names,
               kinds=fleet.kinds, cpu=cpu, memory=memory,
               vcpus=fleet.vcpus, active=active,
               cost_per_hour=fleet.cost_per_hour,
               gpu_host=world.gpu_host, gpu_held=gpu_held,
               gpu_work=gpu_work, gpu_delivered=gpu_delivered,
               gpu_headroom=gpu_headroom, chassis_power=chassis_power,
               asic_held=asic_held,
               asic_ratio=asic_ratio,
               migrations=tuple(world.migrations),
               plan_seconds=tuple(plan_seconds),
               boots=sum(len(a) for a in arrivals), no_room_boots=no_room,
               refused_boots=refused,
               refused_migrations=world.refused_migrations,
               seconds=time.perf_counter() - started)
