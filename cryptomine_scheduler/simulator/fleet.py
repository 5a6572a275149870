"""The simulated hosts: how many, how big, with which accelerators.

A fleet file lists groups of identical hosts; every key of a group is
flat (the same in every format)::

    # YAML (.yaml, .yml) or the same structure in JSON (.json)
    defaults:                 # optional, for every group
      cpu_allocation_ratio: 8.0
    groups:
      - name: cpu             # hosts cpu-000, cpu-001, ...
        count: 80
        vcpus: 32
        memory_mb: 131072
      - name: gpu
        count: 20
        vcpus: 16
        memory_mb: 65536
        gpus: 8               # GPU host (accelerator gpu)
        gpu_ambient_c: 4.0    # this row runs 4 degC hotter
      - name: asic
        count: 6
        vcpus: 8
        memory_mb: 65536
        asics: 10             # ASIC host (accelerator asic), 10 miners
        asic_sag_rate_per_day: 0.2   # failure injection (:mod:`.miners`)
      - name: rented          # burst capacity, rented at peaks
        count: 4
        vcpus: 32
        memory_mb: 131072
        tier: burst           # home (the default) or burst
        cost_per_hour: 2.5    # what a burst host costs an hour (0 unset)

    # INI (.ini, .cfg, .conf): one section per group, [DEFAULT] defaults
    [cpu]
    count = 80
    vcpus = 32
    memory_mb = 131072

Keys: see :class:`HostSpec`, :class:`GpuSpec` (``gpu_<field>``) and
:class:`AsicSpec` (``asic_<field>``); ``count`` (default 1) and ``name``
(the INI section) name the hosts, ``gpus`` and ``asics`` count the
devices.  ``tier`` is ``home`` (the operator's own, the default) or
``burst`` (rented capacity, :mod:`cryptomine_scheduler.placement.tiers`), and
``cost_per_hour`` what a burst host costs (0 when not given; only for
burst hosts).  Values are finite and not negative, the counts and sizes
whole, ``count``, ``vcpus``, ``memory_mb`` and the allocation ratios
above 0, and ``asic_sag_min <= asic_sag_max <= 1``.

Each GPU instance holds a GPU of its own (passthrough), the first free
one of its host.  Each GPU's temperature comes from its own utilisation
``u`` (0-1), warmed by the chassis (the mean utilisation of the host's
GPUs) and the room::

    base        = idle_c + chassis_c * mean utilisation of the host's GPUs
                  + ambient_c + ambient_swing_c * sin(2 pi t / 1 day)
                  + drift_c_per_day * days
    temperature = base + (full_c - idle_c) * u

A GPU whose temperature would pass ``slowdown_c`` throttles: it does
the share ``delivered = (slowdown_c - base) / ((full_c - idle_c) * u)``
(0 to 1) of its work, which holds it at ``slowdown_c`` (at ``base`` when
even idle it is hotter), and the rest of its hashrate is lost.  Its
power is ``idle_power_percent + (full_power_percent -
idle_power_percent) * u * delivered`` % of its limit; the headrooms are
``slowdown_c - temperature`` and ``100 - power``.

A host with ``chassis_base_w`` has a BMC that reads its chassis power:
that much besides its GPUs' draw.  With ``chassis_cap_w`` too (0: none)
the BMC caps it there: where the chassis would draw more, every working
GPU does the same share of its work, the share that brings the chassis
to the cap (none while idle GPUs alone fill it), and the rest of its
hashrate is lost.

Each ASIC instance holds a miner of its own, the first free one that is
up (else the first free one: placement counts miners, not their
health); its hashrate is its miner's (:mod:`.miners`).
"""

import configparser
import dataclasses
import json
import math
import os

import numpy as np
import yaml

from cryptomine_scheduler.placement import tiers
from cryptomine_scheduler.placement.scoring import Accelerator
from cryptomine_scheduler.replan import cluster
from cryptomine_scheduler.simulator import files
from cryptomine_scheduler.simulator import traces

DAY = 86400.0


class FleetError(files.InputError):
    """A fleet file cannot be understood."""


