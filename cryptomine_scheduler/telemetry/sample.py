"""The load sample: what a collector measures and the controller stores.

A sample travels as a plain JSON-able dict (its *wire* form) inside a
signed envelope (see :mod:`.signing`).  This module
owns the dataclasses and the conversion in both directions; checking
untrusted input is the job of :mod:`.validation`.
"""

import dataclasses
import enum
import functools
import typing

# 2 added the collector's own counters (``collector``), 3 the host's
# logical CPUs (``cpus``), the chassis readings of the host's BMC and
# where each GPU's readings come from, 4 the power cap the BMC holds the
# chassis to; the controller still accepts 1 to 3 from collectors not
# yet upgraded.
SCHEMA_VERSION = 4
EVENT_TYPE = 'cryptomine.load.sample'
#: Where a GPU's readings come from: the host's NVML, or the host's BMC
#: over Redfish (GPUs passed through to guests, which NVML cannot see).
GpuReadingSource = typing.Literal['nvml', 'redfish']


def since(version: int) -> dict:
    """The metadata of a record field that schema ``version`` added."""
    return {'since': version}


@functools.cache
def newer_fields(cls, version: int) -> frozenset[str]:
    """The fields of record ``cls`` that schema ``version`` lacks."""
    return frozenset(f.name for f in dataclasses.fields(cls)
                     if f.metadata.get('since', 1) > version)


def _record(record, version: int) -> dict:
    """The wire form of a flat record in schema ``version``."""
    newer = newer_fields(type(record), version)
    if not newer:
        return vars(record).copy()
    return {k: v for k, v in vars(record).items() if k not in newer}


@dataclasses.dataclass(frozen=True)
class HostLoad:
    """Whole-host load at one instant (psutil units, memory in MiB)."""

    cpu_percent: float
    load_1: float
    load_5: float
    load_15: float
    mem_used_mb: float
    mem_available_mb: float
    mem_percent: float
    swap_used_mb: float
    swap_percent: float


class HostMetric(enum.Enum):
    """The host metrics kept as history, one per :class:`HostLoad` field."""

    CPU_PERCENT = 'cpu_percent'
    LOAD_1 = 'load_1'
    LOAD_5 = 'load_5'
    LOAD_15 = 'load_15'
    MEM_USED_MB = 'mem_used_mb'
    MEM_AVAILABLE_MB = 'mem_available_mb'
    MEM_PERCENT = 'mem_percent'
    SWAP_USED_MB = 'swap_used_mb'
    SWAP_PERCENT = 'swap_percent'


class DeviceKind(enum.Enum):
    """The devices whose readings are kept as history: GPUs (by index)
    and miners (by address)."""

    GPU = 'gpu'
    ASIC = 'asic'


#: The readings of each kind of device kept as history: raw, then as
#: 5-minute means and maxima.
DEVICE_METRICS: dict[DeviceKind, tuple[str, ...]] = {
    DeviceKind.GPU: ('utilization_percent', 'memory_utilization_percent',
                     'power_w', 'temperature_c', 'sm_clock_mhz'),
    DeviceKind.ASIC: ('hashrate_5s_ghs', 'temperature_c', 'power_w',
                      'hardware_errors'),
}


@dataclasses.dataclass(frozen=True, init=False)
class InstanceLoad:
    """One guest's load: CPU as a share of the whole host, RSS in MiB."""

    uuid: str
    cpu_percent: float
    rss_mb: float

    def __init__(self, uuid: str, cpu_percent: float, rss_mb: float):
        # A collector builds one per guest and cycle, the controller one
        # per guest and sample: filling the instance's dict directly
        # takes half the time of the frozen dataclass's own __init__,
        # which sets each field through object.__setattr__.
        fields = self.__dict__
        fields['uuid'] = uuid
        fields['cpu_percent'] = cpu_percent
        fields['rss_mb'] = rss_mb


class InstanceMetric(enum.Enum):
    """The instance metrics kept as history."""

    CPU_PERCENT = 'cpu_percent'
    RSS_MB = 'rss_mb'


@dataclasses.dataclass(frozen=True)
class HostSensors:
    """Host thermal and energy readings; None where the host has none.

    The chassis' inlet (intake) temperature, power and power cap are the
    BMC's; the cap is None where the BMC holds the chassis to none.
    """

    cpu_temperature_c: float | None = None
    energy_j: float | None = None  # RAPL package counter, wraps
    inlet_temperature_c: float | None = dataclasses.field(
        default=None, metadata=since(3))
    chassis_power_w: float | None = dataclasses.field(
        default=None, metadata=since(3))
    chassis_power_cap_w: float | None = dataclasses.field(
        default=None, metadata=since(4))


