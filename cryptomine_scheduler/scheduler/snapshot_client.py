"""Keeps the controller's load snapshot at hand for the scheduler.

Filters and weighers run once per host per request: they must never wait
for the network.  :class:`SnapshotCache` hands out the snapshot it holds
and, when that is older than ``ttl``, starts one background refresh.
Only the very first call waits (up to the RPC timeout) for a snapshot.
When the controller cannot be reached the last good snapshot is served
until it is ``max_age`` old; after that :meth:`SnapshotCache.get` returns
None and the caller applies its missing-data policy.
"""

import threading
import time
from collections.abc import Callable

from oslo_log import log as logging

from cryptomine_scheduler.history import snapshot

LOG = logging.getLogger(__name__)


class SnapshotCache:
    """A snapshot refreshed off the hot path."""

    def __init__(self, fetch: Callable[[], snapshot.LoadSnapshot],
                 ttl: float, max_age: float,
                 clock: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self.ttl = ttl
        self.max_age = max_age
        self._clock = clock
        self._snapshot: snapshot.LoadSnapshot | None = None
        self._fetched_at = -float('inf')
        self._refreshing = threading.Lock()
        self._first = threading.Event()
        self._failing = False

    def refresh(self) -> None:
        """Fetch a snapshot now (unless a refresh is already running)."""
        if not self._refreshing.acquire(blocking=False):
            return
        try:
            fresh = self._fetch()
        except Exception as exc:
            if not self._failing:
                LOG.warning('Cannot fetch the load snapshot (%s); serving '
                            'the last one for up to %ss', exc, self.max_age)
            self._failing = True
        else:
            if self._failing:
                LOG.info('Load snapshot fetched again')
            self._failing = False
            self._snapshot, self._fetched_at = fresh, self._clock()
        finally:
            self._refreshing.release()
            self._first.set()

    def get(self, first_wait: float = 0.0) -> snapshot.LoadSnapshot | None:
        """Return the snapshot, or None if none is younger than max_age."""
        if (self._clock() - self._fetched_at >= self.ttl
                and not self._refreshing.locked()):
            threading.Thread(target=self.refresh, daemon=True,
                             name='cryptomine-snapshot').start()
        self._first.wait(first_wait)
        fresh = self._clock() - self._fetched_at < self.max_age
        return self._snapshot if fresh else None
