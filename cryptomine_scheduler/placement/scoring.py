"""The load model shared by the filter, the weigher and the planner.

A host's *predicted* load is risk-aware: for each resource it takes the
higher of the EWMA (reacts quickly to a rising load) and the window mean
(remembers the history), plus ``k`` standard deviations::

    cpu = max(ewma, mean) + k * std + credit_cpu         (% of the host)
    mem = max(ewma, mean) + k * std + credit_mem         (% of the host)

where the credit is the expected load of boots the samples do not show
yet (pending boots, and at boot the guest being placed).  Mining
headrooms are bounded from below the same way::

    thermal = min(ewma, mean) - k * std                  (degC to slowdown)
    power   = min(ewma, mean) - k * std                  (% of the limit)

and the ASIC hardware-error rate is its window mean (errors per minute).
What a new guest would get of the host's accelerators (:class:`Devices`)
comes from the newest sample: the free GPUs and miners, the headroom of
the free GPUs, the miners' hashrate against their baseline (its lower
bound, ``min(ewma, mean)``) and hashrate per watt.  How many GPUs (or
miners) a host has and how many are free is placement's count where it
counts some (:mod:`.device_inventory`; passed-through GPUs included),
else the samples'; the samples say how healthy they are.  Readings a host does
not have are NaN and are neither checked nor weighed.

A host is judged for a guest (:class:`Demand`) on the resources that
guest will use, never on others, so that reporting more readings neither
helps nor harms a host.  The score is negated so that higher is better::

    score    = -(pressure + spare + burst + overload)
    pressure = sum(w_r * p_r) / sum(w_r)    r in R, readings the host has
    R        = {cpu, mem}
               + {thermal, power, utilisation, occupancy} for a GPU guest
               + {occupancy, hashrate, efficiency} for an ASIC guest
    p_r      = cpu / 100, mem / 100,
               thermal(busy),
               1 - clamp(power / 100), utilisation / 100,
               1 - free / count (GPUs or miners),
               1 - clamp(hashrate ratio),
               1 - clamp(hashrate per watt / HASHRATE_PER_WATT_SCALE)
    spare    = accelerator_penalty   for a guest asking no accelerator on
               a host with one (keeps GPUs and ASICs for guests that need
               them), else 0
    burst    = BURST_PENALTY + BURST_COST_WEIGHT * cost / (cost + 1)
               on a rented burst host costing ``cost`` an hour, else 0
    overload = OVERLOAD_PENALTY + accelerator_penalty + over
               when over > 0, else 0
    over     = max(0, (cpu - max_cpu) / 100, (mem - max_mem) / 100)
    busy     = free GPUs' thermal headroom - GPU_BUSY_RISE_C when known,
               else the hottest GPU's thermal headroom
    thermal  = clamp((THERMAL_SCALE_C - busy) / THERMAL_RANGE_C)

``busy`` is the headroom the guest's GPU will keep once it mines.  A free
GPU's own headroom, measured idle, is 40-55 degC on every host: beyond
``THERMAL_SCALE_C``, it could not tell a cool host from one in a hot row.
The thermal pressure rises in proportion as ``busy`` falls from
``THERMAL_SCALE_C`` and on past 0, where the GPU will throttle, so that
hosts whose GPUs would throttle rank by how far past their slowdown
temperature they would run (1 for a free GPU already there idle).

Within the thresholds ``pressure <= 1``, so every host of the operator's
own within them comes first; then the burst hosts within them, cheapest
first, then least loaded; then the hosts over a CPU or memory threshold,
ranked among themselves by how far over they are.

The filter refuses a host (:func:`refusal`) that lacks the accelerator
kind asked for, has no free device of it, breaks a hardware-safety limit
(GPU thermal or power headroom, ASIC error rate, the chassis' inlet
temperature or power budget), or, for a GPU guest, whose chassis would
go over its power budget once the guest works a free GPU to its limit
(:func:`gpu_guest_power`), or, for an ASIC guest, whose miners fell
below ``min_asic_hashrate_ratio`` of their baseline.  The chassis'
inlet temperature and power, as its BMC reads them, are predicted as
the CPU load is: ``max(ewma, mean) + k * std``.
"""
import dataclasses
import enum
import math

from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.history.mining import MiningMetric
from cryptomine_scheduler.history.summaries import Stat
from cryptomine_scheduler.placement import device_inventory
from cryptomine_scheduler.telemetry.sample import HostMetric

