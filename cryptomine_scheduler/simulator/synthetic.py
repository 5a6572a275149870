"""Seeded synthetic workloads for a simulation without a trace.

Every instance follows one :class:`Profile`:

* ``cpu-miner``: a CPU-mined coin (RandomX-like): every vCPU near 100 %,
  with short pauses when the pool or the coin switches;
* ``gpu-miner``: one GPU near 100 % with dips when the miner restarts,
  little CPU, on a GPU host (not live-migratable);
* ``asic-miner``: one ASIC miner of an ASIC host, driven by a small
  guest (a few % of its vCPUs; not live-migratable);
* ``bursty``: a tenant idling at a few % with bursts to most of its
  vCPUs lasting tens of minutes;
* ``diurnal``: a service following the day (a peak in the afternoon)
  with noise.

Memory use is a share of the flavor that creeps up slowly.  Some
instances run from the start; the others arrive at random times and
every one leaves after a random lifetime (or at the end).  The same seed
gives the same trace.  :func:`fleet` gives hosts for it: CPU hosts, GPU
hosts, a row of which runs hotter and warms over the day (thermal
drift), and ASIC hosts whose miners die, sag and err now and then
(:data:`FAILURES`), sized so the trace loads them to about 60 %.
"""

import dataclasses
import enum
import math

import numpy as np

from cryptomine_scheduler.placement.scoring import Accelerator
from cryptomine_scheduler.simulator import fleet as fleet_mod
from cryptomine_scheduler.simulator import traces

STEP = 300.0
DAY_STEPS = round(fleet_mod.DAY / STEP)


class Profile(enum.Enum):
    CPU_MINER = 'cpu-miner'
    GPU_MINER = 'gpu-miner'
    ASIC_MINER = 'asic-miner'
    BURSTY = 'bursty'
    DIURNAL = 'diurnal'


#: Share of instances of each profile by default.
DEFAULT_MIX = {Profile.CPU_MINER: 0.20, Profile.GPU_MINER: 0.15,
               Profile.ASIC_MINER: 0.15, Profile.BURSTY: 0.25,
               Profile.DIURNAL: 0.25}
#: Flavors (vCPUs, MiB) a profile draws from.
FLAVORS = {
    Profile.CPU_MINER: ((4, 4096), (8, 8192)),
    Profile.GPU_MINER: ((4, 16384),),
    Profile.ASIC_MINER: ((2, 4096),),
    Profile.BURSTY: ((1, 2048), (2, 4096), (4, 8192)),
    Profile.DIURNAL: ((2, 4096), (4, 8192)),
}


#: What a GPU host's chassis draws besides its GPUs (W), as its BMC
#: reads it: CPUs, memory, fans and power-supply losses of a 16-core
#: server.
CHASSIS_BASE_W = 450.0
#: Failure injection of the ASIC hosts' miners (:class:`.fleet.AsicSpec`
#: fields): per miner and day, 0.1 deaths and 0.15 sags (to 30-60 % of
#: the baseline) of 6 h on average, and 0.1 error bursts of 2 h.
FAILURES = {'failure_rate_per_day': 0.1, 'down_hours': 6.0,
            'sag_rate_per_day': 0.15, 'sag_hours': 6.0,
            'error_rate_per_day': 0.1, 'error_hours': 2.0}
