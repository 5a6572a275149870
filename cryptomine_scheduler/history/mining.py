"""Mining-aware load: what distinguishes a good GPU or ASIC host.

On a mining host the accelerators sit near 100 % all the time, so
utilisation alone cannot rank hosts.  :class:`MiningDeriver` turns each
sample's device readings into one row of host-level :class:`MiningMetric`
values (NaN where the host has no such device or the reading is absent):

* ``gpu_free``                    GPUs no guest uses
* ``gpu_thermal_headroom_c``      min over GPUs of (slowdown - temperature)
* ``gpu_free_thermal_headroom_c`` the same over the free GPUs: what a new
  guest would get
* ``gpu_power_headroom_percent``  min over GPUs of (limit - draw) / limit
* ``gpu_free_power_rise_w``       max over the free GPUs of (limit - draw):
  how much more the chassis draws once a new guest works one to its limit
* ``gpu_throttled``               1 if any GPU is held back by power or
  heat (NVML throttle bits in :data:`THROTTLE_MASK`), else 0; its mean
  over the summary window is the throttle-active fraction
* ``asic_free``                   miners up that no guest holds
* ``asic_hardware_errors_per_min`` sum over miners of the increase of
  their hardware-error counters since their previous sample (a counter
  that went down was reset and counts 0)
* ``asic_hashrate_ratio``         min over miners of 5-second hashrate /
  the miner's own baseline, an EWMA with a long half-life: a drop flags a
  sick device
* ``hashrate_per_watt``           total hashrate / total power of the
  miners reporting both (GH/s per W)
* ``inlet_temperature_c``, ``chassis_power_w``, ``chassis_power_cap_w``
  the chassis' readings of the host's BMC (Redfish or IPMI), as the
  sample's sensors carry them: the cap is the power limit the BMC holds
  the chassis to, 0 where a BMC read the chassis and holds it to none
  (so that a cap lifted ends at the next sample)

and, per guest holding a device (:meth:`MiningDeriver.guest_losses`),
the share of its devices' work it lost at its host's newest sample (the
mean over the devices it holds, for a rig of several), which tells
which guest of a host holds the sick device:

* a miner's guest: ``1 - clamp(ratio)`` of the miner's hashrate ratio
  above, 1 while the miner is down;
* a GPU's guests: while the GPU is throttled (:data:`THROTTLE_MASK`),
  the share of its SM clock baseline that throttling took away, the
  baseline an EWMA (same half-life) of its clock while neither throttled
  nor idle; 0 while not throttled.  Left out while NVML gives no clock
  or throttle reasons (a GPU read over Redfish), or before the GPU ran
  unthrottled once.
"""

import dataclasses
import enum
import math
import threading
from collections.abc import Mapping
from collections.abc import Sequence

from cryptomine_scheduler.telemetry import sample as sample_mod

# NVML clocks-event reasons that mean "slowed down": software power cap
# 0x4, hardware slowdown 0x8, software thermal 0x20, hardware thermal
# 0x40, hardware power brake 0x80.  Idle (0x1) and application clock
# settings (0x2) are not.
THROTTLE_MASK = 0x4 | 0x8 | 0x20 | 0x40 | 0x80
#: NVML's "GPU idle" clocks-event reason: a low clock, but no loss.
IDLE = 0x1
NAN = math.nan


class MiningMetric(enum.Enum):
    """Host-level mining metrics, one column each in the summaries."""

    GPU_COUNT = 'gpu_count'
    GPU_FREE = 'gpu_free'
    GPU_UTILIZATION = 'gpu_utilization_percent'
    GPU_THERMAL_HEADROOM = 'gpu_thermal_headroom_c'
    GPU_FREE_THERMAL_HEADROOM = 'gpu_free_thermal_headroom_c'
    GPU_POWER_HEADROOM = 'gpu_power_headroom_percent'
    GPU_THROTTLED = 'gpu_throttled'
    ASIC_COUNT = 'asic_count'
    ASIC_FREE = 'asic_free'
    ASIC_UNAVAILABLE = 'asic_unavailable'
    ASIC_HASHRATE = 'asic_hashrate_ghs'
    ASIC_HASHRATE_RATIO = 'asic_hashrate_ratio'
    ASIC_HARDWARE_ERRORS_PER_MIN = 'asic_hardware_errors_per_min'
    HASHRATE_PER_WATT = 'hashrate_per_watt'
    INLET_TEMPERATURE = 'inlet_temperature_c'
    CHASSIS_POWER = 'chassis_power_w'
    GPU_FREE_POWER_RISE = 'gpu_free_power_rise_w'
    CHASSIS_POWER_CAP = 'chassis_power_cap_w'


METRICS = tuple(MiningMetric)


def _known(values) -> list[float]:
    return [v for v in values if v is not None]


def _min(values) -> float:
    known = _known(values)
    return min(known) if known else NAN


