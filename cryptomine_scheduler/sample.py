"""The load sample: what a collector measures and the controller stores.

A sample travels as a plain JSON-able dict (its *wire* form) inside a
signed envelope (see :mod:`cryptomine_scheduler.signing`).  This module
owns the dataclasses and the conversion in both directions; checking
untrusted input is the job of :mod:`cryptomine_scheduler.validation`.
"""

import dataclasses
import enum

SCHEMA_VERSION = 1
EVENT_TYPE = 'cryptomine.load.sample'


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


@dataclasses.dataclass(frozen=True)
class InstanceLoad:
    """One guest's load: CPU as a share of the whole host, RSS in MiB."""

    uuid: str
    cpu_percent: float
    rss_mb: float


class InstanceMetric(enum.Enum):
    """The instance metrics kept as history."""

    CPU_PERCENT = 'cpu_percent'
    RSS_MB = 'rss_mb'


# Metrics bounded as percentages; every other metric is a non-negative
# quantity.  Kept next to the dataclasses so a new field gets a rule.
PERCENT_FIELDS = frozenset({'cpu_percent', 'mem_percent', 'swap_percent'})


@dataclasses.dataclass(frozen=True)
class LoadSample:
    """Everything one collector cycle measured on one compute host."""

    host: str
    seq: int
    timestamp: float
    host_load: HostLoad
    instances: tuple[InstanceLoad, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def to_wire(self) -> dict:
        """Return the JSON-able dict that is signed and published."""
        return {
            'schema_version': self.schema_version,
            'host': self.host,
            'seq': self.seq,
            'timestamp': self.timestamp,
            'host_load': dataclasses.asdict(self.host_load),
            'instances': [dataclasses.asdict(i) for i in self.instances],
        }

    @classmethod
    def from_wire(cls, wire: dict) -> 'LoadSample':
        """Build a sample from a wire dict already checked by validation."""
        return cls(
            host=wire['host'],
            seq=wire['seq'],
            timestamp=float(wire['timestamp']),
            host_load=HostLoad(**wire['host_load']),
            instances=tuple(InstanceLoad(**i) for i in wire['instances']),
            schema_version=wire['schema_version'],
        )
