"""The rules of :mod:`.scoring` over many hosts at once.

nova's scheduler judges every host for every request; at thousands of
hosts a Python call per host and rule is most of the plugin's cost.
Here the estimates of a request's hosts are numpy columns
(:class:`Columns`, :class:`Limits`) and :func:`overage`,
:func:`refused` and :func:`score` apply the rules of their namesakes in
:mod:`.scoring` to all of them in a few array operations, term by term
in the same order, so that the results are the same to the last bit.
:mod:`.scoring` stays the reference and says *why* a host is refused;
a test holds the two to the same answers.
"""

import dataclasses

import numpy as np

from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.placement.scoring import Accelerator

#: Accelerator kinds as bits of a mask, a host's kinds their sum.
KIND_BITS = {Accelerator.CPU: 1, Accelerator.GPU: 2, Accelerator.ASIC: 4}
_DEVICE_BITS = KIND_BITS[Accelerator.GPU] | KIND_BITS[Accelerator.ASIC]


def kind_mask(kinds: frozenset[Accelerator] | None) -> int:
    """The bit mask of ``kinds`` (0 for none)."""
    return sum(KIND_BITS[k] for k in kinds or ())


@dataclasses.dataclass(frozen=True)
class Columns:
    """Estimates of several hosts: a column per numeric field of
    :class:`.scoring.Estimate` and of its :class:`.scoring.Devices`,
    and the kinds (``accelerators``, ``devices.counted``) as masks."""

    cpu_percent: np.ndarray
    mem_percent: np.ndarray
    gpu_thermal_headroom_c: np.ndarray
    gpu_power_headroom_percent: np.ndarray
    asic_errors_per_min: np.ndarray
    inlet_temperature_c: np.ndarray
    chassis_power_w: np.ndarray
    chassis_power_cap_w: np.ndarray
    gpu_count: np.ndarray
    gpu_free: np.ndarray
    gpu_free_thermal_headroom_c: np.ndarray
    gpu_free_power_rise_w: np.ndarray
    gpu_utilization_percent: np.ndarray
    asic_count: np.ndarray
    asic_free: np.ndarray
    asic_hashrate_ratio: np.ndarray
    hashrate_per_watt: np.ndarray
    kinds: np.ndarray
    counted: np.ndarray

    @classmethod
    def of(cls, estimates: list[scoring.Estimate]) -> 'Columns':
        """The columns of ``estimates``, in their order."""
        count = len(estimates)
        columns = {}
        for name in _ESTIMATE_FIELDS:
            columns[name] = np.fromiter(
                (getattr(e, name) for e in estimates), float, count)
        for name in _DEVICE_FIELDS:
            columns[name] = np.fromiter(
                (getattr(e.devices, name) for e in estimates), float, count)
        columns['kinds'] = np.fromiter(
            (kind_mask(e.accelerators) for e in estimates), np.uint8, count)
        columns['counted'] = np.fromiter(
            (kind_mask(e.devices.counted) for e in estimates), np.uint8,
            count)
        return cls(**columns)

    def take(self, rows: np.ndarray) -> 'Columns':
        """The hosts at ``rows``, in that order."""
        return Columns(**{name: column[rows]
                          for name, column in vars(self).items()})

    def with_load(self, cpu_percent: np.ndarray, mem_percent: np.ndarray,
                  declared: np.ndarray) -> 'Columns':
        """These hosts with CPU and memory added (as
        :func:`.scoring.with_load`) and offering what their aggregates
        declare (mask ``declared``, 0 where none; as
        :func:`.scoring.offered`)."""
        return dataclasses.replace(
            self, cpu_percent=self.cpu_percent + cpu_percent,
            mem_percent=self.mem_percent + mem_percent,
            kinds=np.where(declared != 0, declared | self.counted,
                           self.kinds).astype(np.uint8))

    def with_busy_gpus(self, gpus: np.ndarray) -> 'Columns':
        """These hosts with the draw of ``gpus`` free GPUs worked to
        their limit added to their chassis' (as
        :func:`.scoring.with_busy_gpus`)."""
        if not gpus.any():
            return self
        rise = self.gpu_free_power_rise_w
        return dataclasses.replace(self, chassis_power_w=np.where(
            (gpus != 0) & ~np.isnan(rise),
            self.chassis_power_w + gpus * rise, self.chassis_power_w))


_ESTIMATE_FIELDS = ('cpu_percent', 'mem_percent', 'gpu_thermal_headroom_c',
                    'gpu_power_headroom_percent', 'asic_errors_per_min',
                    'inlet_temperature_c', 'chassis_power_w',
                    'chassis_power_cap_w')
_DEVICE_FIELDS = tuple(f.name for f in dataclasses.fields(scoring.Devices)
                       if f.name != 'counted')


@dataclasses.dataclass(frozen=True)
class Limits:
    """:class:`.scoring.Thresholds` of several hosts, a column each."""

    max_cpu_percent: np.ndarray
    max_mem_percent: np.ndarray
    min_gpu_thermal_headroom_c: np.ndarray
    min_gpu_power_headroom_percent: np.ndarray
    max_asic_errors_per_min: np.ndarray
    min_asic_hashrate_ratio: np.ndarray
    max_inlet_temperature_c: np.ndarray
    max_chassis_power_w: np.ndarray

    @classmethod
    def of(cls, thresholds: list[scoring.Thresholds],
           rows: np.ndarray) -> 'Limits':
        """Host ``i`` under ``thresholds[rows[i]]``."""
        return cls(**{
            f.name: np.array([getattr(t, f.name) for t in thresholds],
                             float)[rows]
            for f in dataclasses.fields(scoring.Thresholds)})


