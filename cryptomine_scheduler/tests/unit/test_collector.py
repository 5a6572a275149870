import socket
import threading

import fixtures
import oslo_messaging
import psutil
from oslo_config import cfg
from oslotest import base

from cryptomine_scheduler import signing
from cryptomine_scheduler import validation
from cryptomine_scheduler.tests import guests
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.unit import test_controller
from load_collector import buffer as buffer_mod
from load_collector import cmd as collector_cmd
from load_collector import daemon


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


def collector_conf(**collector) -> cfg.ConfigOpts:
    """Host compute-7 sampling its host source, with the master secret;
    ``collector`` overrides ``[collector]`` options."""
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


def host_key_conf(key_host: str, **collector) -> cfg.ConfigOpts:
    """A collector holding the host key of ``key_host``, no master
    secret."""
    conf = collector_conf(**collector)
    conf.clear_override('master_secret', 'messaging')
    conf.set_override(
        'host_key', signing.derive_host_key(samples.SECRET, key_host).hex(),
        'messaging')
    return conf


class CollectorTestCase(base.BaseTestCase):

    conf = staticmethod(collector_conf)

    def transport(self, conf, url):
        transport = oslo_messaging.get_notification_transport(conf, url=url)
        self.addCleanup(transport.cleanup)
        return transport

    def received(self, transport) -> Received:
        """What reaches the sample topic of ``transport`` from now on."""
        received = Received()
        listener = oslo_messaging.get_notification_listener(
            transport, [oslo_messaging.Target(topic='cryptomine_samples')],
            [received], executor='threading')
        listener.start()
        self.addCleanup(listener.wait)
        self.addCleanup(listener.stop)
        return received


class TestCollectorPublishes(CollectorTestCase):

    def test_signed_samples_in_order_over_the_bus(self):
        conf = self.conf()
        transport = self.transport(conf, 'fake:/')
        received = self.received(transport)
        collector = collector_cmd.build_collector(conf, transport)
        collector.run(threading.Event(), lambda: daemon.jittered(0.01, 0.5),
                      cycles=5)
        self.assertTrue(collector.shutdown(timeout=1.0))
        waiting.wait_for(lambda: len(received.payloads) == 5,
                         waiting.PATIENCE)
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
        err = self.assertRaises(SystemExit, collector_cmd.build_collector,
                                conf, self.transport(conf, 'fake:/'))
        self.assertIn('host_key must be set', str(err))
        self.assertIn('cryptomine-host-key compute-7', str(err))
        self.assertIn('or master_secret', str(err))


# Half a core: busy 20 ms, idle 20 ms.
HALF_CORE = '''
import time
while True:
    end = time.monotonic() + 0.02
    while time.monotonic() < end:
        pass
    time.sleep(0.02)
'''


def busy_percent(before, after) -> float:
    """The machine's CPU utilisation between two ``psutil.cpu_times()``,
    counted as psutil counts it (guest time is inside user time)."""
    def total(times):
        return sum(times) - getattr(times, 'guest', 0.0) - getattr(
            times, 'guest_nice', 0.0)

    def idle(times):
        return times.idle + getattr(times, 'iowait', 0.0)

    elapsed = total(after) - total(before)
    return 100.0 * (1.0 - (idle(after) - idle(before)) / elapsed)


class TestFirstSample(CollectorTestCase):

    def test_first_sample_measures_a_whole_interval(self):
        self.useFixture(guests.FakeGuests(1, code=HALF_CORE))
        conf = self.conf()
        transport = self.transport(conf, 'fake:/')
        received = self.received(transport)
        collector = collector_cmd.build_collector(conf, transport)
        before = psutil.cpu_times()
        collector.run(threading.Event(), lambda: 1.0, cycles=1)
        after = psutil.cpu_times()
        waiting.wait_for(lambda: received.payloads, waiting.PATIENCE)
        first = received.payloads[0][1]['sample']['host_load']['cpu_percent']
        # What the machine used over that interval, measured apart; the
        # burner alone is half a core of all of them.
        self.assertAlmostEqual(busy_percent(before, after), first, delta=5)
        self.assertGreater(first, 0.8 * 50.0 / psutil.cpu_count())


class TestSigningKey(CollectorTestCase):

    def test_master_secret_fallback_warns_once(self):
        logger = self.useFixture(fixtures.FakeLogger('load_collector'))
        key = collector_cmd.signing_key(self.conf())
        self.assertEqual(signing.derive_host_key(samples.SECRET, 'compute-7'),
                         key)
        self.assertEqual(1, len(logger.output.splitlines()))
        self.assertIn('set [messaging] host_key instead', logger.output)
        self.assertIn('cryptomine-host-key compute-7', logger.output)

    def test_host_key_wins_silently(self):
        logger = self.useFixture(fixtures.FakeLogger('load_collector'))
        conf = host_key_conf('compute-7')
        conf.set_override('master_secret', samples.SECRET, 'messaging')
        self.assertEqual(signing.derive_host_key(samples.SECRET, 'compute-7'),
                         collector_cmd.signing_key(conf))
        self.assertEqual('', logger.output)

    def test_malformed_host_key_refuses_to_start(self):
        conf = self.conf()
        good = signing.derive_host_key(samples.SECRET, 'compute-7').hex()
        for bad, found in ((good[:-1], 'it has 63 characters'),
                           (good[:-1] + 'g', 'not a hex digit'),
                           (good[:32] + ' ' + good[33:], 'not a hex digit')):
            conf.set_override('host_key', bad, 'messaging')
            err = self.assertRaises(SystemExit, collector_cmd.build_collector,
                                    conf, self.transport(conf, 'fake:/'))
            self.assertIn('host_key must be 64 hexadecimal digits', str(err))
            self.assertIn(found, str(err))
            self.assertNotIn(bad, str(err))


class TestHostKeyToController(test_controller.ControllerTestCase):
    """Collectors holding only a host key, publishing to a real controller
    on the fake transport."""

    def run_collector(self, conf, cycles):
        collector = collector_cmd.build_collector(conf, self.transport)
        collector.run(threading.Event(), lambda: 0.0,
                      cycles=cycles)
        self.assertTrue(collector.shutdown(timeout=1.0))

    def ingest_stats(self, received):
        return waiting.wait_for(
            lambda: (s := self.client.get_ingest_stats())['received']
            == received and s,
            waiting.PATIENCE)

    def test_samples_signed_with_the_host_key_are_stored(self):
        self.run_collector(host_key_conf('compute-7'), cycles=3)
        stats = self.ingest_stats(3)
        self.assertEqual(3, stats['stored'])
        self.assertFalse(any(stats['rejected'].values()))
        self.assertEqual(
            3, self.client.get_load_snapshot().hosts['compute-7'].samples)

    def test_key_of_another_host_is_rejected_and_counted(self):
        self.run_collector(host_key_conf('compute-7', host='compute-8'),
                           cycles=2)
        stats = self.ingest_stats(2)
        self.assertEqual(0, stats['stored'])
        self.assertEqual({'bad_signature': 2},
                         {k: v for k, v in stats['rejected'].items() if v})


class TestBrokerDown(CollectorTestCase):

    def test_keeps_sampling_into_a_bounded_buffer(self):
        conf = self.conf(buffer_size=3)
        transport = self.transport(
            conf, f'rabbit://guest:guest@127.0.0.1:{_closed_port()}/')
        collector = collector_cmd.build_collector(conf, transport)
        collector.run(threading.Event(), lambda: 0.0, cycles=5)
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
