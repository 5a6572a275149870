"""From notifications to stored history: validate and store.

:class:`Ingestor` is transport-agnostic; :class:`SampleEndpoint` adapts it
to an oslo.messaging batch notification listener and hands each stored
batch on, to be summed in :class:`IngestTotals` and summarised.  A batch
is acknowledged only after its transaction committed; if the store fails,
the whole batch is requeued and its already-stored samples come back as
duplicates.
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
from cryptomine_scheduler import validation
from cryptomine_scheduler.db import store as store_mod

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Notification:
    """The parts of a notification that ingest looks at."""

    event_type: str
    payload: object


class RejectionLog:
    """Warns about rejections at most once per interval, with a summary
    of those in between (counting is :class:`IngestTotals`' job)."""

    def __init__(self, interval: float, clock: Callable[[], float]):
        self._interval = interval
        self._clock = clock
        self._pending: collections.Counter = collections.Counter()
        self._last_warning = -float('inf')
        self._lock = threading.Lock()

    def record(self, rejection: validation.Rejected) -> None:
        with self._lock:
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


@dataclasses.dataclass(frozen=True)
class BatchResult:
    """What one batch brought: new samples and rejections by reason."""

    received: int
    stored: tuple[sample_mod.LoadSample, ...]
    rejected: dict[validation.Reason, int]


class IngestTotals:
    """Counters since the controller started, summed over batches, and
    the ingest processes restarted (``restarts``: counts by service)."""

    def __init__(self, restarts: Callable[[], dict[str, int]] = dict):
        self._restarts = restarts
        self.received = 0
        self.stored = 0
        self.batches = 0
        self.rejected: collections.Counter = collections.Counter()
        self._lock = threading.Lock()

    def add(self, result: BatchResult) -> None:
        with self._lock:
            self.received += result.received
            self.stored += len(result.stored)
            self.batches += 1
            self.rejected.update(result.rejected)

    def wire(self) -> dict:
        """Counters as a JSON-able dict (served by RPC)."""
        with self._lock:
            return {'received': self.received, 'stored': self.stored,
                    'batches': self.batches,
                    'rejected': {reason.value: self.rejected[reason]
                                 for reason in validation.Reason},
                    'worker_restarts': self._restarts()}


class Ingestor:
    """Validates and stores batches of sample notifications."""

    def __init__(self, store: store_mod.HistoryStore,
                 policy: validation.Policy, rejections: RejectionLog,
                 clock: Callable[[], float] = time.time):
        self._store = store
        self._policy = policy
        self.rejections = rejections
        self._clock = clock

    def _accept(self, notification: Notification, now: float):
        if notification.event_type != sample_mod.EVENT_TYPE:
            raise validation.Rejected(
                validation.Reason.MALFORMED,
                f'unexpected event_type {notification.event_type!r}')
        return validation.validate(notification.payload, self._policy, now)

    def ingest(self, notifications: Sequence[Notification]) -> BatchResult:
        """Store the valid samples of a batch in one transaction.

        Store errors propagate (the caller requeues the batch); invalid
        messages are logged, counted in the result and dropped.
        """
        now = self._clock()
        valid, rejected = [], collections.Counter()
        for notification in notifications:
            try:
                valid.append(self._accept(notification, now))
            except validation.Rejected as rejection:
                self.rejections.record(rejection)
                rejected[rejection.reason] += 1
        added = self._store.add_samples(valid, now) if valid else None
        if added and added.duplicates:
            self.rejections.record(validation.Rejected(
                validation.Reason.DUPLICATE,
                f'{added.duplicates} sample(s) already stored'))
            rejected[validation.Reason.DUPLICATE] += added.duplicates
        return BatchResult(len(notifications),
                           added.stored if added else (), dict(rejected))


class SampleEndpoint:
    """Batch notification endpoint feeding an :class:`Ingestor`.

    ``on_result`` gets every stored batch's :class:`BatchResult` (to sum
    the totals and update the summaries, here or in another process).
    """

    def __init__(self, ingestor: Ingestor,
                 on_result: Callable[[BatchResult], None]):
        self._ingestor = ingestor
        self._on_result = on_result

    def info(self, messages):
        try:
            result = self._ingestor.ingest([
                Notification(m.get('event_type', ''), m.get('payload'))
                for m in messages])
        except Exception:
            LOG.exception('Storing a batch of %d samples failed; requeued',
                          len(messages))
            return oslo_messaging.NotificationResult.REQUEUE
        self._on_result(result)
        return oslo_messaging.NotificationResult.HANDLED
