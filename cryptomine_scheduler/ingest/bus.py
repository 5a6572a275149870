"""The sample queue's consumer: every message stored or counted.

:func:`sample_listener` builds what consumes the queue for an
:class:`~.ingestor.Ingestor`: on RabbitMQ the controller's
:class:`~.sample_consumer.BatchConsumer` (with a :class:`BatchHandler`),
elsewhere oslo.messaging's batch listener.  Around it:

* :class:`SampleDispatcher` (or :class:`BatchHandler`) screens each
  message before the endpoint sees it: a message whose envelope cannot be
  read (a ``priority`` that is not a string, say) is counted
  ``malformed``, one that is not an ``info`` notification
  ``wrong_priority``; both are acknowledged, never requeued.
* :class:`DriverDrops` counts the bodies that the driver itself could not
  decode (``not_an_envelope``), which it drops with a traceback each: the
  tracebacks are replaced by a rate-limited line.
* :class:`SampleEndpoint` requeues a batch only when the database failed,
  after a pause that doubles each time, and parks a message whose batch
  failed ``max_attempts`` times in :class:`DeadLetters`.
"""

import collections
import dataclasses
import hashlib
import itertools
import logging as pylogging
import threading
import time
import uuid
from collections.abc import Callable

import oslo_messaging
from oslo_config import cfg
from oslo_log import log as logging
from oslo_messaging._drivers import impl_rabbit
from oslo_messaging.notify import dispatcher as notify_dispatcher
from oslo_messaging.notify import listener as notify_listener

from cryptomine_scheduler.ingest import ingestor as ingest
from cryptomine_scheduler.ingest import sample_consumer
from cryptomine_scheduler.telemetry import validation

LOG = logging.getLogger(__name__)
Reason = validation.Reason
OnResult = Callable[[ingest.BatchResult], None]
# The driver's logger (oslo.log names it with a dot: oslo.messaging...)
# and the line it logs for a body it cannot decode.
DRIVER_LOGGER = impl_rabbit.LOG.logger.name
DRIVER_DROP = 'Failed to process message ... skipping it.'
MAX_TRACKED_MESSAGES = 100_000
DEAD_LETTER_REASON = 'dead_letter_reason'
NOTIFICATION_VERSION = 2.0  # oslo.messaging's notification envelope
PARK_RETRY = 3
PRIORITY = 'info'  # the samples' notification priority
REQUEUE = oslo_messaging.NotificationResult.REQUEUE


def _counted(on_result: OnResult, reason: Reason, count: int) -> None:
    """Report ``count`` messages rejected for ``reason`` outside a batch."""
    on_result(ingest.BatchResult(count, (), {reason: count}))


def _rejection(priority_of: Callable, message) -> validation.Rejected | None:
    """Why ``message`` is no ``info`` notification, or None if it is."""
    try:
        priority = priority_of(message)
    except Exception as exc:
        return validation.Rejected(
            Reason.MALFORMED, f'unreadable notification envelope '
                              f'({exc.__class__.__name__})')
    if priority == PRIORITY:
        return None
    return validation.Rejected(Reason.WRONG_PRIORITY,
                               f'priority {priority!r}, expected info')


def _screen(messages, priority_of: Callable, on_result: OnResult,
            rejections: ingest.RejectionLog) -> list[bool]:
    """Whether each message is an ``info`` notification; the others are
    logged and counted."""
    readable, dropped = [], collections.Counter()
    for message in messages:
        reason = _rejection(priority_of, message)
        readable.append(reason is None)
        if reason is not None:
            rejections.record(reason)
            dropped[reason.reason] += 1
    for reason, count in dropped.items():
        _counted(on_result, reason, count)
    return readable


class SampleDispatcher(notify_dispatcher.BatchNotificationDispatcher):
    """oslo.messaging's batch dispatcher, less the messages it would
    choke on or silently drop."""

    def __init__(self, endpoints, on_result: OnResult,
                 rejections: ingest.RejectionLog):
        super().__init__(endpoints, serializer=None)
        self._on_result = on_result
        self._rejections = rejections

    def dispatch(self, incoming):
        readable = _screen(incoming,
                           lambda m: self._extract_user_message(m)[0],
                           self._on_result, self._rejections)
        kept = list(itertools.compress(incoming, readable))
        # The dropped ones are acknowledged: only returned ones requeue.
        return super().dispatch(kept) if kept else set()