@dataclasses.dataclass(frozen=True)
class GpuHeat:
    """A host's GPUs in one step, one entry per GPU (module docstring)."""

    temperature_c: np.ndarray
    power_percent: np.ndarray
    delivered: np.ndarray      # share of its work each GPU does, 0-1
    throttled: np.ndarray      # bool: held back by heat or power cap


@dataclasses.dataclass(frozen=True)
class GpuSpec:
    """A GPU host's boards and how hot and hungry they run."""

    count: int
    slowdown_c: float = 89.0
    idle_c: float = 35.0
    full_c: float = 78.0
    chassis_c: float = 6.0
    ambient_c: float = 0.0
    ambient_swing_c: float = 0.0
    drift_c_per_day: float = 0.0
    idle_power_percent: float = 15.0
    full_power_percent: float = 96.0
    power_limit_w: float = 320.0  # a mining GPU's board power
    #: What the chassis draws besides its GPUs (W), as its BMC reads it;
    #: None: a host without a BMC, whose chassis power is not read.
    chassis_base_w: float | None = None
    #: The power cap that BMC holds the chassis to (W); 0: none.
    chassis_cap_w: float = 0.0

    def heat(self, utilisation: np.ndarray, seconds: float) -> GpuHeat:
        """Each GPU's state with ``utilisation`` (0-1, one per GPU)
        asked of it, ``seconds`` into the simulation."""
        base = (self.idle_c + self.chassis_c * utilisation.mean()
                + self.ambient_c + self.ambient_swing_c
                * math.sin(2.0 * math.pi * seconds / DAY)
                + self.drift_c_per_day * seconds / DAY)
        work = (self.full_c - self.idle_c) * utilisation
        throttled = base + work > self.slowdown_c
        with np.errstate(divide='ignore', invalid='ignore'):
            delivered = np.where(
                throttled,
                np.clip((self.slowdown_c - base) / work, 0.0, 1.0), 1.0)
        delivered, throttled = self._capped(utilisation, delivered,
                                            throttled)
        temperature = np.maximum(
            np.minimum(base + work * delivered, self.slowdown_c), base)
        power = (self.idle_power_percent
                 + (self.full_power_percent - self.idle_power_percent)
                 * utilisation * delivered)
        return GpuHeat(temperature, power, delivered, throttled)

    def _capped(self, utilisation: np.ndarray, delivered: np.ndarray,
                throttled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``delivered`` and ``throttled`` once the BMC holds the chassis
        to its cap (module docstring)."""
        if not self.chassis_cap_w or self.chassis_base_w is None:
            return delivered, throttled
        watts = self.power_limit_w / 100.0
        idle = self.idle_power_percent * watts * len(utilisation)
        busy = ((self.full_power_percent - self.idle_power_percent) * watts
                * (utilisation * delivered).sum())
        room = self.chassis_cap_w - self.chassis_base_w - idle
        if busy <= room:
            return delivered, throttled
        working = utilisation > 0
        return (np.where(working, delivered * max(room, 0.0) / busy,
                         delivered), throttled | working)


@dataclasses.dataclass(frozen=True)
class AsicSpec:
    """An ASIC host's miners and how often they fall sick.

    Each miner hashes ``hashrate_ghs`` (its baseline) drawing
    ``power_w`` and makes ``errors_per_min`` hardware errors while
    healthy; the ``*_rate_per_day`` (per miner, 0: never), ``*_hours``
    (mean duration), ``sag_*`` and ``error_burst_per_min`` fields
    inject failures seeded by ``seed`` (:mod:`.miners`).
    """

    count: int
    hashrate_ghs: float = 100000.0
    power_w: float = 3000.0
    errors_per_min: float = 0.5
    failure_rate_per_day: float = 0.0
    down_hours: float = 4.0
    sag_rate_per_day: float = 0.0
    sag_hours: float = 6.0
    sag_min: float = 0.3
    sag_max: float = 0.6
    error_rate_per_day: float = 0.0
    error_hours: float = 2.0
    error_burst_per_min: float = 60.0
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class HostSpec:
    """One compute host; ``gpu`` makes it a GPU host, ``asic`` an ASIC
    host, ``cost_per_hour`` a rented burst host costing that an hour
    (None: the operator's own)."""

    name: str
    vcpus: int
    memory_mb: int
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    gpu: GpuSpec | None = None
    asic: AsicSpec | None = None
    cost_per_hour: float | None = None

    @property
    def asics(self) -> int:
        """Its miners."""
        return self.asic.count if self.asic else 0

    @property
    def accelerator(self) -> Accelerator:
        if self.gpu is not None:
            return Accelerator.GPU
        if self.asics:
            return Accelerator.ASIC
        return Accelerator.CPU

    def compute_host(self) -> cluster.ComputeHost:
        """The record the re-planner reads."""
        return cluster.ComputeHost(
            name=self.name, vcpus=self.vcpus, memory_mb=self.memory_mb,
            cpu_allocation_ratio=self.cpu_allocation_ratio,
            ram_allocation_ratio=self.ram_allocation_ratio,
            accelerators=frozenset({self.accelerator}),
            burst_cost_per_hour=self.cost_per_hour)


@dataclasses.dataclass(frozen=True)
class Fleet:
    """The hosts, in the order policies break ties in."""

    hosts: tuple[HostSpec, ...]

    def with_chassis_cap(self, cap_w: float) -> 'Fleet':
        """These hosts, each GPU host with a BMC capping its chassis at
        ``cap_w`` (0: none)."""
        return Fleet(tuple(
            host if host.gpu is None or host.gpu.chassis_base_w is None
            else dataclasses.replace(host, gpu=dataclasses.replace(
                host.gpu, chassis_cap_w=cap_w))
            for host in self.hosts))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts)

    @property
    def vcpus(self) -> np.ndarray:
        return np.array([h.vcpus for h in self.hosts], dtype=float)

    @property
    def memory_mb(self) -> np.ndarray:
        return np.array([h.memory_mb for h in self.hosts], dtype=float)

    @property
    def allocatable(self) -> np.ndarray:
        """(H, 2) vCPUs and MiB that flavors may claim."""
        return np.array([[h.vcpus * h.cpu_allocation_ratio,
                          h.memory_mb * h.ram_allocation_ratio]
                         for h in self.hosts], dtype=float)

    @property
    def kinds(self) -> tuple[str, ...]:
        """Each host's kind: ``cpu``, ``gpu`` or ``asic``."""
        return tuple(h.accelerator.value for h in self.hosts)

    @property
    def gpus(self) -> np.ndarray:
        return np.array([h.gpu.count if h.gpu else 0 for h in self.hosts],
                        dtype=np.int64)

    @property
    def asics(self) -> np.ndarray:
        return np.array([h.asics for h in self.hosts], dtype=np.int64)

    @property
    def cost_per_hour(self) -> np.ndarray:
        """What each host costs an hour: NaN for the operator's own."""
        return np.array([math.nan if h.cost_per_hour is None
                         else h.cost_per_hour for h in self.hosts])

    @property
    def burst(self) -> np.ndarray:
        """Whether each host is rented burst capacity."""
        return ~np.isnan(self.cost_per_hour)

    def describe(self) -> str:
        groups: dict[tuple, int] = {}
        for h in self.hosts:
            key = (h.vcpus, h.memory_mb, h.accelerator.value,
                   h.cost_per_hour)
            groups[key] = groups.get(key, 0) + 1
        return ', '.join(
            f'{n} x {v} vCPU/{m // 1024} GiB {kind}'
            + ('' if cost is None else f' burst at {cost:g}/h')
            for (v, m, kind, cost), n in groups.items())


_GPU_FIELDS = {f.name for f in dataclasses.fields(GpuSpec)} - {'count'}
_ASIC_FIELDS = {f.name for f in dataclasses.fields(AsicSpec)} - {'count'}
_HOST_FIELDS = {f.name for f in dataclasses.fields(HostSpec)} - {
    'name', 'gpu', 'asic'}
_KEYS = ({'name', 'count', 'gpus', 'asics', 'tier'} | _HOST_FIELDS
         | {f'gpu_{f}' for f in _GPU_FIELDS}
         | {f'asic_{f}' for f in _ASIC_FIELDS})


_INTEGERS = ('count', 'gpus', 'vcpus', 'memory_mb', 'asics', 'asic_seed')
#: Fields that must be above 0; the others must not be negative.
_POSITIVE = ('count', 'vcpus', 'memory_mb', 'cpu_allocation_ratio',
             'ram_allocation_ratio')


def _typed(field: str, value, where: str):
    """``value`` (a string from INI, or YAML/JSON scalar) as the field's
    type: a finite number, whole for the integer fields."""
    integer = field in _INTEGERS
    try:  # YAML's true is no count
        number = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or integer and not number.is_integer():
        raise FleetError(f'{where}: {field}={value!r} is not '
                         f'{"an integer" if integer else "a finite number"}')
    if field in _POSITIVE and number <= 0:
        raise FleetError(f'{where}: {field}={value!r} must be positive')
    if number < 0:
        raise FleetError(f'{where}: {field}={value!r} must not be '
                         'negative')
    return int(number) if integer else number


def _group(name: str, keys: dict, where: str) -> list[HostSpec]:
    unknown = set(keys) - _KEYS
    if unknown:
        raise FleetError(f'{where}: unknown keys {sorted(unknown)}')
    for required in ('vcpus', 'memory_mb'):
        if required not in keys:
            raise FleetError(f'{where}: {required} is required')
    values = {k: _typed(k, v, where) for k, v in keys.items()
              if k not in ('name', 'tier')}
    count = values.pop('count', 1)
    values['cost_per_hour'] = _cost(keys.get('tier', 'home'),
                                    values.get('cost_per_hour'), where)
    gpu = _devices(GpuSpec, 'gpu', values, where)
    if gpu is not None and gpu.chassis_cap_w and gpu.chassis_base_w is None:
        raise FleetError(f'{where}: gpu_chassis_cap_w needs '
                         'gpu_chassis_base_w (a BMC that reads the '
                         'chassis)')
    asic = _devices(AsicSpec, 'asic', values, where)
    if asic is not None and not (asic.sag_min <= asic.sag_max <= 1.0):
        raise FleetError(f'{where}: expected asic_sag_min <= asic_sag_max '
                         f'<= 1, got {asic.sag_min:g} and '
                         f'{asic.sag_max:g}')
    return [HostSpec(name=f'{name}-{i:03d}', gpu=gpu, asic=asic, **values)
            for i in range(count)]


def _cost(tier, cost: float | None, where: str) -> float | None:
    """The cost an hour of a host of ``tier`` whose group gives
    ``cost`` (None if it gives none): 0 for a burst host without one,
    None for a home host."""
    try:
        burst = tiers.Tier(str(tier).strip().lower()) is tiers.Tier.BURST
    except ValueError:
        raise FleetError(f'{where}: tier={tier!r} is not one of '
                         f'{[t.value for t in tiers.Tier]}') from None
    if burst:
        return cost or 0.0
    if cost is not None:
        raise FleetError(f'{where}: cost_per_hour on a home host (add '
                         'tier: burst)')
    return None


def _devices(spec: type, kind: str, values: dict, where: str):
    """The ``spec`` (GpuSpec or AsicSpec) of the ``<kind>s`` count and
    ``<kind>_*`` keys, popped from ``values``; None without devices."""
    count = values.pop(f'{kind}s', 0)
    fields = {k[len(kind) + 1:]: values.pop(k)
              for k in list(values) if k.startswith(f'{kind}_')}
    if fields and not count:
        raise FleetError(f'{where}: {kind}_* keys without {kind}s')
    return spec(count=count, **fields) if count else None


def _from_mapping(data, where: str) -> Fleet:
    if not isinstance(data, dict) or not isinstance(data.get('groups'),
                                                    list):
        raise FleetError(f'{where}: expected a mapping with a list of '
                         '"groups"')
    defaults = data.get('defaults') or {}
    hosts = []
    for n, group in enumerate(data['groups']):
        if not isinstance(group, dict):
            raise FleetError(f'{where}: group {n} is not a mapping')
        name = str(group.get('name', f'group{n}'))
        hosts += _group(name, {**defaults, **group}, f'{where}: {name}')
    return _checked(Fleet(tuple(hosts)), where)


def _syntax_error(path: str, exc: Exception) -> FleetError:
    """``exc``, a YAML, JSON or INI syntax error in ``path``, in a line
    that names the line of the file where the parser says."""
    line, text = getattr(exc, 'lineno', None), str(exc).splitlines()[0]
    mark = getattr(exc, 'problem_mark', None)
    if isinstance(exc, json.JSONDecodeError):
        text = exc.msg
    elif mark is not None and getattr(exc, 'problem', None):  # YAML
        line, text = mark.line + 1, exc.problem
    elif getattr(exc, 'errors', None):  # configparser.ParsingError
        line, text = exc.errors[0][0], f'cannot parse {exc.errors[0][1]}'
    elif isinstance(exc, (configparser.DuplicateSectionError,
                          configparser.DuplicateOptionError)):
        text = text.split(']: ', 1)[-1]  # drop "While reading from..."
    return FleetError(f'{path}:{line}: {text}' if line else f'{path}: {text}')


def _from_ini(path: str) -> Fleet:
    parser = configparser.ConfigParser()
    try:
        parser.read_string(files.read_text(path, FleetError), source=path)
        groups = {s: dict(parser[s]) for s in parser.sections()}
    except configparser.Error as exc:
        raise _syntax_error(path, exc) from None
    hosts = []
    for section, group in groups.items():
        hosts += _group(section, group, f'{path}: [{section}]')
    return _checked(Fleet(tuple(hosts)), path)


def _checked(fleet: Fleet, where: str) -> Fleet:
    if not fleet.hosts:
        raise FleetError(f'{where}: no host')
    names = fleet.names
    if len(set(names)) != len(names):
        raise FleetError(f'{where}: two groups share a name')
    return fleet


def load(path: str) -> Fleet:
    """Read a fleet file (module docstring); the format is its suffix."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix in ('.ini', '.cfg', '.conf'):
        return _from_ini(path)
    if suffix not in ('.json', '.yaml', '.yml'):
        raise FleetError(f'{path}: expected .yaml, .yml, .json, .ini, .cfg '
                         'or .conf')
    text = files.read_text(path, FleetError)
    try:
        data = json.loads(text) if suffix == '.json' else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise _syntax_error(path, exc) from None
    return _from_mapping(data, path)


def uniform(count: int, vcpus: int, memory_mb: int,
            cpu_allocation_ratio: float = 4.0,
            ram_allocation_ratio: float = 1.0) -> Fleet:
    """``count`` identical CPU hosts."""
    return Fleet(tuple(_group('host', {
        'count': count, 'vcpus': vcpus, 'memory_mb': memory_mb,
        'cpu_allocation_ratio': cpu_allocation_ratio,
        'ram_allocation_ratio': ram_allocation_ratio}, 'uniform fleet')))


def sized(trace: traces.Trace, count: int, load: float = 0.6,
          vcpus: int | None = None, memory_mb: int | None = None,
          cpu_allocation_ratio: float | None = None,
          ram_allocation_ratio: float = 1.25) -> Fleet:
    """``count`` identical CPU hosts for ``trace``.

    Unless given, ``vcpus`` makes the trace load them to about ``load``
    (0-1) on average, ``memory_mb`` (whole GiB) holds the most flavor
    memory the trace's instances hold at once within the RAM allocation
    ratio, and at least its largest flavor, and the CPU allocation ratio
    (a multiple of 0.25) gives room for 1.25 x the most vCPUs held at
    once.
    """
    alive = trace.alive
    vcpus = vcpus or max(1, math.ceil(np.nansum(trace.cpu, axis=0).mean()
                                      / count / load))
    held = (trace.vcpus[:, None] * alive).sum(axis=0).max()
    held_mb = (trace.memory_mb[:, None] * alive).sum(axis=0).max()
    memory_mb = memory_mb or 1024 * max(
        1, math.ceil(held_mb / count / ram_allocation_ratio / 1024),
        math.ceil(trace.memory_mb.max() / ram_allocation_ratio / 1024))
    return uniform(count, vcpus, memory_mb,
                   cpu_allocation_ratio=cpu_allocation_ratio or max(
                       1.0, math.ceil(4.0 * 1.25 * held / (count * vcpus))
                       / 4.0),
                   ram_allocation_ratio=ram_allocation_ratio)
