"""From notifications to stored history: validate, store, summarise.

:class:`Ingestor` is transport-agnostic; :class:`SampleEndpoint` adapts it
to an oslo.messaging batch notification listener.  A batch is acknowledged
only after its transaction committed; if the store fails, the whole batch
is requeued and its already-stored samples come back as duplicates.
"""

import collections
import dataclasses
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence

import oslo_messaging
from oslo_log import log as logging

from cryptomine_scheduler import sample as sample_mod
from cryptomine_scheduler import snapshot
from cryptomine_scheduler import validation
from cryptomine_scheduler.db import store as store_mod

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Notification:
    """The parts of a notification that ingest looks at."""

    event_type: str
    payload: object


class RejectionLog:
    """Counts rejections by reason and warns at most once per interval."""

    def __init__(self, interval: float, clock: Callable[[], float]):
        self.counts: collections.Counter = collections.Counter()
        self._interval = interval
        self._clock = clock
        self._pending: collections.Counter = collections.Counter()
        self._last_warning = -float('inf')
        self._lock = threading.Lock()

    def record(self, rejection: validation.Rejected) -> None:
        with self._lock:
            self.counts[rejection.reason] += 1
            self._pending[rejection.reason] += 1
            now = self._clock()
            if now - self._last_warning < self._interval:
                return
            summary = ', '.join(f'{r.value}={n}'
                                for r, n in sorted(self._pending.items(),
                                                   key=lambda i: i[0].value))
            self._pending.clear()
            self._last_warning = now
        LOG.warning('Rejected samples since last report: %s (latest: %s)',
                    summary, rejection)


@dataclasses.dataclass
class IngestStats:
    """Totals since the controller started."""

    received: int = 0
    stored: int = 0
    batches: int = 0


class Ingestor:
    """Validates, stores and summarises batches of sample notifications."""

    def __init__(self, store: store_mod.HistoryStore,
                 tracker: snapshot.LoadTracker, policy: validation.Policy,
                 rejections: RejectionLog,
                 clock: Callable[[], float] = time.time):
        self._store = store
        self._tracker = tracker
        self._policy = policy
        self.rejections = rejections
        self._clock = clock
        self.stats = IngestStats()
        self._lock = threading.Lock()

    def _accept(self, notification: Notification, now: float):
        if notification.event_type != sample_mod.EVENT_TYPE:
            raise validation.Rejected(
                validation.Reason.MALFORMED,
                f'unexpected event_type {notification.event_type!r}')
        return validation.validate(notification.payload, self._policy, now)

    def ingest(self, notifications: Sequence[Notification]) -> int:
        """Store the valid samples of a batch; return how many were new.

        Store errors propagate (the caller requeues the batch); invalid
        messages are counted and dropped.
        """
        now = self._clock()
        valid = []
        for notification in notifications:
            try:
                valid.append(self._accept(notification, now))
            except validation.Rejected as rejection:
                self.rejections.record(rejection)
        result = self._store.add_samples(valid, now) if valid else None
        stored = result.stored if result else ()
        for sample in stored:
            self._tracker.add(sample)
        for _ in range(result.duplicates if result else 0):
            self.rejections.record(validation.Rejected(
                validation.Reason.DUPLICATE, 'sample already stored'))
        with self._lock:
            self.stats.received += len(notifications)
            self.stats.stored += len(stored)
            self.stats.batches += 1
        return len(stored)

    def stats_wire(self) -> dict:
        """Counters as a JSON-able dict (served by RPC)."""
        with self._lock:
            totals = dataclasses.asdict(self.stats)
        totals['rejected'] = {reason.value: self.rejections.counts[reason]
                              for reason in validation.Reason}
        return totals


class SampleEndpoint:
    """Batch notification endpoint feeding an :class:`Ingestor`."""

    def __init__(self, ingestor: Ingestor):
        self._ingestor = ingestor

    def info(self, messages):
        try:
            self._ingestor.ingest([
                Notification(m.get('event_type', ''), m.get('payload'))
                for m in messages])
        except Exception:
            LOG.exception('Storing a batch of %d samples failed; requeued',
                          len(messages))
            return oslo_messaging.NotificationResult.REQUEUE
        return oslo_messaging.NotificationResult.HANDLED