THERMAL_SCALE_C = 30.0
#: How much hotter than idle a GPU runs once a mining guest works it
#: (degC): mining GPUs idle at 30-40 degC and run at 70-85.
GPU_BUSY_RISE_C = 40.0
#: Busy headroom from THERMAL_SCALE_C (no thermal pressure) down to
#: -GPU_BUSY_RISE_C (a free GPU at its slowdown even idle: pressure 1).
THERMAL_RANGE_C = THERMAL_SCALE_C + GPU_BUSY_RISE_C
#: Hashrate per watt (GH/s per W) at which an ASIC host's efficiency
#: pressure is 0; SHA-256 boards of 2026 reach about 60.
HASHRATE_PER_WATT_SCALE = 100.0
NAN = math.nan
#: Score taken from a rented burst host (and the weight of its cost), and
#: from an overloaded host: the ladder of the module docstring.
BURST_PENALTY = 2.0
BURST_COST_WEIGHT = 10.0
OVERLOAD_PENALTY = BURST_PENALTY + BURST_COST_WEIGHT + 2.0
#: The flavor extra spec that asks for an accelerator kind, and the
#: aggregate property that says which kinds its hosts offer.
ACCELERATOR_KEY = 'cryptomine:accelerator'


class Accelerator(enum.Enum):
    """What a host offers and a flavor may ask for."""

    CPU = 'cpu'
    GPU = 'gpu'
    ASIC = 'asic'


