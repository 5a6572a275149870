"""Poison messages over a real RabbitMQ: each is rejected alone and
counted, and the valid samples behind it are stored."""

import json
import subprocess
import sys
import time
import uuid

import kombu
import oslo_messaging
import psutil

from cryptomine_scheduler.cmd import manage
from cryptomine_scheduler.ingest import bus as ingest_bus
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.telemetry import signing
from cryptomine_scheduler.tests import fuzz
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.functional import base
from load_collector import buffer as buffer_mod
from load_collector import publisher as publisher_mod
from load_collector import sender

QUEUE = 'cryptomine_samples.info'


def _envelope(priority, payload) -> str:
    """An AMQP body as oslo.messaging writes a notification (its inner
    message kept as JSON text, so that escapes such as a lone surrogate
    reach the consumer as they are)."""
    inner = json.dumps({
        'message_id': str(uuid.uuid4()), 'publisher_id': 'poison',
        'event_type': sample.EVENT_TYPE, 'priority': priority,
        'payload': payload, 'timestamp': '2026-12-03 00:00:00.000000'})
    return json.dumps({'oslo.version': '2.0', 'oslo.message': inner})


class BusTestCase(base.PipelineTestCase):

    def _publisher(self, retry: int = 0) -> publisher_mod.SamplePublisher:
        transport = oslo_messaging.get_notification_transport(
            self.client()._client.transport.conf, url=self.broker.url)
        self.addCleanup(transport.cleanup)
        return publisher_mod.SamplePublisher(
            transport, 'cryptomine_samples', 'poison', retry)


class TestPoisonMessages(BusTestCase):

    def test_each_poison_rejected_alone_and_valid_samples_stored(self):
        self.start_controller()
        now = time.time()
        wire = samples.make(host='compute-p', seq=1, timestamp=now).to_wire()
        surrogate_host = _envelope('INFO', {
            'sample': dict(wire, host='PLACEHOLDER'),
            'signature': 'ab' * 32}).replace('PLACEHOLDER',
                                             'compute-\\\\udc80')
        raw_bodies = [
            b'\x00\xffnot json at all',               # not an envelope
            _envelope(7, signing.envelope(wire, b'k' * 32)),  # priority
            _envelope('WARN', signing.envelope(wire, b'k' * 32)),
            surrogate_host,
        ]
        with kombu.Connection(manage.amqp_url(self.broker.url)) as connection:
            producer = connection.Producer()
            for body in raw_bodies:
                producer.publish(body, routing_key=QUEUE, exchange='',
                                 content_type='application/json',
                                 content_encoding='utf-8')
        publisher = self._publisher()
        # Signed with the host's own key: only the controller's checks
        # stand between these and the database.
        publisher.publish({'sample': wire, 'signature': 'é' * 64})
        named = samples.make(host='compute-p', seq=2, timestamp=now,
                             gpus=[samples.gpu(0)]).to_wire()
        named['gpus'][0]['name'] = 'RTX \udc80'
        publisher.publish(samples.any_text_envelope(
            named, signing.derive_host_key(samples.SECRET, 'compute-p')))
        hosts = [f'compute-{n}' for n in range(4)]
        for seq in range(50):
            for host in hosts:
                publisher.publish(samples.payload(samples.make(
                    host=host, seq=seq, timestamp=now)))
        self.wait_stored(200)
        self.assert_contiguous(self.stored_seqs(), hosts, 50)
        stats = waiting.wait_for(
            lambda: (s := self.client().get_ingest_stats())['received']
            >= 206 and s, timeout=base.WAIT,
            seen=lambda: self.client().get_ingest_stats())
        self.assertEqual(200, stats['stored'])
        rejected = {k: v for k, v in stats['rejected'].items() if v}
        self.assertEqual({'not_an_envelope': 1, 'wrong_priority': 1,
                          'malformed': 4}, rejected)
        self.assertEqual(206, stats['received'])



class TestQueueLengthLimit(BusTestCase):
    """The operator's RabbitMQ policy caps the sample queue; a sample the
    broker refuses is an error to the collector, which keeps it."""

    def test_refused_sample_kept_then_stored(self):
        controller = self.start_controller()  # it declares the queue
        self._kill(controller)
        policy = self.broker._ctl(
            'set_policy', 'cryptomine-samples', f'^{QUEUE}$',
            '{"max-length": 3, "overflow": "reject-publish"}',
            '--apply-to', 'queues')
        self.assertEqual(0, policy.returncode, policy.stderr)
        now = time.time()
        buffer = buffer_mod.ReplayBuffer(100)
        for seq in range(5):
            buffer.append(samples.payload(samples.make(
                host='compute-q', seq=seq, timestamp=now)))
        # The collector's default [collector] publish_retry: the broker
        # closes the channel of a refused publish, which takes one
        # reconnection.
        publishing = sender.Sender(buffer, self._publisher(1).publish,
                                   retry_pause=0.2)
        publishing.start()
        self.addCleanup(publishing.stop, 0)
        # Three fill the queue; the broker refuses the fourth, which
        # stays at the head of the buffer with the fifth behind it.
        waiting.wait_for(lambda: publishing.failures > 0, base.WAIT)
        self.assertEqual((3, 2), (publishing.published, len(buffer)))
        self.broker._ctl('clear_policy', 'cryptomine-samples')
        self.start_controller()
        self.wait_stored(5)
        self.assertEqual({'compute-q': [0, 1, 2, 3, 4]}, self.stored_seqs())
        self.assertEqual(5, publishing.published)