def _priority(message: dict) -> str:
    return message.get('priority', '').lower()


def _delivered(message: dict) -> dict:
    """A driver's notification as oslo.messaging's dispatcher hands it
    to an endpoint (less the request context, unused here)."""
    return {'publisher_id': message.get('publisher_id'),
            'event_type': message.get('event_type'),
            'payload': message.get('payload'),
            'metadata': {'message_id': message.get('message_id'),
                         'timestamp': message.get('timestamp')}}


class BatchHandler:
    """:class:`SampleDispatcher`'s work for a
    :class:`~sample_consumer.BatchConsumer`: screens a batch, hands the
    ``info`` notifications to the endpoint, and says which to requeue."""

    def __init__(self, endpoint: 'SampleEndpoint', on_result: OnResult,
                 rejections: ingest.RejectionLog):
        self._endpoint = endpoint
        self._on_result = on_result
        self._rejections = rejections

    def __call__(self, batch: list[dict]) -> list[bool]:
        readable = _screen(batch, _priority, self._on_result,
                           self._rejections)
        kept = [_delivered(m) for m in itertools.compress(batch, readable)]
        requeue = bool(kept) and self._endpoint.info(kept) is REQUEUE
        return [requeue and ok for ok in readable]


class DriverDrops(pylogging.Filter):
    """Counts the messages the driver drops undecoded; keeps one warning
    per ``interval`` instead of a traceback each."""

    def __init__(self, on_result: OnResult, interval: float,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self._on_result = on_result
        self._interval = interval
        self._clock = clock
        self._last = -float('inf')
        self._since = 0
        self._lock = threading.Lock()

    def filter(self, record: pylogging.LogRecord) -> bool:
        if record.msg != DRIVER_DROP:
            return True
        _counted(self._on_result, Reason.NOT_AN_ENVELOPE, 1)
        with self._lock:
            self._since += 1
            now = self._clock()
            if now - self._last < self._interval:
                return False
            count, self._since, self._last = self._since, 0, now
        LOG.warning('Dropped %d message(s) that are not oslo.messaging '
                    'notifications (latest: %s)', count,
                    record.exc_info[1] if record.exc_info else 'unknown')
        return False

    def install(self) -> None:
        pylogging.getLogger(DRIVER_LOGGER).addFilter(self)

    def remove(self) -> None:
        pylogging.getLogger(DRIVER_LOGGER).removeFilter(self)


class DeadLetters:
    """Where messages go whose batch the database failed to store too
    often: the notification queue ``<topic>.info``, from which
    ``cryptomine-dead-letters`` shows and replays them.

    Sent through the transport itself, not a ``Notifier``, which logs a
    failed send and carries on: a message is acknowledged only once it
    is parked.
    """

    def __init__(self, transport, topic: str):
        self._transport = transport
        self._target = oslo_messaging.Target(topic=f'{topic}.info')
        self.topic = topic

    def park(self, messages: list[dict], why: str) -> None:
        for message in messages:
            metadata = message.get('metadata') or {}
            self._transport._send_notification(self._target, {}, {
                'message_id': metadata.get('message_id') or uuid.uuid4().hex,
                'publisher_id': message.get('publisher_id'),
                'event_type': message.get('event_type'),
                'priority': 'info',
                'payload': message.get('payload'),
                'timestamp': metadata.get('timestamp'),
                DEAD_LETTER_REASON: why,
            }, version=NOTIFICATION_VERSION, retry=PARK_RETRY)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often and after what pause a failed batch is retried."""

    max_attempts: int
    first_delay: float
    max_delay: float

    def delay(self, attempt: int) -> float:
        return min(self.first_delay * 2 ** (attempt - 1), self.max_delay)


class Attempts:
    """Failed store attempts per message, for the most recent ones."""

    def __init__(self, limit: int = MAX_TRACKED_MESSAGES):
        self._counts: collections.OrderedDict = collections.OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._counts)

    @staticmethod
    def key(message: dict) -> str:
        message_id = (message.get('metadata') or {}).get('message_id')
        if message_id:
            return str(message_id)
        return hashlib.sha256(repr(message.get('payload')).encode(
            'utf-8', 'backslashreplace')).hexdigest()

    def failed(self, messages: list[dict]) -> int:
        """Count a failure of the batch; return its most tried message's
        attempts."""
        with self._lock:
            worst = 0
            for message in messages:
                key = self.key(message)
                count = self._counts.pop(key, 0) + 1
                self._counts[key] = count
                worst = max(worst, count)
            while len(self._counts) > self._limit:
                self._counts.popitem(last=False)
            return worst

    def forget(self, messages: list[dict]) -> None:
        with self._lock:
            for message in messages:
                self._counts.pop(self.key(message), None)


class SampleEndpoint:
    """Batch notification endpoint feeding an :class:`Ingestor`.

    ``on_result`` gets every batch's :class:`~ingest.BatchResult` (to sum
    the totals and update the summaries, here or in another process).
    """

    def __init__(self, ingestor: ingest.Ingestor, on_result: OnResult,
                 dead_letters: DeadLetters, retry: RetryPolicy):
        self._ingestor = ingestor
        self._on_result = on_result
        self._dead_letters = dead_letters
        self._retry = retry
        self._attempts = Attempts()

    def info(self, messages):
        try:
            result = self._ingestor.ingest([
                ingest.Notification(m.get('event_type'), m.get('payload'))
                for m in messages])
        except Exception as exc:
            return self._failed(messages, exc)
        if self._attempts:
            self._attempts.forget(messages)
        self._on_result(result)
        return oslo_messaging.NotificationResult.HANDLED

    def _failed(self, messages, exc: Exception):
        attempt = self._attempts.failed(messages)
        if attempt >= self._retry.max_attempts:
            why = f'{attempt} failed attempts to store it: {exc}'
            try:
                self._dead_letters.park(messages, why)
            except Exception:
                LOG.exception('Could not park %d messages on %s; requeued',
                              len(messages), self._dead_letters.topic)
                return REQUEUE
            LOG.error('Storing a batch of %d samples failed %d times (%s); '
                      'parked on the dead-letter topic %s', len(messages),
                      attempt, exc, self._dead_letters.topic)
            self._attempts.forget(messages)
            _counted(self._on_result, Reason.DEAD_LETTERED, len(messages))
            return oslo_messaging.NotificationResult.HANDLED
        delay = self._retry.delay(attempt)
        LOG.warning('Storing a batch of %d samples failed (attempt %d of '
                    '%d: %s); requeued in %.0f s', len(messages), attempt,
                    self._retry.max_attempts, exc, delay,
                    exc_info=not isinstance(exc, ingest.StoreFailed))
        # Holding the batch keeps this listener from spinning on a
        # database that is down.
        time.sleep(delay)
        return REQUEUE


def listener_pool(conf: cfg.ConfigOpts) -> str:
    """The queue the controllers consume samples from."""
    return (conf.controller.listener_pool
            or f'{conf.messaging.sample_topic}.info')


_driver_drops: DriverDrops | None = None


def _count_driver_drops(on_result: OnResult, interval: float) -> None:
    """Count the driver's drops for the newest listener of this process."""
    global _driver_drops
    if _driver_drops is not None:
        _driver_drops.remove()
    _driver_drops = DriverDrops(on_result, interval)
    _driver_drops.install()


