"""End to end over RabbitMQ: collectors -> controller -> SQLite."""

import os
import platform
import re
import signal
import time
import unittest

import oslo_messaging

from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.functional import base
from load_collector import publisher as publisher_mod


class TestPipeline(base.PipelineTestCase):

    def test_several_collectors_every_sample_stored_once(self):
        self.start_controller()
        hosts = ['compute-a', 'compute-b', 'compute-c']
        collectors = [self.start_collector(h, cycles=60) for h in hosts]
        for process in collectors:
            self.assertEqual(0, process.wait(base.WAIT))
        self.wait_stored(180)
        self.assert_contiguous(self.stored_seqs(), hosts, 60)
        stats = waiting.wait_for(
            lambda: (s := self.client().get_ingest_stats())['stored'] == 180
            and s, timeout=base.WAIT)
        self.assertEqual(180, stats['received'])
        self.assertEqual(0, sum(stats['rejected'].values()))
        snap = self.client().get_load_snapshot()
        self.assertEqual(set(hosts), set(snap.hosts))
        self.assertEqual(60, snap.hosts['compute-a'].samples)

    def test_sigterm_flushes_and_exits_cleanly(self):
        self.start_controller()
        collector = self.start_collector('compute-a', cycles=None)
        waiting.wait_for(lambda: self.stored_seqs().get('compute-a'),
                         timeout=base.WAIT)
        collector.send_signal(signal.SIGTERM)
        self.assertEqual(0, collector.wait(base.WAIT))
        sampled = int(re.search(r'sampled=(\d+)',
                                self.log('compute-a')).group(1))
        self.assertGreater(sampled, 0)
        self.wait_stored(sampled)
        self.assert_contiguous(self.stored_seqs(), ['compute-a'], sampled)

    def test_sighup_reloads_the_collector_and_loses_nothing(self):
        self.start_controller()
        collector = self.start_collector('compute-a', cycles=None)
        waiting.wait_for(lambda: len(self.stored_seqs().get('compute-a', ()))
                         > 5, timeout=base.WAIT,
                         seen=lambda: self.stored_summary(5))
        # A mutable option changed: one sample an hour from now on.
        self.collector_conf('compute-a', interval=3600)
        collector.send_signal(signal.SIGHUP)
        self.wait_logged('compute-a', r'configuration reloaded '
                                      r'\(collector\.interval changed')
        settled = waiting.wait_for(lambda: self._unchanged_stored(),
                                   timeout=base.WAIT, interval=1.0)
        time.sleep(3.0)
        self.assertEqual(settled, self._stored_count(),
                         'samples still taken at the old interval')
        self.assertIsNone(collector.poll(), 'SIGHUP ended the collector')
        collector.send_signal(signal.SIGTERM)
        self.assertEqual(0, collector.wait(base.WAIT))
        sampled = int(re.search(r'sampled=(\d+)',
                                self.log('compute-a')).group(1))
        self.assertEqual(settled, sampled)
        self.assert_contiguous(self.stored_seqs(), ['compute-a'], sampled)

    def _stored_count(self) -> int:
        return len(self.stored_seqs().get('compute-a', ()))

    def _unchanged_stored(self) -> int | None:
        """The stored count if it did not change in a second."""
        before = self._stored_count()
        time.sleep(1.0)
        return before if before == self._stored_count() else None

    def test_sighup_keeps_the_controller_serving(self):
        controller = self.start_controller()
        controller.send_signal(signal.SIGHUP)
        self.wait_logged('controller', r'cryptomine-controller worker 0: '
                                       r'configuration reloaded')
        self.assertIsNone(controller.poll())
        self.assertIn('stored', self.client().get_ingest_stats())

    @unittest.skipUnless(platform.libc_ver()[0] == 'glibc', 'glibc only')
    def test_controller_process_keeps_freed_memory(self):
        self.start_controller()
        self.wait_logged('controller', r'malloc keeps up to 64 MiB freed')

    def test_broker_restart_loses_nothing(self):
        self.start_controller()
        hosts = ['compute-a', 'compute-b']
        collectors = [self.start_collector(h, cycles=150) for h in hosts]
        time.sleep(2.0)
        self.broker.stop()
        time.sleep(3.0)
        self.broker.start()
        for process in collectors:
            self.assertEqual(0, process.wait(base.WAIT))
        self.wait_stored(300)
        self.assert_contiguous(self.stored_seqs(), hosts, 150)
        for host in hosts:
            # The outage really happened while they sampled.
            self.assertIn('Message bus unreachable', self.log(host))
            self.assertIn('reachable again', self.log(host))

    def test_broker_outage_buffered_replayed_and_counted(self):
        # Issue 16: with the broker down the collector keeps sampling
        # into its buffer; back, every sample is stored once and the
        # controller shows the collector's counters.
        self.start_controller()
        collector = self.start_collector('compute-a', cycles=None)
        first = int(self.wait_logged('compute-a',
                                     r'first seq (\d+)').group(1))
        waiting.wait_for(lambda: len(self.stored_seqs().get('compute-a', ()))
                         > 5, timeout=base.WAIT,
                         seen=lambda: self.stored_summary(5))

        # Once the buffer is replayed, the newest sample has none waiting.
        self._outage()
        back = self._wait_counters(
            lambda c: c.buffered == 0 and c.publish_failures > 0)
        self.wait_stored(back.seq - first + 1)
        # The collector samples on meanwhile: at least those, from the
        # first, none missing or twice.
        stored = self.stored_seqs()
        self.assertEqual(first, stored['compute-a'][0])
        self.assertGreaterEqual(len(stored['compute-a']),
                                back.seq - first + 1)
        self.assert_contiguous(stored, ['compute-a'],
                               len(stored['compute-a']))

        # No sampling after a second outage: the controller's newest is
        # then the outage's last sample, taken with all the others
        # waiting (as many as the collector replays after the first).
        def freeze():
            self.collector_conf('compute-a', interval=3600)
            collector.send_signal(signal.SIGHUP)
            self.wait_logged('compute-a', r'configuration reloaded')

        self._outage(freeze)
        replayed = self._logged('compute-a', r'reachable again; replaying '
                                             r'(\d+)', count=2)
        last = self._wait_counters(
            lambda c: c.buffered == int(replayed[1]))
        self.wait_stored(last.seq - first + 1)
        self.assert_contiguous(self.stored_seqs(), ['compute-a'],
                               last.seq - first + 1)
        failures = (last.counters.publish_failures
                    - back.counters.publish_failures)
        self.assertGreater(failures, 0)
        # More samples than publishes tried: sampling did not wait for the
        # broker (a cycle that did would fail a publish each).
        self.assertGreater(last.counters.buffered, failures)
        self.assertEqual(0, last.counters.dropped)

        collector.send_signal(signal.SIGTERM)
        self.assertEqual(0, collector.wait(base.WAIT))
        sampled = int(re.search(r'sampled=(\d+)',
                                self.log('compute-a')).group(1))
        self.assertEqual(last.seq - first + 1, sampled)

    def _outage(self, before_restart=lambda: None):
        """Stop the broker until compute-a's collector has sampled for a
        while without it; call ``before_restart``; start it again."""
        unreachable = 'Message bus unreachable'
        before = len(re.findall(unreachable, self.log('compute-a')))
        self.broker.stop()
        self._logged('compute-a', unreachable, count=before + 1)
        time.sleep(3.0)
        before_restart()
        self.broker.start()

    def _logged(self, name: str, pattern: str, count: int) -> list[str]:
        """The first ``count`` matches of ``pattern`` in ``name``'s log."""
        def enough():
            found = re.findall(pattern, self.log(name))
            return found[:count] if len(found) >= count else None

        return waiting.wait_for(
            enough, timeout=base.WAIT, interval=0.2,
            seen=lambda: f'{name}.log ends with {self.log(name)[-2000:]!r}')

    def _wait_counters(self, predicate):
        """compute-a's counters at the controller once ``predicate`` holds
        for them."""
        return waiting.wait_for(
            lambda: (r := self._counters()) and predicate(r.counters) and r,
            timeout=base.WAIT, seen=lambda: repr(self._counters()))

    def _counters(self):
        """compute-a's counters at the controller, None until it has some
        (or while its RPC reconnects after the broker restart)."""
        try:
            return self.client().get_collector_counters(
                'compute-a').get('compute-a')
        except oslo_messaging.MessagingTimeout:
            return None

    def test_queued_samples_survive_a_broker_restart(self):
        # With the default settings: samples waiting in the queue while no
        # controller runs are still there after the broker restarted.
        controller = self.start_controller()  # declares the queue
        controller.send_signal(signal.SIGTERM)
        self.assertEqual(0, controller.wait(base.WAIT))
        hosts = ['compute-a', 'compute-b']
        for process in [self.start_collector(h, cycles=50) for h in hosts]:
            self.assertEqual(0, process.wait(base.WAIT))
        self.assertEqual(100, self.broker.queue_depths()[
            'cryptomine_samples.info'])
        self.broker.stop()
        self.broker.start()
        self.start_controller('controller-2')
        self.wait_stored(100)
        self.assert_contiguous(self.stored_seqs(), hosts, 50)

    def test_controller_crash_loses_no_history(self):
        controller = self.start_controller()
        hosts = ['compute-a', 'compute-b']
        collectors = [self.start_collector(h, cycles=150) for h in hosts]
        waiting.wait_for(lambda: sum(map(len, self.stored_seqs().values()))
                         > 50, timeout=base.WAIT, interval=0.2,
                         seen=lambda: self.stored_summary(50))
        # The master and its workers die at once, as on a crash of the
        # node: nothing drains.
        os.killpg(controller.pid, signal.SIGKILL)
        controller.wait()
        before = self.stored_seqs()
        time.sleep(1.0)
        self.start_controller('controller-2')
        for process in collectors:
            self.assertEqual(0, process.wait(base.WAIT))
        self.wait_stored(300)
        after = self.stored_seqs()
        self.assert_contiguous(after, hosts, 150)
        for host, seqs in before.items():
            self.assertLessEqual(set(seqs), set(after[host]))
        # The restarted controller rebuilt its summaries from the history.
        snap = self.client().get_load_snapshot()
        self.assertEqual(150, snap.hosts['compute-a'].samples)

    def test_forged_samples_rejected_and_counted(self):
        self.start_controller()
        transport = oslo_messaging.get_notification_transport(
            self.client()._client.transport.conf, url=self.broker.url)
        self.addCleanup(transport.cleanup)
        publisher = publisher_mod.SamplePublisher(
            transport, 'cryptomine_samples', 'attacker', 0)
        now = time.time()
        genuine = samples.make(host='compute-a', seq=1, timestamp=now)
        claim_b = samples.make(host='compute-b', seq=1, timestamp=now)
        publisher.publish(samples.payload(genuine))
        publisher.publish(samples.payload(
            genuine, secret='guessed-secret-0123456789'))
        publisher.publish(samples.payload(claim_b, key_host='compute-a'))
        stats = waiting.wait_for(
            lambda: (s := self.client().get_ingest_stats())['received'] == 3
            and s, timeout=base.WAIT)
        self.assertEqual(1, stats['stored'])
        self.assertEqual(2, stats['rejected']['bad_signature'])
        self.assertEqual({'compute-a': [1]}, self.stored_seqs())



