"""The sample queue's consumer on RabbitMQ: a batch per lock, one ack.

oslo.messaging's batch notification listener spends about 0.25 ms of
CPU on each message it hands over: a retry wrapper, a timer and a lock
round per message, an incoming-message object, and an acknowledgement
per message queued back to the polling thread.  At a controller's
rates that is most of its CPU.  :class:`BatchConsumer` keeps what
matters of it and drops the rest:

* the connection is the rabbit driver's own listening connection, so
  the transport URL, TLS, fail-over between brokers, heartbeats, the
  queue's declaration (durable, quorum) and the wire format are exactly
  those of ``[oslo_messaging_rabbit]``;
* each batch starts with the driver's ``consume``, which reconnects and
  declares the consumer again where needed, then drains the rest of the
  batch under one hold of the connection's lock;
* a batch is acknowledged with one ``basic.ack`` (``multiple``); only
  the messages of a batch that the endpoint gives back are requeued,
  each alone.

A body the driver cannot decode is rejected by the driver, as under
oslo.messaging's listener (and counted by :class:`ingest_bus.DriverDrops`).
Messages of a connection that failed are neither acknowledged nor
requeued: the broker gave them back when the connection closed.
"""

import threading
import time
from collections.abc import Callable

from oslo_log import log as logging
from oslo_messaging._drivers import common as rpc_common
from oslo_messaging._drivers import impl_rabbit

LOG = logging.getLogger(__name__)
#: Messages handed to ``handle``, each with whether to requeue it.
Handler = Callable[[list[dict]], list[bool]]


def supports(transport) -> bool:
    """Whether ``transport`` is RabbitMQ, the broker this consumer reads."""
    return isinstance(getattr(transport, '_driver', None),
                      impl_rabbit.RabbitDriver)


class BatchConsumer:
    """Consumes ``<topic>.info`` through queue ``pool`` in batches, on
    the transport's exchange (``control_exchange``).

    ``handle`` gets each batch's decoded messages (oslo.messaging's
    notification dictionaries) and returns, message by message, whether
    to requeue it.  The interface is a server's: start, stop, wait.
    """

    def __init__(self, transport, topic: str, pool: str, batch_size: int,
                 batch_timeout: float, handle: Handler):
        self._driver = transport._driver
        self._topic = topic
        self._pool = pool
        self._batch_size = batch_size
        self._batch_timeout = batch_timeout
        self._handle = handle
        self._received: list[impl_rabbit.RabbitMessage] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # The context closes its connection once collected: it is kept.
        self._context = self._driver._get_connection(
            rpc_common.PURPOSE_LISTEN)
        self._connection = self._context.connection
        self._connection.declare_topic_consumer(
            exchange_name=self._driver._default_exchange,
            topic=f'{self._topic}.info', callback=self._received.append,
            queue_name=self._pool)
        self._thread = threading.Thread(
            target=self._run, name=f'sample-consumer-{self._pool}',
            daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the batch in hand."""
        self._stopping.set()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self._context.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._fill()
                if batch:
                    self._settle(batch, self._verdicts(batch))
            except Exception:
                # The driver reconnects at the next batch's consume, and
                # the broker gives back what was not acknowledged.
                LOG.exception('Consuming samples from %s failed', self._pool)
                self._stopping.wait(1.0)

    def _verdicts(self, batch: list[impl_rabbit.RabbitMessage]) -> list[bool]:
        """Which messages of ``batch`` to requeue: all of them if the
        handler fails, as oslo.messaging's dispatcher does."""
        try:
            return self._handle(batch)
        except Exception:
            LOG.exception('Handling %d samples from %s failed; requeued',
                          len(batch), self._pool)
            return [True] * len(batch)

    def _fill(self) -> list[impl_rabbit.RabbitMessage]:
        """The next batch: what arrives within ``batch_timeout`` of its
        first message, up to ``batch_size``."""
        self._received.clear()
        try:
            # The driver's path: reconnection, consumers declared again.
            self._connection.consume(timeout=self._batch_timeout)
        except rpc_common.Timeout:
            return []
        deadline = time.monotonic() + self._batch_timeout
        kombu = self._connection.connection
        with self._connection._connection_lock:
            while len(self._received) < self._batch_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    break
                try:
                    kombu.drain_events(timeout=min(remaining, 1.0))
                except TimeoutError:
                    break
                except Exception as exc:
                    # The next consume reconnects; what arrived on this
                    # connection went back to the queue with it.
                    LOG.warning('Sample queue %s: %s; reconnecting',
                                self._pool, exc)
                    return []
        if not self._current(self._received):
            return []
        return list(self._received)

    def _current(self, batch: list[impl_rabbit.RabbitMessage]) -> bool:
        """Whether ``batch`` came on the connection's present channel:
        delivery tags are the channel's."""
        channel = self._connection.channel
        return all(m._raw_message.channel is channel for m in batch)

    def _settle(self, batch: list[impl_rabbit.RabbitMessage],
                requeue: list[bool]) -> None:
        with self._connection._connection_lock:
            if not self._current(batch):
                LOG.warning('Sample queue %s: the connection was replaced '
                            'while %d messages were handled; the broker '
                            'delivers them again', self._pool, len(batch))
                return
            if not any(requeue):
                self._connection.channel.basic_ack(
                    batch[-1]._raw_message.delivery_tag, multiple=True)
                return
            for message, again in zip(batch, requeue, strict=True):
                if again:
                    message.requeue()
                else:
                    message.acknowledge()
