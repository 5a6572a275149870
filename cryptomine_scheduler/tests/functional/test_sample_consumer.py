"""The controller's batch consumer on a real RabbitMQ: batches, one
acknowledgement, requeues and a broker that drops the connection."""

import collections
import threading

import oslo_messaging
from oslo_config import cfg
from oslotest import base

from cryptomine_scheduler.ingest import sample_consumer
from cryptomine_scheduler.tests import rabbit
from cryptomine_scheduler.tests import waiting

TOPIC = 'consumer_test'
QUEUE = f'{TOPIC}.info'  # the notification queue a publisher creates
BATCH = 50


class TestBatchConsumer(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.broker = self.useFixture(rabbit.RabbitBroker())
        conf = cfg.ConfigOpts()
        conf([])
        self.transport = oslo_messaging.get_notification_transport(
            conf, url=self.broker.url)
        self.addCleanup(self.transport.cleanup)
        conf.set_override('rabbit_retry_interval', 1,
                          'oslo_messaging_rabbit')
        self.batches: list[list[dict]] = []
        self.lock = threading.Lock()

    def publish(self, numbers) -> None:
        """Notifications as collectors send samples: priority info."""
        notifier = oslo_messaging.Notifier(
            self.transport, 'test', driver='messagingv2', topics=[TOPIC])
        for n in numbers:
            notifier.info({}, 'test.event', {'n': n})

    def consume(self, requeue=lambda batch: [False] * len(batch)):
        def handle(batch):
            with self.lock:
                self.batches.append(batch)
            return requeue(batch)
        consumer = sample_consumer.BatchConsumer(
            self.transport, TOPIC, QUEUE, BATCH, 1, handle)
        consumer.start()
        self.addCleanup(consumer.wait)
        self.addCleanup(consumer.stop)
        return consumer

    def seen(self) -> collections.Counter:
        with self.lock:
            return collections.Counter(
                m['payload']['n'] for batch in self.batches for m in batch)

    def wait_seen(self, count: int) -> collections.Counter:
        waiting.wait_for(lambda: sum(self.seen().values()) >= count,
                         waiting.PATIENCE, seen=lambda: self.seen())
        return self.seen()

    def assert_queue_drained(self) -> None:
        # 'messages' counts the unacknowledged ones too.
        waiting.wait_for(lambda: self.broker.queue_depths().get(QUEUE) == 0,
                         waiting.PATIENCE, seen=self.broker.queue_depths)

    def test_a_backlog_comes_in_full_batches_and_is_all_acknowledged(self):
        self.assertTrue(sample_consumer.supports(self.transport))
        self.publish(range(3 * BATCH + 7))
        self.assertEqual(3 * BATCH + 7, self.broker.queue_depths()[QUEUE])
        self.consume()
        seen = self.wait_seen(3 * BATCH + 7)
        self.assertEqual(collections.Counter(range(3 * BATCH + 7)), seen)
        self.assert_queue_drained()
        sizes = [len(batch) for batch in self.batches]
        self.assertEqual([BATCH, BATCH, BATCH, 7], sizes)
        first = self.batches[0][0]
        self.assertEqual(('INFO', 'test.event', 'test'),
                         (first['priority'], first['event_type'],
                          first['publisher_id']))

    def test_only_the_messages_given_back_come_again(self):
        self.publish(range(20))
        odd_once = set()

        def requeue(batch):
            again = []
            for message in batch:
                n = message['payload']['n']
                again.append(n % 2 == 1 and n not in odd_once)
                odd_once.add(n)
            return again
        self.consume(requeue)
        seen = self.wait_seen(30)
        self.assertEqual({n: 1 + n % 2 for n in range(20)}, dict(seen))
        self.assert_queue_drained()

    def test_a_batch_whose_handler_fails_comes_again(self):
        self.publish(range(10))
        failed = []

        def requeue(batch):
            if not failed:
                failed.append(len(batch))
                raise RuntimeError('a bug in the handler')
            return [False] * len(batch)
        self.consume(requeue)
        seen = self.wait_seen(20)
        self.assertEqual([10], failed)
        self.assertEqual({n: 2 for n in range(10)}, dict(seen))
        self.assert_queue_drained()

    def test_a_connection_the_broker_closes_loses_nothing(self):
        self.publish(range(2 * BATCH))
        closed = threading.Event()

        def requeue(batch):
            if not closed.is_set():
                closed.set()
                result = self.broker._ctl('close_all_connections', 'test')
                self.assertEqual(0, result.returncode, result.stderr)
            return [False] * len(batch)
        self.consume(requeue)
        # The first batch's acknowledgement fails with its connection;
        # the broker delivers it again on the next one.
        seen = self.wait_seen(3 * BATCH)
        self.assertEqual(set(range(2 * BATCH)), set(seen))
        self.assertTrue(all(count <= 2 for count in seen.values()), seen)
        self.assert_queue_drained()
        # and goes on consuming on the new one.
        self.publish([1000])
        waiting.wait_for(lambda: self.seen()[1000], waiting.PATIENCE)
        self.assert_queue_drained()
        self.assertEqual(1, self.seen()[1000])