@dataclasses.dataclass(frozen=True)
class Credit:
    """Load expected from boots the snapshot does not show yet; of it,
    ``gpus`` free GPUs that their guests will work to their limit."""

    cpu_percent: float = 0.0
    mem_percent: float = 0.0
    gpus: int = 0


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Limits a host must respect to pass the filter."""

    max_cpu_percent: float
    max_mem_percent: float
    min_gpu_thermal_headroom_c: float
    min_gpu_power_headroom_percent: float
    max_asic_errors_per_min: float
    min_asic_hashrate_ratio: float
    max_inlet_temperature_c: float
    #: The most the chassis may draw (W); 0: no budget.
    max_chassis_power_w: float = 0.0

    @classmethod
    def from_opts(cls, opts) -> 'Thresholds':
        """The thresholds of the option group ``opts`` (an option of
        each field's name)."""
        return cls(**{f.name: getattr(opts, f.name)
                      for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class Weights:
    """Relative importance of each resource in the score."""

    cpu: float
    memory: float
    gpu_thermal: float
    gpu_power: float
    gpu_utilization: float
    free_devices: float
    asic_hashrate: float
    asic_efficiency: float

    @classmethod
    def from_opts(cls, opts) -> 'Weights':
        """The weights of the option group ``opts`` (``<field>_weight``
        options)."""
        return cls(**{f.name: getattr(opts, f'{f.name}_weight')
                      for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class Demand:
    """The guest a host is judged for: which resources it will use.

    Every guest uses CPU and memory; a GPU guest also the host's GPUs.  A
    guest asking for no accelerator (or for ``cpu``) costs a host with an
    accelerator ``accelerator_penalty`` of score.
    """

    accelerator: Accelerator | None = None
    accelerator_penalty: float = 0.0
    #: How many devices of that kind it holds (:mod:`.flavor_devices`).
    devices: int = 1
    #: What the flavor earns an hour (``cryptomine:price_per_hour``), and
    #: the least margin a burst host must leave on it (None: no guard).
    price_per_hour: float | None = None
    burst_min_margin: float | None = None

    @property
    def uses_gpu(self) -> bool:
        return self.accelerator is Accelerator.GPU

    @property
    def uses_asic(self) -> bool:
        return self.accelerator is Accelerator.ASIC

    @property
    def plain(self) -> bool:
        """True when the guest needs no accelerator."""
        return self.accelerator is None or self.accelerator is Accelerator.CPU


#: A guest needing no accelerator, without penalty for accelerator hosts.
CPU_GUEST = Demand()


@dataclasses.dataclass(frozen=True)
class Devices:
    """What a new guest would get of a host's accelerators: the free
    GPUs and miners and their state; NaN where the host has no such
    reading.  ``counted``: the kinds whose counts are placement's."""

    gpu_count: float = NAN
    gpu_free: float = NAN
    gpu_free_thermal_headroom_c: float = NAN
    #: How much more the chassis draws once a free GPU works to its limit.
    gpu_free_power_rise_w: float = NAN
    gpu_utilization_percent: float = NAN
    asic_count: float = NAN
    asic_free: float = NAN
    asic_hashrate_ratio: float = NAN
    hashrate_per_watt: float = NAN
    counted: frozenset[Accelerator] = frozenset()


NO_DEVICES = Devices()


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A host's predicted load; NaN where it has no such reading."""

    cpu_percent: float
    mem_percent: float
    gpu_thermal_headroom_c: float
    gpu_power_headroom_percent: float
    asic_errors_per_min: float
    accelerators: frozenset[Accelerator]
    devices: Devices = NO_DEVICES
    inlet_temperature_c: float = math.nan  # the chassis', as its BMC reads
    chassis_power_w: float = math.nan  # the same
    #: The power cap the BMC holds the chassis to (W), its newest reading.
    chassis_power_cap_w: float = math.nan


def _upper(view, metric, k: float) -> float:
    """``max(EWMA, mean) + k * stddev`` of a host or mining metric."""
    read = (view.mining_metric if isinstance(metric, MiningMetric)
            else view.metric)
    return max(read(metric, Stat.EWMA), read(metric, Stat.MEAN)) + k * read(
        metric, Stat.STD)


def _lower(view, metric, k: float) -> float:
    ewma = view.mining_metric(metric, Stat.EWMA)
    mean = view.mining_metric(metric, Stat.MEAN)
    return min(ewma, mean) - k * view.mining_metric(metric, Stat.STD)


CPU_ONLY = frozenset({Accelerator.CPU})
_KINDS = {  # (has GPUs, has ASICs): one shared set each
    (False, False): CPU_ONLY,
    (True, False): frozenset({Accelerator.GPU}),
    (False, True): frozenset({Accelerator.ASIC}),
    (True, True): frozenset({Accelerator.GPU, Accelerator.ASIC}),
}


def parse_kinds(value: str) -> tuple[frozenset[Accelerator], list[str]]:
    """The accelerator kinds a comma-separated ``cryptomine:accelerator``
    aggregate property names, and the items that name none."""
    kinds, unknown = set(), []
    for item in value.split(','):
        try:
            kinds.add(Accelerator(item.strip().lower()))
        except ValueError:
            unknown.append(item)
    return frozenset(kinds), unknown


def offered(declared: frozenset[Accelerator] | None,
            est: Estimate) -> frozenset[Accelerator]:
    """What a host offers: what its aggregates declare (the operator's
    word, true too of passthrough GPUs outside placement) and the kinds
    placement counts devices of; without a declaration, what placement
    and its samples show.  The filter and the planner both ask here."""
    if declared:
        return declared | est.devices.counted
    return est.accelerators


def counted_kinds(devices: device_inventory.HostDevices
                  ) -> frozenset[Accelerator]:
    """The accelerator kinds placement counts devices of (CPU when
    none)."""
    return _KINDS[devices.gpu.total > 0, devices.asic.total > 0]


def accelerators(view: snapshot.HostView) -> frozenset[Accelerator]:
    """The accelerator kinds of a host: those placement counts and
    those its samples report (CPU when neither shows one)."""
    counts = view.devices or device_inventory.HostDevices()
    return _KINDS[
        counts.gpu.total > 0
        or view.mining_metric(MiningMetric.GPU_COUNT, Stat.LAST) > 0,
        counts.asic.total > 0
        or view.mining_metric(MiningMetric.ASIC_COUNT, Stat.LAST) > 0]


NO_CREDIT = Credit()


def with_credit(est: Estimate, credit: Credit) -> Estimate:
    """``est`` with the load of boots not sampled yet added."""
    if credit == NO_CREDIT:
        return est
    return with_busy_gpus(with_load(est, credit.cpu_percent,
                                    credit.mem_percent), credit.gpus)


def with_busy_gpus(est: Estimate, gpus: int) -> Estimate:
    """``est`` with the chassis drawing what ``gpus`` free GPUs will add
    once guests placed but not sampled yet work them to their limit."""
    rise = est.devices.gpu_free_power_rise_w
    if not gpus or math.isnan(rise):
        return est
    return dataclasses.replace(
        est, chassis_power_w=est.chassis_power_w + gpus * rise)


def with_load(est: Estimate, cpu_percent: float,
              mem_percent: float) -> Estimate:
    """``est`` with ``cpu_percent`` and ``mem_percent`` of the host
    added (:func:`with_credit` without the record, for hot paths)."""
    return Estimate(est.cpu_percent + cpu_percent,
                    est.mem_percent + mem_percent,
                    est.gpu_thermal_headroom_c,
                    est.gpu_power_headroom_percent,
                    est.asic_errors_per_min, est.accelerators, est.devices,
                    est.inlet_temperature_c, est.chassis_power_w,
                    est.chassis_power_cap_w)


def devices(view: snapshot.HostView, k: float) -> Devices:
    """What a new guest would get of the host's accelerators: the
    sampled state, with placement's counts of the kinds it counts."""
    sampled = _sampled_devices(view, k)
    counts = view.devices
    if not counts:
        return sampled
    placed = {}
    if counts.gpu.total:
        placed.update(gpu_count=counts.gpu.total, gpu_free=counts.gpu.free)
    if counts.asic.total:
        placed.update(asic_count=counts.asic.total,
                      asic_free=counts.asic.free)
    return dataclasses.replace(sampled, counted=counted_kinds(counts),
                               **placed)


def _sampled_devices(view: snapshot.HostView, k: float) -> Devices:
    if view.mining_stats is None:
        return NO_DEVICES

    def last(metric: MiningMetric) -> float:
        return view.mining_metric(metric, Stat.LAST)

    return Devices(
        gpu_count=last(MiningMetric.GPU_COUNT),
        gpu_free=last(MiningMetric.GPU_FREE),
        gpu_free_thermal_headroom_c=_lower(
            view, MiningMetric.GPU_FREE_THERMAL_HEADROOM, k),
        gpu_free_power_rise_w=last(MiningMetric.GPU_FREE_POWER_RISE),
        gpu_utilization_percent=max(
            view.mining_metric(MiningMetric.GPU_UTILIZATION, Stat.EWMA),
            view.mining_metric(MiningMetric.GPU_UTILIZATION, Stat.MEAN)),
        asic_count=last(MiningMetric.ASIC_COUNT),
        asic_free=last(MiningMetric.ASIC_FREE),
        asic_hashrate_ratio=min(
            view.mining_metric(MiningMetric.ASIC_HASHRATE_RATIO, Stat.EWMA),
            view.mining_metric(MiningMetric.ASIC_HASHRATE_RATIO,
                               Stat.MEAN)),
        hashrate_per_watt=view.mining_metric(MiningMetric.HASHRATE_PER_WATT,
                                             Stat.MEAN))


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
        accelerators=accelerators(view), devices=devices(view, k),
        inlet_temperature_c=_upper(view, MiningMetric.INLET_TEMPERATURE, k),
        chassis_power_w=_upper(view, MiningMetric.CHASSIS_POWER, k),
        chassis_power_cap_w=view.mining_metric(
            MiningMetric.CHASSIS_POWER_CAP, Stat.LAST)),
        credit)


def _broken(checks) -> list[str]:
    found = []
    for name, value, limit, is_maximum in checks:
        if math.isnan(value):
            continue
        if (value > limit) if is_maximum else (value < limit):
            relation = '>' if is_maximum else '<'
            found.append(f'{name} {value:.1f} {relation} {limit:g}')
    return found


def capacity_violations(est: Estimate, limits: Thresholds) -> list[str]:
    """Why ``est`` is over the CPU or memory threshold; empty when not.

    A value exactly at its limit passes.
    """
    return _broken((
        ('cpu', est.cpu_percent, limits.max_cpu_percent, True),
        ('memory', est.mem_percent, limits.max_mem_percent, True),
    ))


def safety_violations(est: Estimate, limits: Thresholds) -> list[str]:
    """Why ``est`` breaks a hardware-safety limit (GPU thermal or power
    headroom, ASIC error rate, the chassis' inlet temperature and power
    budget); empty when it does not.

    A value exactly at its limit passes.
    """
    if (math.isnan(est.asic_errors_per_min)
            and math.isnan(est.gpu_thermal_headroom_c)
            and math.isnan(est.gpu_power_headroom_percent)
            and math.isnan(est.inlet_temperature_c)
            and math.isnan(est.chassis_power_w)):
        return []  # a host without GPUs or miners: the common case
    budget = power_budget(est, limits)
    return _broken((
        ('GPU thermal headroom', est.gpu_thermal_headroom_c,
         limits.min_gpu_thermal_headroom_c, False),
        ('GPU power headroom', est.gpu_power_headroom_percent,
         limits.min_gpu_power_headroom_percent, False),
        ('ASIC hardware errors/min', est.asic_errors_per_min,
         limits.max_asic_errors_per_min, True),
        ('inlet temperature', est.inlet_temperature_c,
         limits.max_inlet_temperature_c, True),
        (f'chassis power ({_budget_name(est, budget)})',
         est.chassis_power_w if budget > 0 else NAN, budget, True),
    ))


def power_budget(est: Estimate, limits: Thresholds) -> float:
    """The most the chassis may draw (W): the operator's budget or the
    power cap its BMC holds it to, the lower where both are set (past
    the cap the BMC slows the GPUs down, and mining with them); 0 where
    neither is."""
    budget, cap = limits.max_chassis_power_w, est.chassis_power_cap_w
    return cap if cap > 0 and not 0 < budget <= cap else budget


def cap_or_nan(est: Estimate) -> float:
    """The power cap ``est``'s BMC holds its chassis to; NaN where it
    holds it to none or is not read."""
    cap = est.chassis_power_cap_w
    return cap if cap > 0 else NAN


def _budget_name(est: Estimate, budget: float) -> str:
    """Which limit the power ``budget`` of ``est``'s chassis is."""
    return 'BMC cap' if budget == est.chassis_power_cap_w else 'budget'


def gpu_guest_power(est: Estimate, gpus: int = 1) -> float:
    """The chassis' predicted power once a new guest works ``gpus`` free
    GPUs to their limit (W), each rising as the one that rises most: the
    chassis' draw alone where the free GPUs' limit is not known (NVML
    cannot see a free GPU bound to vfio-pci); NaN without a BMC."""
    rise = est.devices.gpu_free_power_rise_w
    return est.chassis_power_w + (0.0 if math.isnan(rise) else gpus * rise)


def power_refusal(est: Estimate, limits: Thresholds,
                  gpus: int = 1) -> str | None:
    """Why the chassis' power budget has no room for a guest working
    ``gpus`` GPUs; None when it has, when there is no budget or no BMC
    reading."""
    budget = power_budget(est, limits)
    power = gpu_guest_power(est, gpus)
    if budget > 0 and power > budget:
        busy = 'a busy free GPU' if gpus == 1 else f'{gpus} busy free GPUs'
        return (f'chassis power with {busy} {power:.0f} W > '
                f'{_budget_name(est, budget)} {budget:g} W')
    return None


def violations(est: Estimate, limits: Thresholds) -> list[str]:
    """Why ``est`` breaks ``limits`` (capacity, then hardware safety);
    empty when the host passes.  A value exactly at its limit passes."""
    return capacity_violations(est, limits) + safety_violations(est, limits)


def refusal(est: Estimate, limits: Thresholds, demand: Demand,
            hard_overload: bool,
            burst_cost: float | None = None) -> str | None:
    """Why LoadAwareFilter refuses a host for the guest ``demand``
    describes (``est`` includes the guest's load); None when it passes.

    The accelerator kind and the hardware-safety limits always hold; the
    CPU and memory thresholds only when ``hard_overload``; a burst host
    costing ``burst_cost`` an hour only leaving the flavor's margin.
    """
    wanted = demand.accelerator
    if wanted is not None and wanted not in est.accelerators:
        offers = ', '.join(sorted(a.value for a in est.accelerators))
        return f'offers {offers}, the flavor asks for {wanted.value}'
    lacking = (None if demand.plain
               else _device_refusal(est.devices, limits, demand))
    if lacking is None and demand.uses_gpu:
        lacking = power_refusal(est, limits, demand.devices)
    if lacking:
        return lacking
    broken = safety_violations(est, limits)
    if broken:
        return 'hardware-safety limit: ' + '; '.join(broken)
    unpaid = (None if burst_cost is None
              else burst_refusal(demand, burst_cost))
    if unpaid:
        return unpaid
    if hard_overload:
        broken = capacity_violations(est, limits)
        if broken:
            return 'predicted load with the guest: ' + '; '.join(broken)
    return None


def burst_refusal(demand: Demand, cost: float) -> str | None:
    """Why a burst host costing ``cost`` an hour would lose money on the
    guest; None when it would not or no guard is set."""
    price, least = demand.price_per_hour, demand.burst_min_margin
    if price is None or least is None:
        return None
    margin = (price - cost) / price if price > 0 else -math.inf
    if margin < least:
        return (f'burst host at {cost:g}/h, the flavor earns {price:g}/h: '
                f'margin {margin:.0%} below {least:.0%}')
    return None


def _device_refusal(dev: Devices, limits: Thresholds,
                    demand: Demand) -> str | None:
    """Why the host has too few healthy free devices for ``demand``;
    None when it has enough, or when its samples cannot tell."""
    wanted = demand.devices
    if demand.uses_gpu and dev.gpu_free < wanted:
        if dev.gpu_free == 0:
            return f'no free GPU: all {dev.gpu_count:g} in use'
        return (f'{dev.gpu_free:g} of {dev.gpu_count:g} GPUs free, the '
                f'flavor holds {wanted}')
    if demand.uses_asic:
        if dev.asic_free == 0:
            return f'no free miner up of {dev.asic_count:g}'
        if dev.asic_free < wanted:
            return (f'{dev.asic_free:g} of {dev.asic_count:g} miners free '
                    f'and up, the flavor holds {wanted}')
        if dev.asic_hashrate_ratio < limits.min_asic_hashrate_ratio:
            return (f'miners at {dev.asic_hashrate_ratio:.0%} of their '
                    f'baseline hashrate, below '
                    f'{limits.min_asic_hashrate_ratio:.0%}')
    return None


def overage(est: Estimate, limits: Thresholds) -> float:
    """How far the predicted CPU or memory is over its threshold, as a
    fraction of the host: ``max(0, (cpu - max_cpu) / 100,
    (mem - max_mem) / 100)``; 0 at or under the thresholds."""
    return max(0.0, (est.cpu_percent - limits.max_cpu_percent) / 100.0,
               (est.mem_percent - limits.max_mem_percent) / 100.0)


def _clamp(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _gpu_pressures(est: Estimate, weights: Weights):
    """(weight, pressure) of a GPU guest's terms, NaN where unknown."""
    dev = est.devices
    thermal = dev.gpu_free_thermal_headroom_c - GPU_BUSY_RISE_C
    if math.isnan(thermal):
        thermal = est.gpu_thermal_headroom_c
    return ((weights.gpu_thermal, _clamp(
                (THERMAL_SCALE_C - thermal) / THERMAL_RANGE_C)),
            (weights.gpu_power,
             1.0 - _clamp(est.gpu_power_headroom_percent / 100.0)),
            (weights.gpu_utilization, dev.gpu_utilization_percent / 100.0),
            (weights.free_devices, _occupancy(dev.gpu_free, dev.gpu_count)))


def _asic_pressures(dev: Devices, weights: Weights):
    """(weight, pressure) of an ASIC guest's terms, NaN where unknown."""
    return ((weights.free_devices, _occupancy(dev.asic_free, dev.asic_count)),
            (weights.asic_hashrate, 1.0 - _clamp(dev.asic_hashrate_ratio)),
            (weights.asic_efficiency, 1.0 - _clamp(
                dev.hashrate_per_watt / HASHRATE_PER_WATT_SCALE)))


def _occupancy(free: float, count: float) -> float:
    """The share of the devices in use; NaN when unknown."""
    return 1.0 - free / count if count > 0 else NAN


def score(est: Estimate, weights: Weights, demand: Demand = CPU_GUEST,
          over: float = 0.0, burst_cost: float | None = None) -> float:
    """Higher is better: minus the weighted mean pressure of the resources
    ``demand`` uses, the accelerator penalty, the burst penalty of a host
    rented at ``burst_cost`` an hour and the overload penalty for
    ``over`` (from :func:`overage`); see the module docstring."""
    total = weighted = 0.0
    # CPU and memory inline: every guest's, on the weigher's hot path.
    if weights.cpu > 0 and not math.isnan(est.cpu_percent):
        total += weights.cpu
        weighted += weights.cpu * est.cpu_percent / 100.0
    if weights.memory > 0 and not math.isnan(est.mem_percent):
        total += weights.memory
        weighted += weights.memory * est.mem_percent / 100.0
    if not demand.plain:
        terms = (_gpu_pressures(est, weights) if demand.uses_gpu
                 else _asic_pressures(est.devices, weights))
        for weight, pressure in terms:
            if weight > 0 and not math.isnan(pressure):
                total += weight
                weighted += weight * pressure
    penalty = 0.0
    kinds = est.accelerators
    if (kinds is not CPU_ONLY and demand.plain
            and (Accelerator.GPU in kinds or Accelerator.ASIC in kinds)):
        penalty = demand.accelerator_penalty
    if burst_cost is not None:
        penalty += BURST_PENALTY + BURST_COST_WEIGHT * (
            burst_cost / (burst_cost + 1.0))
    if over > 0:
        penalty += OVERLOAD_PENALTY + demand.accelerator_penalty + over
    return -(weighted / total if total else 0.0) - penalty