@dataclasses.dataclass(frozen=True)
class GpuLoad:
    """One GPU as its ``source`` sees it.  A field the board (or the BMC)
    does not report is None.

    ``throttle_reasons`` is NVML's clock-throttle bitmask; ``instances``
    are the UUIDs of the guests using the GPU (mdev/vGPU or passthrough).
    Over Redfish, ``slowdown_temperature_c`` is the temperature sensor's
    upper non-critical (caution) threshold.
    """

    index: int
    pci_bus_id: str
    name: str
    utilization_percent: float | None = None
    memory_utilization_percent: float | None = None
    memory_used_mb: float | None = None
    memory_total_mb: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    temperature_c: float | None = None
    slowdown_temperature_c: float | None = None
    fan_percent: float | None = None
    sm_clock_mhz: float | None = None
    memory_clock_mhz: float | None = None
    throttle_reasons: int | None = None
    instances: tuple[str, ...] = ()
    source: GpuReadingSource = dataclasses.field(default='nvml',
                                                 metadata=since(3))


@dataclasses.dataclass(frozen=True)
class AsicLoad:
    """One network-attached miner (cgminer-compatible API).

    ``available`` is False when the miner did not answer usefully; its
    readings are then None.  Hashrates are in GH/s, counters are totals
    since the miner started.
    """

    miner: str
    available: bool
    instance: str | None = None
    hashrate_5s_ghs: float | None = None
    hashrate_avg_ghs: float | None = None
    accepted_shares: int | None = None
    rejected_shares: int | None = None
    hardware_errors: int | None = None
    temperature_c: float | None = None
    fan_rpm_min: float | None = None
    chains_total: int | None = None
    chains_active: int | None = None
    power_w: float | None = None


@dataclasses.dataclass(frozen=True)
class CollectorCounters:
    """The collector's own counters when it took the sample: samples
    dropped from its full buffer and publish attempts that failed since
    it started, samples waiting to be published, source failures."""

    dropped: int
    buffered: int
    publish_failures: int
    source_errors: int


# Metrics bounded as percentages; every other metric is a non-negative
# quantity except temperatures.  Kept next to the dataclasses so a new
# field gets a rule.
PERCENT_FIELDS = frozenset({'cpu_percent', 'mem_percent', 'swap_percent',
                            'utilization_percent',
                            'memory_utilization_percent', 'fan_percent'})
TEMPERATURE_FIELDS = frozenset({'cpu_temperature_c', 'temperature_c',
                                'slowdown_temperature_c',
                                'inlet_temperature_c'})


@dataclasses.dataclass(frozen=True)
class LoadSample:
    """Everything one collector cycle measured on one compute host."""

    host: str
    seq: int
    timestamp: float
    host_load: HostLoad
    instances: tuple[InstanceLoad, ...] = ()
    sensors: HostSensors = HostSensors()
    gpus: tuple[GpuLoad, ...] = ()
    asics: tuple[AsicLoad, ...] = ()
    collector: CollectorCounters | None = None  # None: schema 1
    #: The logical CPUs that ``cpu_percent`` (and each guest's) is a
    #: share of; None before schema 3.
    cpus: int | None = None

    @property
    def schema_version(self) -> int:
        if self.collector is None:
            return 1
        return 2 if self.cpus is None else SCHEMA_VERSION

    def to_wire(self) -> dict:
        """Return the JSON-able dict that is signed and published."""
        version = self.schema_version
        wire = {
            'schema_version': version,
            'host': self.host,
            'seq': self.seq,
            'timestamp': self.timestamp,
            # Shallow copies of the flat records: dataclasses.asdict
            # deep-copies and costs the collector ~30 times more.
            'host_load': vars(self.host_load).copy(),
            'instances': [vars(i).copy() for i in self.instances],
            # Without the fields added since, as a collector not yet
            # upgraded sends them.
            'sensors': _record(self.sensors, version),
            'gpus': [{**_record(g, version), 'instances': list(g.instances)}
                     for g in self.gpus],
            'asics': [vars(a).copy() for a in self.asics],
        }
        if self.collector is not None:
            wire['collector'] = vars(self.collector).copy()
        if self.cpus is not None:
            wire['cpus'] = self.cpus
        return wire

    @classmethod
    def from_wire(cls, wire: dict) -> 'LoadSample':
        """Build a sample from a wire dict already checked by validation."""
        return cls(
            host=wire['host'],
            seq=wire['seq'],
            timestamp=float(wire['timestamp']),
            host_load=HostLoad(**wire['host_load']),
            instances=tuple(InstanceLoad(**i) for i in wire['instances']),
            sensors=HostSensors(**wire['sensors']),
            gpus=tuple(GpuLoad(**{**g, 'instances': tuple(g['instances'])})
                       for g in wire['gpus']),
            asics=tuple(AsicLoad(**a) for a in wire['asics']),
            collector=(CollectorCounters(**wire['collector'])
                       if 'collector' in wire else None),
            cpus=wire.get('cpus'),
        )
