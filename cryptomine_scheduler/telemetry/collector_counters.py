"""The counters each host's collector last reported about itself.

Every schema-2 sample carries its collector's counters since it started
(:class:`~.sample.CollectorCounters`), so the newest
sample of a host says all there is: the controller keeps that one, in
memory, for the metrics and the ``get_collector_counters`` RPC call
(``host list`` and ``host show``).  After a controller restart a host's
counters are back with its next sample.
"""

import dataclasses
import math
import threading

from cryptomine_scheduler.telemetry import sample as sample_mod


@dataclasses.dataclass(frozen=True)
class Reported:
    """A host's newest counters and the sample that carried them."""

    seq: int
    timestamp: float
    counters: sample_mod.CollectorCounters

    def wire(self) -> dict:
        return {'seq': self.seq, 'timestamp': self.timestamp,
                **vars(self.counters)}

    @classmethod
    def from_wire(cls, wire: dict) -> 'Reported':
        """Counters a newer controller adds are left out."""
        counters = sample_mod.CollectorCounters(**{
            field.name: wire[field.name]
            for field in dataclasses.fields(sample_mod.CollectorCounters)})
        return cls(wire['seq'], wire['timestamp'], counters)


class CounterBook:
    """The newest :class:`Reported` of every host, by sequence number (a
    buffer replayed after an outage arrives oldest first)."""

    def __init__(self):
        self._newest: dict[str, Reported] = {}
        self._lock = threading.Lock()

    def add(self, sample: sample_mod.LoadSample) -> None:
        if sample.collector is None:  # schema 1
            return
        with self._lock:
            known = self._newest.get(sample.host)
            if known is None or sample.seq > known.seq:
                self._newest[sample.host] = Reported(
                    sample.seq, sample.timestamp, sample.collector)

    def get(self, host: str) -> Reported | None:
        with self._lock:
            return self._newest.get(host)

    def since(self, oldest: float = -math.inf) -> dict[str, Reported]:
        """Hosts whose newest counters are from ``oldest`` on (all by
        default)."""
        with self._lock:
            return {host: reported for host, reported in self._newest.items()
                    if reported.timestamp >= oldest}