class TestDeadLetters(base.PipelineTestCase):

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, '-m', 'cryptomine_scheduler.cmd.manage',
             '--config-file', self.common, 'dead-letters', *args],
            capture_output=True, text=True, timeout=base.WAIT)

    def test_parked_messages_listed_then_replayed_and_stored(self):
        self.start_controller()
        nothing = self.manage('list')
        self.assertEqual(0, nothing.returncode, nothing.stderr)
        self.assertIn('0 message(s) parked', nothing.stderr)
        now = time.time()
        parked = [{'event_type': sample.EVENT_TYPE,
                   'metadata': {'message_id': f'parked-{seq}'},
                   'payload': samples.payload(samples.make(
                       host='compute-d', seq=seq, timestamp=now))}
                  for seq in range(3)]
        transport = oslo_messaging.get_notification_transport(
            self.client()._client.transport.conf, url=self.broker.url)
        self.addCleanup(transport.cleanup)
        ingest_bus.DeadLetters(transport, 'cryptomine_samples_dead').park(
            parked, '5 failed attempts to store it: database down')

        listed = self.manage('list')
        self.assertEqual(0, listed.returncode, listed.stderr)
        lines = listed.stdout.splitlines()
        self.assertEqual(3, len(lines))
        for seq, line in enumerate(lines):
            self.assertIn(f"parked-{seq}  {sample.EVENT_TYPE}  "
                          f"host='compute-d' seq={seq}  5 failed attempts",
                          line)
        self.assertEqual({}, self.stored_seqs())  # listing keeps them

        replayed = self.manage('replay')
        self.assertEqual(0, replayed.returncode, replayed.stderr)
        self.assertIn('3 message(s) replayed onto cryptomine_samples.info',
                      replayed.stderr)
        self.wait_stored(3)
        self.assertEqual({'compute-d': [0, 1, 2]}, self.stored_seqs())
        self.assertIn('0 message(s) parked', self.manage('list').stderr)


class TestFuzz(BusTestCase):
    """Generated bad messages among valid ones, over the real broker."""

    BAD_PAYLOADS = 9000
    RAW_BODIES = 1200
    VALID_HOSTS = 10
    VALID_PER_HOST = 100

    def test_every_valid_sample_stored_once_every_bad_one_counted(self):
        controller = self.start_controller()
        workers = psutil.Process(controller.pid).children(recursive=True)
        rss_before = sum(p.memory_info().rss for p in workers)
        now = time.time()
        publisher = self._publisher()
        bad = fuzz.bad_payloads(self.BAD_PAYLOADS, seed=7, now=now)
        hosts = [f'valid-{n}' for n in range(self.VALID_HOSTS)]
        raw = fuzz.raw_bodies(self.RAW_BODIES, seed=11)
        with kombu.Connection(manage.amqp_url(self.broker.url)) as connection:
            producer = connection.Producer()
            for seq in range(self.VALID_PER_HOST):
                for host in hosts:
                    publisher.publish(samples.payload(samples.make(
                        host=host, seq=seq, timestamp=now)))
                for _ in range(self.BAD_PAYLOADS // self.VALID_PER_HOST):
                    publisher.publish(next(bad))
                for _ in range(self.RAW_BODIES // self.VALID_PER_HOST):
                    producer.publish(next(raw), routing_key=QUEUE,
                                     exchange='',
                                     content_type='application/json',
                                     content_encoding='utf-8')
                # The controller answers while it chews on all this.
                self.assertIn('stored', self.client().get_ingest_stats())
        total = (self.BAD_PAYLOADS + self.RAW_BODIES
                 + self.VALID_HOSTS * self.VALID_PER_HOST)
        stats = waiting.wait_for(
            lambda: (s := self.client().get_ingest_stats())['received']
            >= total and s, timeout=base.WAIT,
            seen=lambda: self.client().get_ingest_stats())
        self.assertEqual(total, stats['received'])
        self.assertEqual(self.VALID_HOSTS * self.VALID_PER_HOST,
                         stats['stored'])
        self.assertEqual(self.BAD_PAYLOADS + self.RAW_BODIES,
                         sum(stats['rejected'].values()))
        stored = self.stored_seqs()
        self.assertEqual(set(hosts), set(stored))  # no bad one stored
        self.assert_contiguous(stored, hosts, self.VALID_PER_HOST)
        rss_after = sum(p.memory_info().rss for p in workers)
        self.assertLess(rss_after - rss_before, 200 * 2 ** 20,
                        'the controller grew by more than 200 MiB')
