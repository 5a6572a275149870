"""Several controllers, one truth: three controller processes on one
PostgreSQL database, one etcd and one RabbitMQ broker (quorum queues on
its one node), either each consuming its own copy of the sample stream
(the first one the queue that the collectors declare, the others a
``listener_pool`` of their own) or sharing that queue and casting what
each stored to the others (``share_ingest``).  Either way they share
one queue of nova's notifications, and cast each placement learnt
there to the others."""

import os
import signal

import oslo_messaging
from oslo_config import cfg

from cryptomine_scheduler import rpcapi
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.tests import etcd
from cryptomine_scheduler.tests import postgres
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.functional import base
from cryptomine_scheduler.tests.unit import test_placements

HOSTS = ('compute-a', 'compute-b', 'compute-c', 'compute-d')
CONTROLLERS = ('controller-1', 'controller-2', 'controller-3')


class TestSeveralControllers(base.PipelineTestCase):
    """Each controller with a copy of the stream."""

    SHARE_INGEST = False

    def setUp(self):
        super().setUp()
        with open(self.common, 'a') as common:
            common.write('[oslo_messaging_rabbit]\n'
                         'rabbit_quorum_queue = true\n')
        self.etcd = self.useFixture(etcd.EtcdServer())
        self.controllers = {name: self.start_peer(name)
                            for name in CONTROLLERS}
        # Every pool's queue is bound before the first sample is sent.
        waiting.wait_for(
            lambda: {self.pool(n) for n in CONTROLLERS}
            <= set(self.broker.queue_depths()), timeout=base.WAIT,
            interval=0.5, seen=lambda: repr(self.broker.queue_depths()))

    def database_url(self) -> str:
        return self.useFixture(postgres.PostgresCluster()).url

    def pool(self, name: str) -> str:
        if name == CONTROLLERS[0] or self.SHARE_INGEST:
            return 'cryptomine_samples.info'
        return f'cryptomine_samples.{name}'

    def start_peer(self, name: str):
        """Start controller ``name`` on its pool; return its process once
        it answers."""
        path = self._write(f'{name}.conf', f"""
[DEFAULT]
host = {name}
[controller]
listener_pool = {self.pool(name)}
share_ingest = {self.SHARE_INGEST}
[nova_notifications]
enabled = true
[replan]
coordination_url = {self.etcd.url}
""")
        process = self._spawn(base.CONTROLLER, name, '--config-file', path)
        waiting.wait_for(lambda: self._snapshot(name), timeout=base.WAIT,
                         interval=0.5, seen=lambda: self.log(name)[-2000:])
        return process

    def _call(self, name: str, method: str):
        """Call ``method`` of controller ``name`` itself."""
        self.client()  # the transport
        return oslo_messaging.get_rpc_client(
            self._transport, oslo_messaging.Target(
                topic='cryptomine_controller', server=name,
                namespace=rpcapi.NAMESPACE, version='1.0'),
            timeout=5).call({}, method)

    def _snapshot(self, name: str) -> snapshot.LoadSnapshot | None:
        """Controller ``name``'s own snapshot (None while unreachable)."""
        try:
            return snapshot.LoadSnapshot.from_wire(
                self._call(name, 'get_load_snapshot'))
        except oslo_messaging.MessagingTimeout:
            return None

    def stats(self, name: str) -> dict:
        """Controller ``name``'s ingest counters."""
        return self._call(name, 'get_ingest_stats')

    def sample_counts(self, name: str) -> dict[str, int]:
        snap = self._snapshot(name)
        return {} if snap is None else {
            host: view.samples for host, view in snap.hosts.items()}

    def assert_complete(self, names, cycles: int) -> None:
        """Every controller of ``names`` summarises every host's
        ``cycles`` samples, none twice."""
        expected = dict.fromkeys(HOSTS, cycles)
        for name in names:
            waiting.wait_for(
                lambda n=name: all(c >= cycles for c in
                                   self.sample_counts(n).values())
                and len(self.sample_counts(n)) == len(HOSTS),
                timeout=base.WAIT, interval=0.5,
                seen=lambda n=name: f'{n}: {self.sample_counts(n)}')
            self.assertEqual(expected, self.sample_counts(name), name)

    def nova_notifier(self, host: str) -> oslo_messaging.Notifier:
        """nova-compute of ``host`` notifying the controllers' topic, on
        their broker and queue settings."""
        path = self._write('nova.conf', '[DEFAULT]\ncontrol_exchange = nova\n')
        conf = cfg.ConfigOpts()
        conf(['--config-file', self.common, '--config-file', path])
        transport = oslo_messaging.get_notification_transport(conf)
        self.addCleanup(transport.cleanup)
        return oslo_messaging.Notifier(
            transport, publisher_id=f'nova-compute:{host}',
            driver='messagingv2', topics=['cryptomine_notifications'])

    def placed(self, name: str) -> frozenset[str] | None:
        snap = self._snapshot(name)
        return None if snap is None else snap.placed

    def test_every_controller_serves_every_placement(self):
        notifier = self.nova_notifier('gpu-1')
        guests = [f'6f1a2b3c-0000-4000-8000-{n:012d}' for n in range(9)]
        for uuid in guests:
            notifier.info({}, 'instance.create.start',
                          test_placements.create('gpu-1', uuid=uuid))
        notifier.info({}, 'instance.delete.end', test_placements.nova_object(
            'InstanceActionPayload', uuid=guests[0]))
        # RabbitMQ handed each notification to one controller.
        expected = frozenset(guests[1:])
        for name in CONTROLLERS:
            waiting.wait_for(lambda n=name: self.placed(n) == expected,
                             timeout=base.WAIT, interval=0.5,
                             seen=lambda n=name: f'{n}: {self.placed(n)}')
        # One that restarts gets them back from the database.
        killed = CONTROLLERS[1]
        os.killpg(self.controllers[killed].pid, signal.SIGKILL)
        self.controllers[killed].wait()
        self.start_peer(killed)
        self.assertEqual(expected, self.placed(killed))

    def test_every_controller_summarises_every_sample(self):
        cycles = 60
        for process in [self.start_collector(h, cycles) for h in HOSTS]:
            self.assertEqual(0, process.wait(base.WAIT))
        self.wait_stored(cycles * len(HOSTS))
        self.assert_contiguous(self.stored_seqs(), HOSTS, cycles)
        self.assert_complete(CONTROLLERS, cycles)

    def test_a_controller_killed_mid_stream_loses_nothing(self):
        cycles = 200
        collectors = [self.start_collector(h, cycles) for h in HOSTS]
        waiting.wait_for(lambda: sum(map(len, self.stored_seqs().values()))
                         > 100, timeout=base.WAIT, interval=0.2,
                         seen=lambda: self.stored_summary(100))
        killed = CONTROLLERS[0]
        os.killpg(self.controllers[killed].pid, signal.SIGKILL)
        self.controllers[killed].wait()
        for process in collectors:
            self.assertEqual(0, process.wait(base.WAIT))
        self.wait_stored(cycles * len(HOSTS))
        self.assert_contiguous(self.stored_seqs(), HOSTS, cycles)
        self.assert_complete(CONTROLLERS[1:], cycles)
        # Back, it rebuilds from the history and then reads the copies
        # its queue kept meanwhile: each sample counted once.
        self.start_peer(killed)
        self.assert_complete([killed], cycles)
        waiting.wait_for(
            lambda: not self.broker.queue_depths()[self.pool(killed)],
            timeout=base.WAIT, interval=0.5,
            seen=lambda: repr(self.broker.queue_depths()))
        self.assertEqual(dict.fromkeys(HOSTS, cycles),
                         self.sample_counts(killed))


class TestSharedIngest(TestSeveralControllers):
    """The controllers share one queue: each stores its share and casts
    it to the others' summaries."""

    SHARE_INGEST = True

    def test_each_stores_a_share(self):
        cycles = 60
        for process in [self.start_collector(h, cycles) for h in HOSTS]:
            self.assertEqual(0, process.wait(base.WAIT))
        self.wait_stored(cycles * len(HOSTS))
        self.assert_complete(CONTROLLERS, cycles)
        stats = {name: self.stats(name) for name in CONTROLLERS}
        self.assertEqual(cycles * len(HOSTS),
                         sum(s['stored'] for s in stats.values()), stats)
        for name, counts in stats.items():
            # Consumed a share, not a copy, and got the rest from peers.
            self.assertLess(counts['received'], cycles * len(HOSTS), name)
            self.assertEqual(0, counts['rejected']['duplicate'], name)
            self.assertEqual(cycles * len(HOSTS), counts['summarised'], name)
            self.assertEqual(cycles * len(HOSTS) - counts['received'],
                             counts['from_peers'], name)