def sample_listener(conf: cfg.ConfigOpts, transport,
                    ingestor: ingest.Ingestor, on_result: OnResult):
    """A consumer of the sample queue feeding ``ingestor``: the
    controller's batch consumer on RabbitMQ (unless ``[controller]
    batch_consumer`` is off), else oslo.messaging's batch listener."""
    c = conf.controller
    _count_driver_drops(on_result, c.rejection_log_interval)
    endpoint = SampleEndpoint(
        ingestor, on_result, DeadLetters(transport, c.dead_letter_topic),
        RetryPolicy(c.max_store_attempts, c.store_retry_delay,
                    c.store_retry_max_delay))
    if c.batch_consumer and sample_consumer.supports(transport):
        return sample_consumer.BatchConsumer(
            transport, conf.messaging.sample_topic, listener_pool(conf),
            c.batch_size, c.batch_timeout,
            BatchHandler(endpoint, on_result, ingestor.rejections))
    dispatcher = SampleDispatcher([endpoint], on_result,
                                  ingestor.rejections)
    return notify_listener.BatchNotificationServer(
        transport,
        [oslo_messaging.Target(topic=conf.messaging.sample_topic)],
        dispatcher, executor='threading', allow_requeue=True,
        pool=listener_pool(conf), batch_size=c.batch_size,
        batch_timeout=c.batch_timeout)