def _max(values) -> float:
    known = _known(values)
    return max(known) if known else NAN


def _mean(values) -> float:
    known = _known(values)
    return sum(known) / len(known) if known else NAN


def _thermal_headroom(gpus) -> float:
    """The least headroom (degC to slowdown) of ``gpus``; NaN for none."""
    return _min(g.slowdown_temperature_c - g.temperature_c for g in gpus
                if None not in (g.slowdown_temperature_c, g.temperature_c))


def _cap(sensors: sample_mod.HostSensors) -> float | None:
    """The chassis' power cap: 0 where its BMC read it and caps nothing,
    None where no BMC read it."""
    if sensors.chassis_power_cap_w is None and (
            sensors.chassis_power_w is not None):
        return 0.0
    return sensors.chassis_power_cap_w


def gpu_values(gpus: tuple[sample_mod.GpuLoad, ...]) -> dict:
    """Host-level GPU metrics of one sample."""
    if not gpus:
        return {}
    throttles = _known(g.throttle_reasons for g in gpus)
    free = [g for g in gpus if not g.instances]
    return {
        MiningMetric.GPU_COUNT: float(len(gpus)),
        MiningMetric.GPU_FREE: float(len(free)),
        MiningMetric.GPU_UTILIZATION: _mean(
            g.utilization_percent for g in gpus),
        MiningMetric.GPU_THERMAL_HEADROOM: _thermal_headroom(gpus),
        MiningMetric.GPU_FREE_THERMAL_HEADROOM: _thermal_headroom(free),
        MiningMetric.GPU_POWER_HEADROOM: _min(
            (g.power_limit_w - g.power_w) / g.power_limit_w * 100.0
            for g in gpus if g.power_w is not None and g.power_limit_w),
        MiningMetric.GPU_FREE_POWER_RISE: _max(
            max(g.power_limit_w - g.power_w, 0.0) for g in free
            if g.power_w is not None and g.power_limit_w),
        MiningMetric.GPU_THROTTLED: (
            float(any(t & THROTTLE_MASK for t in throttles))
            if throttles else NAN),
    }


@dataclasses.dataclass
class _MinerState:
    """What the deriver remembers of one miner between samples."""

    seen_at: float
    baseline: float | None
    hardware_errors: int | None


@dataclasses.dataclass
class _ClockState:
    """A GPU's SM clock baseline, and when it was last updated."""

    seen_at: float
    baseline: float


def _ewma(baseline: float | None, value: float, seconds: float,
          half_life: float) -> float:
    """``baseline`` moved towards ``value`` over ``seconds``."""
    if baseline is None:
        return value
    return baseline + (1.0 - 2.0 ** (-seconds / half_life)) * (
        value - baseline)


