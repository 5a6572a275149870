"""How many samples one host may have stored: a token bucket per host.

A host's bucket holds up to ``burst`` tokens and refills at ``rate``
tokens a second of the controller's clock; each sample takes one, and
while the bucket is empty the host's samples are rejected
(``too_frequent``).

The bucket runs on the time samples arrive, not on their timestamps: a
host holds its own signing key and so picks its timestamps, and spread
over the accepted age (``raw_retention``) any number of them would pass
a check on timestamps.  A legitimate replay passes nonetheless, because
the bucket refills while nothing arrives: a collector cut off from the
bus for T seconds buffered T/interval samples, and its bucket gained
T * ``rate`` tokens, up to ``burst``.  So ``rate`` of at least one
sample per collector interval, and ``burst`` at least the samples one
host can have that are not too old (``raw_retention`` / interval, also
the collector's default buffer), reject no replay.

Only samples that validated are counted, so forged host names cannot
add hosts, and at most ``max_hosts`` are tracked: the least recently
seen is forgotten first (its bucket is full again if it comes back).
Each ingest process keeps its own buckets.
"""

import collections
import threading
from collections.abc import Iterable

MAX_TRACKED_HOSTS = 100_000


class HostRateLimit:
    """Token buckets of the most recently seen hosts."""

    def __init__(self, rate: float, burst: int,
                 max_hosts: int = MAX_TRACKED_HOSTS):
        self.rate = rate
        self.burst = burst
        self._max_hosts = max_hosts
        # host -> (tokens, when they were counted), oldest seen first.
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = (
            collections.OrderedDict())
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, host: str, now: float) -> bool:
        """Take one of ``host``'s tokens; False if it has none left."""
        with self._lock:
            tokens, then = self._buckets.pop(host, (self.burst, now))
            # max(): a clock set back refills nothing.
            tokens = min(self.burst,
                         tokens + max(0.0, now - then) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[host] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > self._max_hosts:
                self._buckets.popitem(last=False)
            return allowed

    def give_back(self, hosts: Iterable[str]) -> None:
        """Return a token to each of ``hosts`` (once per listing), for
        samples that will come again."""
        with self._lock:
            for host in hosts:
                if host in self._buckets:
                    tokens, then = self._buckets[host]
                    self._buckets[host] = (min(self.burst, tokens + 1.0),
                                           then)
