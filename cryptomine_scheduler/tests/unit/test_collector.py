import socket
import threading

import oslo_messaging
from oslo_config import cfg
from oslotest import base

from cryptomine_scheduler import validation
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from load_collector import buffer as buffer_mod
from load_collector import cmd as collector_cmd


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class Received:
    """Notification endpoint keeping what it got."""

    def __init__(self):
        self.payloads = []

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self.payloads.append((event_type, payload))


class CollectorTestCase(base.BaseTestCase):

    def conf(self, **collector):
        conf = cfg.ConfigOpts()
        collector_cmd.register_opts(conf)
        conf([])
        conf.set_override('master_secret', samples.SECRET, 'messaging')
        conf.set_override('host', 'compute-7', 'collector')
        conf.set_override('sources', ['host'], 'collector')
        conf.set_override('publish_retry', 0, 'collector')
        for name, value in collector.items():
            conf.set_override(name, value, 'collector')
        return conf

    def transport(self, conf, url):
        transport = oslo_messaging.get_notification_transport(conf, url=url)
        self.addCleanup(transport.cleanup)
        return transport


class TestCollectorPublishes(CollectorTestCase):

    def test_signed_samples_in_order_over_the_bus(self):
        conf = self.conf()
        transport = self.transport(conf, 'fake:/')
        received = Received()
        listener = oslo_messaging.get_notification_listener(
            transport, [oslo_messaging.Target(topic='cryptomine_samples')],
            [received], executor='threading')
        listener.start()
        self.addCleanup(listener.wait)
        self.addCleanup(listener.stop)
        collector = collector_cmd.build_collector(conf, transport)
        collector.run(threading.Event(), interval=0.01, jitter=0.5,
                      cycles=5)
        self.assertTrue(collector.shutdown(timeout=1.0))
        waiting.wait_for(lambda: len(received.payloads) == 5, timeout=10)
        policy = samples.POLICY
        checked = [validation.validate(p, policy, now=p['sample']
                                       ['timestamp'])
                   for _, p in received.payloads]
        first = collector.stats.first_seq
        self.assertEqual(list(range(first, first + 5)),
                         [s.seq for s in checked])
        self.assertEqual({'cryptomine.load.sample'},
                         {e for e, _ in received.payloads})
        self.assertEqual({'compute-7'}, {s.host for s in checked})
        self.assertEqual(5, collector.stats.published)

    def test_missing_secret_refuses_to_start(self):
        conf = self.conf()
        conf.clear_override('master_secret', 'messaging')
        self.assertRaises(SystemExit, collector_cmd.build_collector, conf,
                          self.transport(conf, 'fake:/'))


class TestBrokerDown(CollectorTestCase):

    def test_keeps_sampling_into_a_bounded_buffer(self):
        conf = self.conf(buffer_size=3)
        transport = self.transport(
            conf, f'rabbit://guest:guest@127.0.0.1:{_closed_port()}/')
        collector = collector_cmd.build_collector(conf, transport)
        collector.run(threading.Event(), interval=0.0, jitter=0.0, cycles=5)
        self.assertEqual(5, collector.stats.sampled)
        self.assertEqual(0, collector.stats.published)
        self.assertEqual(3, collector.stats.buffered)
        self.assertEqual(2, collector.stats.dropped)
        self.assertFalse(collector.shutdown(timeout=0.0))


class TestReplayBuffer(base.BaseTestCase):

    def test_failed_send_keeps_item_and_order(self):
        buf = buffer_mod.ReplayBuffer(capacity=10)
        for item in range(5):
            buf.append(item)
        sent, fail_on = [], {2}

        def send(item):
            if item in fail_on:
                raise OSError('down')
            sent.append(item)

        self.assertRaises(OSError, buf.drain, send)
        self.assertEqual([0, 1], sent)
        self.assertEqual(3, len(buf))
        fail_on.clear()
        self.assertEqual(3, buf.drain(send))
        self.assertEqual([0, 1, 2, 3, 4], sent)

    def test_overflow_drops_oldest(self):
        buf = buffer_mod.ReplayBuffer(capacity=2)
        for item in range(5):
            buf.append(item)
        out = []
        buf.drain(out.append)
        self.assertEqual([3, 4], out)
        self.assertEqual(3, buf.dropped)