class MiningDeriver:
    """Derives :class:`MiningMetric` rows and guests' losses, remembering
    each miner's and GPU's past."""

    def __init__(self, baseline_half_life: float):
        self.baseline_half_life = baseline_half_life
        self._miners: dict[tuple[str, str], _MinerState] = {}
        self._clocks: dict[tuple[str, str], _ClockState] = {}
        #: host -> (timestamp, {instance: loss}) of its newest sample
        self._guest_losses: dict[str, tuple[float, dict[str, float]]] = {}
        self._lock = threading.Lock()

    def learn_hashrates(self, readings: Mapping[
            tuple[str, str], Sequence[tuple[float, float]]]) -> None:
        """Start the baselines of miners not seen yet from earlier
        readings, ``{(host, miner): [(time, GH/s), ...]}`` oldest first:
        a restarted controller's baselines as they were, not restarted
        at what a sagging miner makes now."""
        with self._lock:
            for key, points in readings.items():
                if key in self._miners or not points:
                    continue
                baseline, seen_at = None, points[0][0]
                for at, hashrate in points:
                    baseline = _ewma(baseline, hashrate, at - seen_at,
                                     self.baseline_half_life)
                    seen_at = at
                self._miners[key] = _MinerState(seen_at, baseline, None)

    def guest_losses(self, host: str) -> dict[str, float]:
        """The loss (module docstring) of each guest of ``host`` holding a
        device, at the host's newest sample; guests whose device has no
        baseline yet are left out."""
        with self._lock:
            return self._guest_losses.get(host, (0.0, {}))[1]

    def derive(self, sample: sample_mod.LoadSample
               ) -> tuple[float, ...] | None:
        """Return the metric row of ``sample``, None if it has no devices."""
        if not sample.gpus and not sample.asics:
            return None
        values = gpu_values(sample.gpus)
        sensors = sample.sensors
        for metric, value in ((MiningMetric.INLET_TEMPERATURE,
                               sensors.inlet_temperature_c),
                              (MiningMetric.CHASSIS_POWER,
                               sensors.chassis_power_w),
                              (MiningMetric.CHASSIS_POWER_CAP,
                               _cap(sensors))):
            if value is not None:
                values[metric] = value
        with self._lock:
            losses = self._gpu_losses(sample)
            if sample.asics:
                values.update(self._asic_values(sample, losses))
            newest = self._guest_losses.get(sample.host)
            if newest is None or sample.timestamp > newest[0]:
                self._guest_losses[sample.host] = (sample.timestamp, {
                    guest: sum(each) / len(each)
                    for guest, each in losses.items()})
        return tuple(values.get(m, NAN) for m in METRICS)

    def _gpu_losses(self, sample: sample_mod.LoadSample
                    ) -> dict[str, list[float]]:
        """The loss (module docstring) of each GPU a guest holds, by
        guest; advances the GPUs' clock baselines."""
        losses: dict[str, list[float]] = {}
        for gpu in sample.gpus:
            reasons, clock = gpu.throttle_reasons, gpu.sm_clock_mhz
            if reasons is None or clock is None:
                continue
            key = (sample.host, gpu.pci_bus_id)
            state = self._clocks.get(key)
            if reasons & THROTTLE_MASK:
                if state is None or state.baseline <= 0.0:
                    continue
                loss = 1.0 - min(max(clock / state.baseline, 0.0), 1.0)
            else:
                loss = 0.0
                if not reasons & IDLE:
                    self._clock_seen(key, sample.timestamp, clock)
            for uuid in gpu.instances:
                losses.setdefault(uuid, []).append(loss)
        return losses

    def _clock_seen(self, key: tuple[str, str], now: float,
                    clock: float) -> None:
        """Move a GPU's clock baseline towards an unthrottled reading (a
        replayed older one leaves it)."""
        state = self._clocks.get(key)
        if state is None:
            self._clocks[key] = _ClockState(now, clock)
        elif now > state.seen_at:
            state.baseline = _ewma(state.baseline, clock,
                                   now - state.seen_at,
                                   self.baseline_half_life)
            state.seen_at = now

    def _asic_values(self, sample: sample_mod.LoadSample,
                     losses: dict[str, list[float]]) -> dict:
        """The host's ASIC metrics; each miner's loss added to its
        guest's ``losses``."""
        up = [a for a in sample.asics if a.available]
        ratios, error_rates = [], []
        for asic in sample.asics:
            if not asic.available:
                if asic.instance is not None:
                    losses.setdefault(asic.instance, []).append(1.0)
                continue
            ratio, rate = self._update(sample.host, sample.timestamp, asic)
            ratios.append(ratio)
            error_rates.append(rate)
            if asic.instance is not None and ratio is not None:
                losses.setdefault(asic.instance, []).append(
                    1.0 - min(max(ratio, 0.0), 1.0))
        hashrates = _known(a.hashrate_5s_ghs for a in up)
        both = [(a.hashrate_5s_ghs, a.power_w) for a in up
                if a.hashrate_5s_ghs is not None and a.power_w]
        return {
            MiningMetric.ASIC_COUNT: float(len(sample.asics)),
            MiningMetric.ASIC_FREE: float(sum(a.instance is None
                                              for a in up)),
            MiningMetric.ASIC_UNAVAILABLE: float(len(sample.asics)
                                                 - len(up)),
            MiningMetric.ASIC_HASHRATE: sum(hashrates) if hashrates else NAN,
            MiningMetric.ASIC_HASHRATE_RATIO: _min(ratios),
            MiningMetric.ASIC_HARDWARE_ERRORS_PER_MIN: (
                sum(_known(error_rates)) if _known(error_rates) else NAN),
            MiningMetric.HASHRATE_PER_WATT: (
                sum(h for h, _ in both) / sum(p for _, p in both)
                if both else NAN),
        }

    def _update(self, host: str, now: float, asic: sample_mod.AsicLoad):
        """Return (hashrate ratio, error rate) and advance the miner."""
        key = (host, asic.miner)
        state = self._miners.get(key)
        if state is None:
            self._miners[key] = _MinerState(now, asic.hashrate_5s_ghs,
                                            asic.hardware_errors)
            return None, None
        if now <= state.seen_at:
            return None, None  # replayed out of order: history only
        minutes = (now - state.seen_at) / 60.0
        rate = None
        if None not in (asic.hardware_errors, state.hardware_errors):
            rate = max(asic.hardware_errors - state.hardware_errors, 0)
            rate /= minutes
        ratio = None
        hashrate = asic.hashrate_5s_ghs
        if hashrate is not None:
            if state.baseline:
                ratio = hashrate / state.baseline
            state.baseline = _ewma(state.baseline, hashrate,
                                   now - state.seen_at,
                                   self.baseline_half_life)
        state.seen_at = now
        if asic.hardware_errors is not None:
            state.hardware_errors = asic.hardware_errors
        return ratio, rate
