"""The load model shared by the filter, the weigher and the planner.

A host's *predicted* load is risk-aware: for each resource it takes the
higher of the EWMA (reacts quickly to a rising load) and the window mean
(remembers the history), plus ``k`` standard deviations::

    cpu = max(ewma, mean) + k * std + pending_cpu        (% of the host)
    mem = max(ewma, mean) + k * std + pending_mem        (% of the host)

Mining headrooms are bounded from below the same way::

    thermal = min(ewma, mean) - k * std                  (degC to slowdown)
    power   = min(ewma, mean) - k * std                  (% of the limit)

and the ASIC hardware-error rate is its window mean (errors per minute).
Readings a host does not have are NaN and are neither checked nor
weighed.  The score is the weighted mean pressure, negated so that higher
is better::

    score = -sum(w_r * pressure_r) / sum(w_r)   over the known resources
    pressure = cpu / 100, mem / 100,
               1 - clamp(thermal / THERMAL_SCALE_C), 1 - clamp(power / 100)
"""

import dataclasses
import enum
import math

from cryptomine_scheduler import snapshot
from cryptomine_scheduler.mining import MiningMetric
from cryptomine_scheduler.sample import HostMetric
from cryptomine_scheduler.summaries import Stat

THERMAL_SCALE_C = 30.0


class Accelerator(enum.Enum):
    """What a host offers and a flavor may ask for."""

    CPU = 'cpu'
    GPU = 'gpu'
    ASIC = 'asic'


@dataclasses.dataclass(frozen=True)
class Credit:
    """Load expected from boots the snapshot does not show yet."""

    cpu_percent: float = 0.0
    mem_percent: float = 0.0


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Limits a host must respect to pass the filter."""

    max_cpu_percent: float
    max_mem_percent: float
    min_gpu_thermal_headroom_c: float
    min_gpu_power_headroom_percent: float
    max_asic_errors_per_min: float


@dataclasses.dataclass(frozen=True)
class Weights:
    """Relative importance of each resource in the score."""

    cpu: float
    memory: float
    gpu_thermal: float
    gpu_power: float


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A host's predicted load; NaN where it has no such reading."""

    cpu_percent: float
    mem_percent: float
    gpu_thermal_headroom_c: float
    gpu_power_headroom_percent: float
    asic_errors_per_min: float
    accelerators: frozenset[Accelerator]


def _upper(view, metric, k: float) -> float:
    return (max(view.metric(metric, Stat.EWMA), view.metric(metric, Stat.MEAN))
            + k * view.metric(metric, Stat.STD))


def _lower(view, metric, k: float) -> float:
    ewma = view.mining_metric(metric, Stat.EWMA)
    mean = view.mining_metric(metric, Stat.MEAN)
    return min(ewma, mean) - k * view.mining_metric(metric, Stat.STD)


def accelerators(view: snapshot.HostView) -> frozenset[Accelerator]:
    """The accelerator kinds a host reports (CPU when it has none)."""
    kinds = set()
    if view.mining_metric(MiningMetric.GPU_COUNT, Stat.LAST) > 0:
        kinds.add(Accelerator.GPU)
    if view.mining_metric(MiningMetric.ASIC_COUNT, Stat.LAST) > 0:
        kinds.add(Accelerator.ASIC)
    return frozenset(kinds or {Accelerator.CPU})


NO_CREDIT = Credit()


def with_credit(est: Estimate, credit: Credit) -> Estimate:
    """``est`` with the load of pending boots added."""
    if credit == NO_CREDIT:
        return est
    return dataclasses.replace(
        est, cpu_percent=est.cpu_percent + credit.cpu_percent,
        mem_percent=est.mem_percent + credit.mem_percent)


def estimate(view: snapshot.HostView, k: float,
             credit: Credit = NO_CREDIT) -> Estimate:
    """Predict a host's load from its summary (see the module docstring)."""
    return with_credit(Estimate(
        cpu_percent=_upper(view, HostMetric.CPU_PERCENT, k),
        mem_percent=_upper(view, HostMetric.MEM_PERCENT, k),
        gpu_thermal_headroom_c=_lower(
            view, MiningMetric.GPU_THERMAL_HEADROOM, k),
        gpu_power_headroom_percent=_lower(
            view, MiningMetric.GPU_POWER_HEADROOM, k),
        asic_errors_per_min=view.mining_metric(
            MiningMetric.ASIC_HARDWARE_ERRORS_PER_MIN, Stat.MEAN),
        accelerators=accelerators(view)), credit)


def violations(est: Estimate, limits: Thresholds) -> list[str]:
    """Why ``est`` breaks ``limits``; empty when the host passes.

    A value exactly at its limit passes.
    """
    found = []
    checks = (
        ('cpu', est.cpu_percent, limits.max_cpu_percent, True),
        ('memory', est.mem_percent, limits.max_mem_percent, True),
        ('GPU thermal headroom', est.gpu_thermal_headroom_c,
         limits.min_gpu_thermal_headroom_c, False),
        ('GPU power headroom', est.gpu_power_headroom_percent,
         limits.min_gpu_power_headroom_percent, False),
        ('ASIC hardware errors/min', est.asic_errors_per_min,
         limits.max_asic_errors_per_min, True),
    )
    for name, value, limit, is_maximum in checks:
        if math.isnan(value):
            continue
        if (value > limit) if is_maximum else (value < limit):
            relation = '>' if is_maximum else '<'
            found.append(f'{name} {value:.1f} {relation} {limit:g}')
    return found


def _clamp(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def score(est: Estimate, weights: Weights) -> float:
    """Higher is better: minus the weighted mean resource pressure."""
    terms = (
        (weights.cpu, est.cpu_percent / 100.0),
        (weights.memory, est.mem_percent / 100.0),
        (weights.gpu_thermal,
         1.0 - _clamp(est.gpu_thermal_headroom_c / THERMAL_SCALE_C)),
        (weights.gpu_power,
         1.0 - _clamp(est.gpu_power_headroom_percent / 100.0)),
    )
    known = [(w, p) for w, p in terms if w > 0 and not math.isnan(p)]
    total = sum(w for w, _ in known)
    if not total:
        return 0.0
    return -sum(w * p for w, p in known) / total