class TestPipelineWithIngestWorkers(base.PipelineTestCase):
    """The same guarantees when worker processes consume and store."""

    INGEST_WORKERS = 2
    test_several_collectors_every_sample_stored_once = (
        TestPipeline.test_several_collectors_every_sample_stored_once)
    test_controller_crash_loses_no_history = (
        TestPipeline.test_controller_crash_loses_no_history)

    def test_killed_ingest_worker_is_replaced(self):
        controller = self.start_controller()
        pid = int(self.wait_logged(
            'controller', r'Ingest worker 0 \(pid (\d+)\) consuming').group(1))
        hosts = ['compute-a', 'compute-b']
        collectors = [self.start_collector(h, cycles=150) for h in hosts]
        waiting.wait_for(lambda: sum(map(len, self.stored_seqs().values()))
                         > 20, timeout=base.WAIT, interval=0.2,
                         seen=lambda: self.stored_summary(20))
        os.kill(pid, signal.SIGKILL)
        self.wait_logged('controller', r'cryptomine-ingest worker 0 exited '
                                       r'with -9; starting a new one')
        self.wait_logged('controller',
                         rf'Ingest worker 0 \(pid (?!{pid}\))\d+\) consuming')
        for process in collectors:
            self.assertEqual(0, process.wait(base.WAIT))
        self.wait_stored(300)
        self.assert_contiguous(self.stored_seqs(), hosts, 150)
        self.assertIsNone(controller.poll())
        stats = self.client().get_ingest_stats()
        self.assertEqual({'cryptomine-controller': 0,
                          'cryptomine-ingest': 1}, stats['worker_restarts'])
