import json
import socket
import subprocess
import sys
import threading

import fixtures
import oslo_messaging
import psutil
from oslo_config import cfg
from oslotest import base

from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.telemetry import signing
from cryptomine_scheduler.telemetry import validation
from cryptomine_scheduler.tests import fake_miner
from cryptomine_scheduler.tests import guests
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.unit import test_controller
from load_collector import buffer as buffer_mod
from load_collector import cmd as collector_cmd
from load_collector import daemon
from load_collector import publisher as publisher_mod


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
    conf.set_override('publish_retry', 1, 'collector')
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
        checked = [validation.validate(p, policy,
                                       now=signing.opened(p)['timestamp'])
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
        first = signing.opened(
            received.payloads[0][1])['host_load']['cpu_percent']
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

    def test_sampling_never_waits_for_an_unreachable_broker(self):
        conf = self.conf(buffer_size=10)
        transport = self.transport(
            conf, f'rabbit://guest:guest@127.0.0.1:{_closed_port()}/')
        collector = collector_cmd.build_collector(conf, transport)
        collector.run(threading.Event(), lambda: 0.0, cycles=5)
        stats = collector.stats
        self.assertEqual(5, stats.sampled)
        self.assertEqual(0, stats.published)
        self.assertEqual(5, stats.buffered)
        self.assertEqual(0, stats.dropped)
        waiting.wait_for(lambda: collector.stats.publish_failures,
                         waiting.PATIENCE)
        self.assertFalse(collector.shutdown(timeout=0.0))


class GatedPublisher:
    """Records what it publishes; ``publish`` waits for ``gate`` and
    fails while ``down`` is set."""

    def __init__(self):
        self.gate = threading.Event()
        self.gate.set()
        self.down = threading.Event()
        self.entered = threading.Event()
        self.published: list[dict] = []

    def publish(self, payload: dict) -> None:
        self.entered.set()
        self.gate.wait()
        if self.down.is_set():
            raise publisher_mod.PublishError('broker down')
        self.published.append(payload)


class FailingSource:

    def collect(self, draft) -> None:
        raise OSError('sensor gone')

    def close(self) -> None:
        pass


class TestPublishingThread(CollectorTestCase):
    """The collector with a publisher that blocks or fails: cycles go on,
    the counters say so, the buffer is replayed in order."""

    def collector(self, buffer_size: int = 100, sources=()):
        publisher = GatedPublisher()
        conf = self.conf()
        collector = daemon.Collector(
            'compute-7', collector_cmd.load_sources(conf) + list(sources),
            publisher,
            collector_cmd.signing_key(conf),
            buffer_mod.ReplayBuffer(buffer_size))
        self.addCleanup(collector.shutdown, 0.0)
        self.addCleanup(publisher.gate.set)
        return collector, publisher

    def seqs(self, publisher: GatedPublisher) -> list[int]:
        return [signing.opened(p)['seq'] for p in publisher.published]

    def test_cycles_go_on_while_a_publish_blocks(self):
        collector, publisher = self.collector()
        publisher.gate.clear()
        collector.start()
        collector.cycle()
        waiting.wait_for(publisher.entered.is_set, waiting.PATIENCE)
        counters = [collector.sample().collector for _ in range(3)]
        # Sampled while the first sample was in hand and the next waited.
        self.assertEqual([1, 1, 1], [c.buffered for c in counters])
        for _ in range(4):
            collector.cycle()
        self.assertEqual(5, collector.stats.buffered)
        publisher.gate.set()
        self.assertTrue(collector.shutdown(timeout=waiting.PATIENCE))
        first = collector.first_seq
        self.assertEqual([first] + list(range(first + 4, first + 8)),
                         self.seqs(publisher))
        waited = [signing.opened(p)['collector']['buffered']
                  for p in publisher.published]
        self.assertEqual([0, 1, 2, 3, 4], waited)

    def test_failures_counted_and_buffer_replayed_in_order(self):
        collector, publisher = self.collector()
        publisher.down.set()
        collector.run(threading.Event(), lambda: 0.0, cycles=3)
        waiting.wait_for(lambda: collector.stats.publish_failures,
                         waiting.PATIENCE)
        collector.cycle()
        publisher.down.clear()
        self.assertTrue(collector.shutdown(timeout=waiting.PATIENCE))
        first = collector.first_seq
        self.assertEqual(list(range(first, first + 4)),
                         self.seqs(publisher))
        last = signing.opened(publisher.published[-1])['collector']
        self.assertGreaterEqual(last['publish_failures'], 1)
        self.assertEqual(3, last['buffered'])
        self.assertEqual(0, last['dropped'])
        self.assertEqual(4, collector.stats.published)

    def test_full_buffer_keeps_the_newest(self):
        collector, publisher = self.collector(buffer_size=3)
        publisher.gate.clear()
        collector.start()
        collector.cycle()
        waiting.wait_for(publisher.entered.is_set, waiting.PATIENCE)
        for _ in range(5):
            collector.cycle()
        self.assertEqual(2, collector.stats.dropped)
        self.assertEqual(4, collector.stats.buffered)  # 1 in hand, 3 wait
        self.assertEqual(2, collector.sample().collector.dropped)
        publisher.gate.set()
        self.assertTrue(collector.shutdown(timeout=waiting.PATIENCE))
        first = collector.first_seq
        self.assertEqual([first, first + 3, first + 4, first + 5],
                         self.seqs(publisher))

    def test_source_errors_counted_in_samples(self):
        collector, _ = self.collector(sources=[FailingSource()])
        self.assertEqual([1, 2], [collector.sample().collector.source_errors
                                  for _ in range(2)])
        self.assertEqual(2, collector.stats.source_errors)


class TestReplayBuffer(base.BaseTestCase):

    def test_put_back_keeps_item_and_order(self):
        buf = buffer_mod.ReplayBuffer(capacity=10)
        for item in range(3):
            buf.append(item)
        self.assertEqual(0, buf.take())
        self.assertEqual(3, len(buf))  # the one in hand included
        buf.put_back(0)
        for expected in (0, 1):
            self.assertEqual(expected, buf.take())
            buf.sent()
        self.assertEqual(1, len(buf))

    def test_overflow_drops_oldest(self):
        buf = buffer_mod.ReplayBuffer(capacity=2)
        for item in range(5):
            buf.append(item)
        buf.close()
        out = []
        while (item := buf.take()) is not None:
            out.append(item)
            buf.sent()
        self.assertEqual([3, 4], out)
        self.assertEqual(3, buf.dropped)

    def test_item_put_back_into_a_full_buffer_is_dropped(self):
        buf = buffer_mod.ReplayBuffer(capacity=2)
        buf.append(0)
        self.assertEqual(0, buf.take())
        buf.append(1)
        buf.append(2)
        buf.put_back(0)
        self.assertEqual(1, buf.dropped)
        self.assertEqual([1, 2], [buf.take(), buf.take()])


class TestReleaseFreedMemory(base.BaseTestCase):

    def test_malloc_trim_called_where_there_is_one(self):
        libc = self.useFixture(fixtures.MockPatch(
            'load_collector.daemon.ctypes.CDLL')).mock.return_value
        daemon.release_freed_memory()
        libc.malloc_trim.assert_called_once_with(0)

    def test_nothing_where_there_is_none(self):
        cdll = self.useFixture(fixtures.MockPatch(
            'load_collector.daemon.ctypes.CDLL')).mock
        cdll.return_value = object()  # no malloc_trim (musl)
        daemon.release_freed_memory()
        cdll.side_effect = OSError('no C library')
        daemon.release_freed_memory()

    def test_on_this_machine(self):
        daemon.release_freed_memory()


class TestReload(base.BaseTestCase):
    """SIGHUP's new interval, in a worker whose sampling thread runs on."""

    def _write(self, path: str, interval: float) -> None:
        with open(path, 'w') as conf_file:
            conf_file.write(f'[DEFAULT]\ntransport_url = fake:/\n'
                            f'[collector]\ninterval = {interval}\n'
                            f'jitter = 0\n')

    def test_a_pause_asked_for_while_reloading_takes_the_new_interval(self):
        path = self.useFixture(fixtures.TempDir()).join('collector.conf')
        self._write(path, 0.05)
        conf = cfg.ConfigOpts()
        collector_cmd.register_opts(conf)
        conf(['--config-file', path])
        conf.set_override('master_secret', samples.SECRET, 'messaging')
        conf.set_override('host', 'compute-7', 'collector')
        conf.set_override('sources', ['host'], 'collector')
        service = collector_cmd.CollectorService(0, conf)
        # Never run, so not to be terminated: its parts are closed alone.
        self.addCleanup(service._transport.cleanup)
        self.addCleanup(service._collector.shutdown, 0)
        self._write(path, 3600)
        read_files = conf._reload_config_files

        def read_while_sampling():
            # The sampling thread asks for its next pause meanwhile.
            self.assertEqual(0.05, service._pause())
            return read_files()

        self.useFixture(fixtures.MockPatchObject(
            conf, '_reload_config_files', side_effect=read_while_sampling))
        service.reload()
        self.assertEqual(3600.0, service._pause())


class TestPrintSample(base.BaseTestCase):
    """``cryptomine-collector --print``, as an operator runs it to see
    what the collector reads on a new host."""

    def test_prints_the_sample_alone_and_publishes_nothing(self):
        miner = self.useFixture(fake_miner.FakeMiner('antminer-s19'))
        path = self.useFixture(fixtures.TempDir()).join('collector.conf')
        with open(path, 'w') as conf_file:
            # A broker that is not there: publishing would fail.
            conf_file.write(
                f'[DEFAULT]\ntransport_url = rabbit://nobody:x@127.0.0.1:'
                f'{_closed_port()}/\n'
                f'[collector]\nhost = rig-1\nsources = host,asic\n'
                f'miners = {miner.entry}\n'
                f'[messaging]\nmaster_secret = {samples.SECRET}\n')
        done = subprocess.run(
            [sys.executable, '-m', 'load_collector.launch', '--config-file',
             path, '--print'], capture_output=True, text=True,
            timeout=waiting.PATIENCE)
        self.assertEqual(0, done.returncode, done.stderr)
        # Standard output holds the sample, the logs go to stderr.
        found = sample.LoadSample.from_wire(json.loads(done.stdout))
        self.assertIn('Signing with a key derived', done.stderr)
        self.assertEqual(('rig-1', 1), (found.host, len(found.asics)))
        self.assertEqual((miner.entry, True, 95103.45),
                         (found.asics[0].miner, found.asics[0].available,
                          found.asics[0].hashrate_5s_ghs))
        self.assertGreaterEqual(found.host_load.cpu_percent, 0.0)
        self.assertEqual(2, miner.connections)  # sampled twice