def power_budget(est: Columns, limits: Limits) -> np.ndarray:
    """:func:`.scoring.power_budget` of each host (0: none)."""
    budget, cap = limits.max_chassis_power_w, est.chassis_power_cap_w
    return np.where((cap > 0) & ~((budget > 0) & (budget <= cap)), cap,
                    budget)


def overage(est: Columns, limits: Limits) -> np.ndarray:
    """:func:`.scoring.overage` of each host (NaN readings ignored)."""
    return np.fmax(0.0, np.fmax(
        (est.cpu_percent - limits.max_cpu_percent) / 100.0,
        (est.mem_percent - limits.max_mem_percent) / 100.0))


def over_capacity(est: Columns, limits: Limits) -> np.ndarray:
    """Hosts over their CPU or memory threshold
    (:func:`.scoring.capacity_violations` not empty)."""
    return ((est.cpu_percent > limits.max_cpu_percent)
            | (est.mem_percent > limits.max_mem_percent))


def refused(est: Columns, limits: Limits, demand: scoring.Demand,
            hard_overload: np.ndarray) -> np.ndarray:
    """Hosts :func:`.scoring.refusal` refuses (without the burst guard,
    which depends on the host's aggregates alone)."""
    out = (est.kinds & KIND_BITS[demand.accelerator]) == 0 if (
        demand.accelerator is not None) else np.zeros(len(est.kinds), bool)
    power, wanted = est.chassis_power_w, demand.devices
    if demand.uses_gpu:
        out |= est.gpu_free < wanted
        power = power + wanted * np.nan_to_num(est.gpu_free_power_rise_w,
                                               nan=0.0)
    elif demand.uses_asic:
        out |= ((est.asic_free < wanted)
                | (est.asic_hashrate_ratio < limits.min_asic_hashrate_ratio))
    out |= est.gpu_thermal_headroom_c < limits.min_gpu_thermal_headroom_c
    out |= (est.gpu_power_headroom_percent
            < limits.min_gpu_power_headroom_percent)
    out |= est.asic_errors_per_min > limits.max_asic_errors_per_min
    out |= est.inlet_temperature_c > limits.max_inlet_temperature_c
    budget = power_budget(est, limits)
    out |= (budget > 0) & (power > budget)
    return out | (hard_overload & over_capacity(est, limits))


def _clamp(values: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(values, 0.0), 1.0)


def _occupancy(free: np.ndarray, count: np.ndarray) -> np.ndarray:
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(count > 0, 1.0 - free / count, np.nan)


def _device_terms(est: Columns, weights: scoring.Weights,
                  demand: scoring.Demand):
    """(weight, pressure column) of the accelerator terms
    :func:`.scoring.score` weighs for ``demand``, in its order."""
    terms = []
    if demand.uses_gpu:
        thermal = np.where(np.isnan(est.gpu_free_thermal_headroom_c),
                           est.gpu_thermal_headroom_c,
                           est.gpu_free_thermal_headroom_c
                           - scoring.GPU_BUSY_RISE_C)
        terms += [
            (weights.gpu_thermal,
             _clamp((scoring.THERMAL_SCALE_C - thermal)
                    / scoring.THERMAL_RANGE_C)),
            (weights.gpu_power,
             1.0 - _clamp(est.gpu_power_headroom_percent / 100.0)),
            (weights.gpu_utilization, est.gpu_utilization_percent / 100.0),
            (weights.free_devices, _occupancy(est.gpu_free, est.gpu_count))]
    elif demand.uses_asic:
        terms += [
            (weights.free_devices, _occupancy(est.asic_free, est.asic_count)),
            (weights.asic_hashrate, 1.0 - _clamp(est.asic_hashrate_ratio)),
            (weights.asic_efficiency, 1.0 - _clamp(
                est.hashrate_per_watt / scoring.HASHRATE_PER_WATT_SCALE))]
    return terms


def score(est: Columns, weights: scoring.Weights, demand: scoring.Demand,
          over: np.ndarray, burst_cost: np.ndarray) -> np.ndarray:
    """:func:`.scoring.score` of each host; ``burst_cost`` NaN for a host
    of the operator's own."""
    count = len(est.kinds)
    total = np.zeros(count)
    weighted = np.zeros(count)
    # CPU and memory as the scalar rule rounds them: w * percent / 100.
    terms = [(weights.cpu, est.cpu_percent,
              weights.cpu * est.cpu_percent / 100.0),
             (weights.memory, est.mem_percent,
              weights.memory * est.mem_percent / 100.0)]
    terms += [(weight, pressure, weight * pressure) for weight, pressure
              in _device_terms(est, weights, demand)]
    for weight, reading, term in terms:
        if weight > 0:
            known = ~np.isnan(reading)
            total += np.where(known, weight, 0.0)
            weighted += np.where(known, term, 0.0)
    penalty = np.zeros(count)
    if demand.plain:
        penalty += np.where(est.kinds & _DEVICE_BITS,
                            demand.accelerator_penalty, 0.0)
    rented = ~np.isnan(burst_cost)
    penalty += np.where(rented, scoring.BURST_PENALTY
                        + scoring.BURST_COST_WEIGHT
                        * (burst_cost / (burst_cost + 1.0)), 0.0)
    penalty += np.where(
        over > 0,
        scoring.OVERLOAD_PENALTY + demand.accelerator_penalty + over, 0.0)
    with np.errstate(divide='ignore', invalid='ignore'):
        pressure = np.where(total != 0, weighted / total, 0.0)
    return -pressure - penalty