_KIND = {Profile.GPU_MINER: Accelerator.GPU,
         Profile.ASIC_MINER: Accelerator.ASIC}


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A synthetic trace and the fleet it was made for."""

    trace: traces.Trace
    fleet: fleet_mod.Fleet


def _cpu_miner(rng, steps: int) -> np.ndarray:
    level = rng.uniform(0.92, 1.0) + rng.normal(0, 0.02, steps)
    pauses = rng.random(steps) < 0.02
    return np.clip(np.where(pauses, rng.uniform(0, 0.2, steps), level),
                   0, 1)


def _gpu_miner(rng, steps: int) -> np.ndarray:
    return np.clip(rng.uniform(0.04, 0.1) + rng.normal(0, 0.01, steps),
                   0, 1)


def _asic_miner(rng, steps: int) -> np.ndarray:
    return np.clip(rng.uniform(0.02, 0.06) + rng.normal(0, 0.005, steps),
                   0, 1)


def _bursty(rng, steps: int) -> np.ndarray:
    on, level = False, np.empty(steps)
    start_p, stop_p = rng.uniform(0.01, 0.04), rng.uniform(0.1, 0.3)
    high = rng.uniform(0.6, 1.0)
    for t in range(steps):
        on = rng.random() < (1 - stop_p if on else start_p)
        level[t] = high if on else 0.03
    return np.clip(level + rng.normal(0, 0.02, steps), 0, 1)


def _diurnal(rng, steps: int, offset: int) -> np.ndarray:
    phase = 2 * math.pi * (np.arange(offset, offset + steps) / DAY_STEPS
                           - 0.375)  # peak at 15:00
    mean, swing = rng.uniform(0.2, 0.4), rng.uniform(0.1, 0.3)
    return np.clip(mean + swing * np.sin(phase)
                   + rng.normal(0, 0.05, steps), 0, 1)


def _gpu_series(rng, steps: int) -> np.ndarray:
    dips = rng.random(steps) < 0.01
    busy = np.clip(rng.uniform(97, 100) + rng.normal(0, 1, steps), 0, 100)
    return np.where(dips, rng.uniform(0, 30, steps), busy)


def generate(seed: int = 0, instances: int = 300, hours: float = 24.0,
             mix: dict[Profile, float] | None = None,
             present: float = 0.7) -> traces.Trace:
    """A trace of ``instances`` instances over ``hours``; a ``present``
    share of them run from the start (module docstring)."""
    mix = mix or DEFAULT_MIX
    rng = np.random.default_rng(seed)
    steps = max(1, round(hours * 3600 / STEP))
    profiles = list(mix)
    shares = np.array([mix[p] for p in profiles], dtype=float)
    drawn = rng.choice(len(profiles), size=instances, p=shares / shares.sum())
    cpu = np.full((instances, steps), np.nan)
    rss = np.full((instances, steps), np.nan)
    gpu = np.full((instances, steps), np.nan)
    vcpus = np.zeros(instances, dtype=np.int64)
    memory = np.zeros(instances)
    kinds: list[Accelerator | None] = []
    for i, k in enumerate(drawn):
        profile = profiles[k]
        flavors = FLAVORS[profile]
        vcpus[i], memory[i] = flavors[rng.integers(len(flavors))]
        arrive = 0 if rng.random() < present else int(rng.integers(steps))
        lifetime = int(rng.lognormal(math.log(DAY_STEPS / 2), 1.0)) + 1
        life = slice(arrive, min(steps, arrive + lifetime))
        length = life.stop - life.start
        if profile is Profile.CPU_MINER:
            share = _cpu_miner(rng, length)
        elif profile is Profile.GPU_MINER:
            share = _gpu_miner(rng, length)
            gpu[i, life] = _gpu_series(rng, length)
        elif profile is Profile.ASIC_MINER:
            share = _asic_miner(rng, length)
        elif profile is Profile.BURSTY:
            share = _bursty(rng, length)
        else:
            share = _diurnal(rng, length, arrive)
        cpu[i, life] = share * vcpus[i]
        used = rng.uniform(0.4, 0.8)
        creep = np.linspace(0, rng.uniform(0, 0.15), length)
        rss[i, life] = memory[i] * np.clip(used + creep, 0, 1)
        kinds.append(_KIND.get(profile))
    return traces.Trace(
        step=STEP, start=0.0,
        instances=tuple(f'{profiles[k].value}-{i:04d}'
                        for i, k in enumerate(drawn)),
        vcpus=vcpus, memory_mb=memory, accelerators=tuple(kinds),
        cpu=cpu, rss_mb=rss, gpu=gpu)


def _hosts_for(trace: traces.Trace, kind: Accelerator, devices: int,
              load: float) -> int:
    """Hosts of ``devices`` devices enough for the instances of ``trace``
    asking for ``kind`` at about ``load``."""
    wants = np.array([k is kind for k in trace.accelerators])
    at_once = (trace.alive & wants[:, None]).sum(axis=0).max(initial=0)
    return math.ceil(at_once / devices / load) if at_once else 0


def fleet(trace: traces.Trace, seed: int = 0, load: float = 0.6,
          gpus_per_host: int = 8, miners_per_host: int = 5,
          failures: dict | None = None) -> fleet_mod.Fleet:
    """CPU hosts of 32 vCPUs and 128 GiB, GPU hosts of 16 vCPUs and
    ``gpus_per_host`` GPUs and ASIC hosts of 8 vCPUs, 32 GiB and
    ``miners_per_host`` miners, enough of each for ``trace`` at about
    ``load``; a third of the GPU hosts (at least one) sit in a hot row
    (+4 to +8 degC, warming up to 2 degC a day); the room swings by
    2 degC over the day; each GPU host's BMC reads its chassis power
    (:data:`CHASSIS_BASE_W` besides its GPUs).  The miners fail as
    ``failures`` says
    (:class:`.fleet.AsicSpec` fields; default :data:`FAILURES`), seeded
    by ``seed``."""
    rng = np.random.default_rng(seed)
    gpu_hosts = _hosts_for(trace, Accelerator.GPU, gpus_per_host, load)
    asic_hosts = _hosts_for(trace, Accelerator.ASIC, miners_per_host, load)
    busy = np.nansum(trace.cpu, axis=0).mean()
    cpu_hosts = max(1, math.ceil((busy / load - 16 * gpu_hosts) / 32))
    hosts = list(fleet_mod.uniform(cpu_hosts, 32, 131072,
                                   cpu_allocation_ratio=4.0).hosts)
    hot = max(1, gpu_hosts // 3)
    for h in range(gpu_hosts):
        spec = fleet_mod.GpuSpec(
            count=gpus_per_host, chassis_base_w=CHASSIS_BASE_W,
            ambient_c=rng.uniform(4, 8) if h < hot else 0.0,
            ambient_swing_c=2.0,
            drift_c_per_day=rng.uniform(0, 2) if h < hot else 0.0)
        hosts.append(fleet_mod.HostSpec(
            name=f'gpu-{h:03d}', vcpus=16, memory_mb=131072,
            cpu_allocation_ratio=4.0, gpu=spec))
    asic = fleet_mod.AsicSpec(count=miners_per_host, seed=seed,
                              **(FAILURES if failures is None
                                 else failures))
    hosts += [fleet_mod.HostSpec(name=f'asic-{h:03d}', vcpus=8,
                                 memory_mb=32768, cpu_allocation_ratio=4.0,
                                 asic=asic)
              for h in range(asic_hosts)]
    return fleet_mod.Fleet(tuple(hosts))


def scenario(seed: int = 0, instances: int = 300,
             hours: float = 24.0) -> Scenario:
    """A mining mix and its fleet, from one seed."""
    trace = generate(seed, instances, hours)
    return Scenario(trace, fleet(trace, seed))


#: The tenants of :func:`burst_peak`: CPU ones only.
PEAK_MIX = {Profile.CPU_MINER: 0.3, Profile.BURSTY: 0.35,
            Profile.DIURNAL: 0.35}
#: The burst pool of :func:`burst_peak`: the cost an hour of each group
#: of hosts of 32 vCPUs and 128 GiB, a group per quarter of the home
#: hosts.
BURST_COSTS = (1.5, 2.5)
#: The share of the home hosts' vCPUs the wave of :func:`burst_peak`
#: asks.
WAVE = 0.5


def _wave(rng, count: int, steps: int, peak: slice) -> traces.Trace:
    """``count`` CPU miners of 8 vCPUs and 8 GiB arriving over the first
    hour of ``peak`` and leaving over its last hour."""
    ramp = max(1, round(3600 / STEP))
    cpu = np.full((count, steps), np.nan)
    rss = np.full((count, steps), np.nan)
    for i in range(count):
        arrive = peak.start + int(rng.integers(ramp))
        leave = min(steps, max(arrive + 1, peak.stop - int(rng.integers(
            ramp))))
        cpu[i, arrive:leave] = 8 * _cpu_miner(rng, leave - arrive)
        rss[i, arrive:leave] = 8192 * rng.uniform(0.4, 0.8)
    return traces.Trace(
        step=STEP, start=0.0,
        instances=tuple(f'peak-miner-{i:04d}' for i in range(count)),
        vcpus=np.full(count, 8), memory_mb=np.full(count, 8192.0),
        accelerators=(None,) * count, cpu=cpu, rss_mb=rss,
        gpu=np.full((count, steps), np.nan))


def burst_peak(seed: int = 0, instances: int = 200,
               hours: float = 24.0) -> Scenario:
    """A day of ``instances`` CPU tenants (:data:`PEAK_MIX`) on home
    hosts of 32 vCPUs loaded to about 55 % on average, and a wave of CPU
    miners from 10:00 to 16:00 of the day (the same share of ``hours``)
    asking :data:`WAVE` of the home hosts' vCPUs more: more than home
    takes within the CPU threshold.  The fleet adds a burst pool
    (:data:`BURST_COSTS`)."""
    base = generate(seed, instances, hours, PEAK_MIX)
    steps = base.steps
    busy = np.nansum(base.cpu, axis=0).mean()
    home = fleet_mod.uniform(max(1, math.ceil(busy / 0.55 / 32)), 32,
                             131072, cpu_allocation_ratio=4.0)
    wave = _wave(np.random.default_rng([seed, 1]),
                 math.ceil(WAVE * home.vcpus.sum() / 8), steps,
                 slice(round(steps * 10 / 24), round(steps * 16 / 24)))
    trace = traces.Trace(
        step=STEP, start=0.0, instances=base.instances + wave.instances,
        vcpus=np.concatenate([base.vcpus, wave.vcpus]),
        memory_mb=np.concatenate([base.memory_mb, wave.memory_mb]),
        accelerators=base.accelerators + wave.accelerators,
        cpu=np.concatenate([base.cpu, wave.cpu]),
        rss_mb=np.concatenate([base.rss_mb, wave.rss_mb]),
        gpu=np.concatenate([base.gpu, wave.gpu]))
    pool = tuple(
        fleet_mod.HostSpec(name=f'burst-{g}-{i:03d}', vcpus=32,
                           memory_mb=131072, cpu_allocation_ratio=4.0,
                           cost_per_hour=cost)
        for g, cost in enumerate(BURST_COSTS)
        for i in range(math.ceil(len(home.hosts) / 4)))
    return Scenario(trace, fleet_mod.Fleet(home.hosts + pool))
