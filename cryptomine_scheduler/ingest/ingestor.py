"""From notifications to stored history: validate and store.

:class:`Ingestor` is transport-agnostic; :class:`SampleEndpoint` adapts it
to an oslo.messaging batch notification listener and hands each stored
batch on, to be summed in :class:`IngestTotals` and summarised.

One bad message harms only itself: whatever fails in a message's checks
rejects that message alone, as does a sample over its host's rate limit
(:mod:`~cryptomine_scheduler.ingest.rate_limit`), and a sample the database
refuses is found by storing the batch's samples one at a time and
rejected alone (``unstorable``).  Only a failure of the database itself
(down, locked, disk full) requeues the batch, after a pause that doubles
each time, and a message whose batch failed ``max_attempts`` times is
parked on the dead-letter topic instead (``dead_lettered``).  A batch is
acknowledged only after its transaction committed; samples stored before
a requeue come back as duplicates.
"""

import collections
import dataclasses
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence

from oslo_log import log as logging

from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.ingest import rate_limit as rate_limit_mod
from cryptomine_scheduler.telemetry import sample as sample_mod
from cryptomine_scheduler.telemetry import validation

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
    """What one batch brought: new samples, rejections by reason, and
    the valid samples that were stored already (``known``: counted as
    ``duplicate``, yet news to a controller that did not consume them)."""

    received: int
    stored: tuple[sample_mod.LoadSample, ...]
    rejected: dict[validation.Reason, int]
    known: tuple[sample_mod.LoadSample, ...] = ()


class IngestTotals:
    """Counters since the controller started, summed over batches, and
    the ingest processes restarted (``restarts``: counts by service).

    ``summarised`` counts the samples added to the summaries, from this
    controller's batches and from the batches its peers cast to it
    (``from_peers``, with :mod:`~cryptomine_scheduler.ingest.peer_samples`).
    """

    def __init__(self, restarts: Callable[[], dict[str, int]] = dict):
        self._restarts = restarts
        self.received = 0
        self.stored = 0
        self.batches = 0
        self.summarised = 0
        self.from_peers = 0
        self.rejected: collections.Counter = collections.Counter()
        self._lock = threading.Lock()

    def add(self, result: BatchResult, summarised: int = 0) -> None:
        with self._lock:
            self.received += result.received
            self.stored += len(result.stored)
            self.batches += 1
            self.summarised += summarised
            self.rejected.update(result.rejected)

    def add_from_peers(self, received: int, summarised: int) -> None:
        """Count a batch a peer controller stored and cast."""
        with self._lock:
            self.from_peers += received
            self.summarised += summarised

    def wire(self) -> dict:
        """Counters as a JSON-able dict (served by RPC)."""
        with self._lock:
            return {'received': self.received, 'stored': self.stored,
                    'batches': self.batches, 'summarised': self.summarised,
                    'from_peers': self.from_peers,
                    'rejected': {reason.value: self.rejected[reason]
                                 for reason in validation.Reason},
                    'worker_restarts': self._restarts()}


class Ingestor:
    """Validates and stores batches of sample notifications."""

    def __init__(self, store: store_mod.HistoryStore,
                 policy: validation.Policy, rejections: RejectionLog,
                 rate_limit: rate_limit_mod.HostRateLimit,
                 clock: Callable[[], float] = time.time):
        self._store = store
        self._policy = policy
        self.rejections = rejections
        self._rate_limit = rate_limit
        self._clock = clock

    def _accept(self, notification: Notification,
                now: float) -> sample_mod.LoadSample:
        if notification.event_type != sample_mod.EVENT_TYPE:
            raise validation.Rejected(
                validation.Reason.MALFORMED,
                f'unexpected event_type {notification.event_type!r}')
        valid = validation.validate(notification.payload, self._policy, now)
        if not self._rate_limit.take(valid.host, now):
            limit = self._rate_limit
            raise validation.Rejected(
                validation.Reason.TOO_FREQUENT,
                f'host {valid.host!r} sent more than {limit.burst} samples '
                f'at once or {limit.rate:g}/s since')
        return valid

    def ingest(self, notifications: Sequence[Notification]) -> BatchResult:
        """Store the valid samples of a batch in one transaction.

        Invalid messages are logged, counted in the result and dropped;
        :class:`StoreFailed` says the database itself failed.
        """
        now = self._clock()
        valid, rejected = [], collections.Counter()
        for notification in notifications:
            try:
                valid.append(self._accept(notification, now))
            except validation.Rejected as rejection:
                self._reject(rejection, rejected)
            except Exception as exc:  # input no check foresaw
                self._reject(validation.Rejected(
                    validation.Reason.MALFORMED,
                    f'unreadable ({exc.__class__.__name__})'), rejected)
        try:
            added = self._store_all(valid, now, rejected)
        except StoreFailed:
            # The batch comes back, and takes its tokens again then.
            self._rate_limit.give_back(s.host for s in valid)
            raise
        if added.duplicates:
            self._reject(validation.Rejected(
                validation.Reason.DUPLICATE,
                f'{added.duplicates} sample(s) already stored'), rejected,
                added.duplicates)
        return BatchResult(len(notifications), added.stored, dict(rejected),
                           added.known)

    def _reject(self, rejection: validation.Rejected,
                rejected: collections.Counter, count: int = 1) -> None:
        self.rejections.record(rejection)
        rejected[rejection.reason] += count

    def _add(self, samples: list[sample_mod.LoadSample],
             now: float) -> store_mod.AddResult:
        try:
            return self._store.add_samples(samples, now)
        except Exception as exc:
            if store_mod.is_store_failure(exc):
                raise StoreFailed(str(exc)) from exc
            raise

    def _store_all(self, valid: list[sample_mod.LoadSample], now: float,
                   rejected: collections.Counter) -> store_mod.AddResult:
        """Store ``valid``; if the database refuses the batch, store its
        samples one at a time and reject those it refuses."""
        if not valid:
            return store_mod.AddResult((), 0)
        try:
            return self._add(valid, now)
        except StoreFailed:
            raise
        except Exception as exc:
            if len(valid) == 1:
                self._unstorable(valid[0], exc, rejected)
                return store_mod.AddResult((), 0)
        stored, duplicates, known = [], 0, []
        for sample in valid:
            try:
                added = self._add([sample], now)
            except StoreFailed:
                raise
            except Exception as exc:
                self._unstorable(sample, exc, rejected)
                continue
            stored.extend(added.stored)
            duplicates += added.duplicates
            known.extend(added.known)
        return store_mod.AddResult(tuple(stored), duplicates, tuple(known))

    def _unstorable(self, sample: sample_mod.LoadSample, exc: Exception,
                    rejected: collections.Counter) -> None:
        self._reject(validation.Rejected(
            validation.Reason.UNSTORABLE,
            f'the database refused host {sample.host!r} seq {sample.seq} '
            f'({exc.__class__.__name__})'), rejected)


class StoreFailed(Exception):
    """The database failed, not the data: the batch is to be retried."""
