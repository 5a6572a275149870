import time

import fixtures
import orjson
import oslo_messaging
from oslo_config import cfg
from oslotest import base

from cryptomine_scheduler import exception
from cryptomine_scheduler import rpc
from cryptomine_scheduler.control import service
from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.history import placements
from cryptomine_scheduler.history import shared_placements
from cryptomine_scheduler.history.mining import MiningMetric
from cryptomine_scheduler.history.summaries import Stat
from cryptomine_scheduler.ingest import ingestor as ingest
from cryptomine_scheduler.ingest import peer_samples
from cryptomine_scheduler.placement import device_inventory
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.telemetry import validation
from cryptomine_scheduler.tests import config as test_config
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from load_collector import publisher as publisher_mod

URL = 'fake:/'


def controller_conf(state_dir: str) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    test_config.register_all_opts(conf)
    conf([])
    conf.set_override('state_path', state_dir)
    conf.set_override('master_secret', samples.SECRET, 'messaging')
    conf.set_override('batch_timeout', 1, 'controller')
    return conf


class ControllerTestCase(base.BaseTestCase):
    """A controller on the in-process fake transport."""

    def setUp(self):
        super().setUp()
        self.state_dir = self.useFixture(fixtures.TempDir()).path
        self.conf = controller_conf(self.state_dir)
        self.transport = oslo_messaging.get_notification_transport(
            self.conf, url=URL)
        self.rpc_transport = oslo_messaging.get_rpc_transport(
            self.conf, url=URL,
            allowed_remote_exmods=rpc.REMOTE_EXCEPTION_MODULES)
        self.controller = self.start_controller()
        # The API's topic: the reads and the plans.
        self.client = rpc.ControllerClient(
            self.rpc_transport, self.conf.messaging.operator_topic)
        self.publisher = publisher_mod.SamplePublisher(
            self.transport, self.conf.messaging.sample_topic, 'test', 0)

    def start_controller(self):
        controller = service.ControllerService(
            self.conf, self.transport, self.rpc_transport)
        controller.start()
        self.addCleanup(self._stop, controller)
        return controller

    @staticmethod
    def _stop(controller):
        if not controller._stop.is_set():
            controller.stop()

    def publish(self, *sample_list):
        for s in sample_list:
            self.publisher.publish(samples.payload(s))

    def stored(self, count):
        return waiting.wait_for(
            lambda: self.controller.totals.stored >= count, waiting.PATIENCE)


class TestControllerService(ControllerTestCase):

    def test_samples_stored_and_summarised(self):
        now = time.time()
        self.publish(*[samples.make(host='c1', seq=i, timestamp=now - 9 + i,
                                    cpu=10.0 * i,
                                    instances=[samples.instance(1)])
                       for i in range(10)])
        self.stored(10)
        snap = self.client.get_load_snapshot()
        c1 = snap.hosts['c1']
        self.assertEqual(10, c1.samples)
        self.assertEqual(90.0, c1.metric(sample.HostMetric.CPU_PERCENT,
                                         Stat.LAST))
        self.assertEqual(45.0, c1.metric(sample.HostMetric.CPU_PERCENT,
                                         Stat.MEAN))
        self.assertEqual('c1', snap.instances[samples.instance(1).uuid].host)
        history = self.client.get_host_history(
            'c1', now - 60, sample.HostMetric.CPU_PERCENT)
        self.assertEqual([10.0 * i for i in range(10)],
                         [v for _, v in history['points']])

    def test_gpus_and_miners_read_from_placement_every_interval(self):
        self.controller.stop()
        self.conf.set_override('device_refresh_interval', 1, 'nova_api')
        count = device_inventory.DeviceCount
        readings = [
            {'g1': device_inventory.HostDevices(gpu=count(8, 2))},
            RuntimeError('placement down'),  # logged, the last one kept
            {'g1': device_inventory.HostDevices(gpu=count(8, 8))}]

        def read():
            reading = readings[0] if len(readings) == 1 else readings.pop(0)
            if isinstance(reading, Exception):
                raise reading
            return reading

        self.controller = service.ControllerService(
            self.conf, self.transport, self.rpc_transport,
            nova=service.NovaLink(device_source=read))
        self.controller.start()
        self.addCleanup(self._stop, self.controller)
        self.publish(samples.make(host='g1', seq=1, timestamp=time.time()),
                     samples.make(host='c1', seq=1, timestamp=time.time()))
        self.stored(2)
        first = waiting.wait_for(
            lambda: (s := self.client.get_load_snapshot()).hosts[
                'g1'].devices and s, waiting.PATIENCE)
        self.assertIsNone(first.hosts['c1'].devices)
        # The later readings replace it, past the failed one.
        full = waiting.wait_for(
            lambda: (s := self.client.get_load_snapshot()).hosts[
                'g1'].devices.gpu.free == 0 and s, waiting.PATIENCE)
        self.assertEqual(8, full.hosts['g1'].devices.gpu.used)

    def test_snapshot_of_new_instances_only(self):
        now = time.time()
        old, new = samples.instance(1), samples.instance(2)
        self.publish(samples.make(host='c1', seq=1, timestamp=now - 500,
                                  instances=[old]),
                     samples.make(host='c1', seq=2, timestamp=now - 5,
                                  instances=[old, new]))
        self.stored(2)
        every = self.client.get_load_snapshot()
        self.assertEqual({old.uuid, new.uuid}, set(every.instances))
        recent = self.client.get_load_snapshot(instances_since=300)
        self.assertEqual({new.uuid}, set(recent.instances))
        self.assertEqual('c1', recent.instances[new.uuid].host)
        self.assertEqual(every.hosts['c1'].samples,
                         recent.hosts['c1'].samples)
        for bad in (-1, 'soon', float('nan'), True):
            with self.subTest(instances_since=bad):
                self.assertRaises(exception.BadArgument,
                                  self.client.get_load_snapshot, bad)

    def test_rejections_counted_by_reason(self):
        now = time.time()
        good = samples.make(seq=1, timestamp=now)
        self.publisher.publish({'garbage': True})
        self.publisher.publish(samples.payload(good, key_host='other'))
        self.publish(good, good)
        self.stored(1)
        stats = waiting.wait_for(
            lambda: (s := self.client.get_ingest_stats())['received'] == 4
            and s,
            waiting.PATIENCE)
        self.assertEqual(1, stats['stored'])
        self.assertEqual({'malformed': 1, 'bad_signature': 1,
                          'duplicate': 1},
                         {k: v for k, v in stats['rejected'].items() if v})

    def test_history_errors(self):
        self.assertRaises(store_mod.UnknownHost,
                          self.client.get_host_history, 'nope', 0,
                          sample.HostMetric.CPU_PERCENT)
        self.assertRaises(store_mod.UnknownHost,
                          self.client.get_device_history, 'nope',
                          sample.DeviceKind.GPU, 0, 'temperature_c')

    def test_device_history_of_each_gpu_and_miner(self):
        now = time.time()
        self.publish(*[samples.make(
            host='g1', seq=i, timestamp=now - 9 + i,
            gpus=[samples.gpu(0, temp=60.0 + i), samples.gpu(1)],
            asics=[samples.asic(2, hashrate=90.0 + i)]) for i in range(3)])
        self.stored(3)

        def values(kind, metric):
            found = self.client.get_device_history('g1', kind, now - 60,
                                                   metric)
            self.assertEqual(('g1', kind.value, metric, 0),
                             (found['host'], found['kind'], found['metric'],
                              found['resolution_seconds']))
            return {device: [v for _, v in points]
                    for device, points in found['devices'].items()}

        self.assertEqual({'0': [60.0, 61.0, 62.0], '1': [70.0] * 3},
                         values(sample.DeviceKind.GPU, 'temperature_c'))
        self.assertEqual({'10.0.0.2:4028': [90.0, 91.0, 92.0]},
                         values(sample.DeviceKind.ASIC, 'hashrate_5s_ghs'))
        # A reading of another kind of device, or an unknown kind.
        self.assertRaises(exception.UnknownMetric,
                          self.client.get_device_history, 'g1',
                          sample.DeviceKind.GPU, 0, 'hashrate_5s_ghs')
        call = self.client._client.prepare(version='1.6').call
        self.assertRaises(exception.UnknownMetric, call, {},
                          'get_device_history', host='g1', kind='fpga',
                          since=0, metric='temperature_c')

    def test_instance_history_with_its_hosts(self):
        now = time.time()
        guest = samples.instance(7, cpu=25.0, rss=2048.0)
        self.publish(*[samples.make(
            host=host, seq=i, timestamp=now - 9 + i, instances=[guest])
            for i, host in enumerate(('c1', 'c1', 'c2'))])
        self.stored(3)
        found = self.client.get_instance_history(
            guest.uuid, now - 60, sample.InstanceMetric.RSS_MB)
        self.assertEqual(
            {'instance': guest.uuid, 'metric': 'rss_mb',
             'resolution_seconds': 0,
             'points': [[now - 9, 'c1', 2048.0], [now - 8, 'c1', 2048.0],
                        [now - 7, 'c2', 2048.0]]}, found)
        self.assertRaises(exception.UnknownInstance,
                          self.client.get_instance_history,
                          samples.instance(8).uuid, 0,
                          sample.InstanceMetric.CPU_PERCENT)
        call = self.client._client.prepare(version='1.7').call
        self.assertRaises(exception.UnknownMetric, call, {},
                          'get_instance_history', instance=guest.uuid,
                          since=0, metric='temperature_c')

    def test_instance_device_history_by_host_and_device(self):
        now = time.time()
        guest = samples.instance(7)
        self.publish(*[samples.make(
            host='g1', seq=i, timestamp=now - 9 + i, instances=[guest],
            gpus=[samples.gpu(0, temp=60.0 + i, instances=[guest.uuid]),
                  samples.gpu(1)]) for i in range(3)])
        self.stored(3)
        gpu = sample.DeviceKind.GPU
        found = self.client.get_instance_device_history(
            guest.uuid, gpu, now - 60, 'temperature_c')
        self.assertEqual(
            {'instance': guest.uuid, 'kind': 'gpu',
             'metric': 'temperature_c', 'resolution_seconds': 0,
             'devices': {'g1/0': [[now - 9 + i, 60.0 + i]
                                  for i in range(3)]}}, found)
        self.assertRaises(exception.UnknownMetric,
                          self.client.get_instance_device_history,
                          guest.uuid, gpu, 0, 'hashrate_5s_ghs')
        self.assertRaises(exception.UnknownMetric,
                          self.client._client.prepare(version='1.7').call,
                          {}, 'get_instance_device_history',
                          instance=guest.uuid, kind='fpga', since=0,
                          metric='temperature_c')
        self.assertRaises(exception.UnknownInstance,
                          self.client.get_instance_device_history,
                          samples.instance(8).uuid, gpu, 0, 'temperature_c')

    def test_collector_counters_of_each_newest_sample(self):
        now = time.time()
        older = sample.CollectorCounters(dropped=0, buffered=9,
                                         publish_failures=1, source_errors=0)
        # A replayed buffer: the newer sample's counters stay.
        self.publish(samples.make(host='c1', seq=8, timestamp=now,
                                  collector=samples.COUNTERS),
                     samples.make(host='c1', seq=7, timestamp=now - 1,
                                  collector=older),
                     samples.make(host='c2', seq=1, timestamp=now,
                                  collector=older),
                     samples.make(host='old', seq=1, timestamp=now))
        self.stored(4)
        every = self.client.get_collector_counters()
        self.assertEqual({'c1', 'c2'}, set(every))
        self.assertEqual((8, now, samples.COUNTERS), (
            every['c1'].seq, every['c1'].timestamp, every['c1'].counters))
        self.assertEqual(older, every['c2'].counters)
        self.assertEqual({'c2': every['c2']},
                         self.client.get_collector_counters('c2'))
        self.assertEqual({}, self.client.get_collector_counters('old'))
        self.assertEqual({}, self.client.get_collector_counters('nope'))
        self.assertRaises(exception.BadArgument,
                          self.client.get_collector_counters, ['c1'])

    def learning(self) -> placements.Placements:
        """The placements a controller with ``[nova_notifications]`` has
        (without its listener), warm at the first sample."""
        book = self.controller.tracker.placements = placements.Placements(
            warmup=0.0, max_age=900.0)
        return book

    def test_restart_keeps_the_learnt_loads(self):
        self.conf.set_override('learn_min_guests', 1, 'nova_notifications')
        self.controller.stop()
        self.controller = self.start_controller()
        guest = samples.instance(1).uuid
        self.learning().placed(guest, 'c1', 4, 4096, None, 'm1', 'img')
        # 4 vCPUs of 32 busy at 75 %: 9.375 % of the host.
        self.publish(samples.make(
            host='c1', seq=1, timestamp=time.time(), cpus=32,
            collector=samples.COUNTERS,
            instances=[sample.InstanceLoad(guest, 9.375, 512.0)]))
        self.stored(1)
        learnt = {'m1': {'percent': 75.0, 'guests': 1,
                         'images': {'img': {'percent': 75.0,
                                            'guests': 1}}}}
        self.assertEqual(learnt,
                         self.client.get_load_snapshot().flavor_loads)
        self.controller.maintain_once()  # saved, as if it then crashed
        self.assertEqual([(guest, 'm1', 'img', 75.0)], [
            (o.instance_uuid, o.flavor, o.image, o.percent)
            for o in self.controller.observations.since(0)])
        self.controller.stop()
        self.controller = self.start_controller()
        self.learning()
        self.assertEqual(learnt,
                         self.client.get_load_snapshot().flavor_loads)

    def test_restart_keeps_a_sagging_miners_baseline(self):
        # A miner made 100 GH/s for two hours, then a quarter of it for
        # the last 15 minutes, longer than the summary window (10).
        now = time.time()
        self.publish(*[samples.make(
            host='asic-1', seq=i, timestamp=now - 60 * (120 - i),
            asics=[samples.asic(1, hashrate=25.0 if i >= 105 else 100.0)])
            for i in range(121)])
        self.stored(121)
        self.controller.maintain_once()  # the 5-minute rollups

        def ratio():
            return self.client.get_load_snapshot().hosts[
                'asic-1'].mining_metric(MiningMetric.ASIC_HASHRATE_RATIO,
                                        Stat.LAST)
        before = ratio()
        self.controller.stop()
        self.controller = self.start_controller()
        # The baseline learnt the two hours from the rollups: the sag
        # shows as before, not as the new normal (a ratio of 1).
        self.assertLess(before, 0.4)
        self.assertAlmostEqual(before, ratio(), delta=0.05)

    def test_restart_rebuilds_summaries_from_history(self):
        now = time.time()
        window = self.conf.controller.summary_window
        self.publish(*[samples.make(host='c1', seq=i, timestamp=now - 5 + i,
                                    cpu=20.0) for i in range(5)])
        # A host silent for longer than the window: its sample older
        # than a window before its newest is out of its summary.
        self.publish(*[samples.make(host='silent', seq=i, timestamp=t,
                                    cpu=10.0 * i)
                       for i, t in enumerate((now - 3 * window - 10,
                                              now - 2 * window - 10,
                                              now - 2 * window))])
        self.stored(8)
        before = self.client.get_load_snapshot().hosts['silent']
        self.controller.stop()
        self.controller = self.start_controller()
        snap = self.client.get_load_snapshot()
        self.assertEqual(5, snap.hosts['c1'].samples)
        self.assertEqual(20.0, snap.hosts['c1'].metric(
            sample.HostMetric.CPU_PERCENT, Stat.MEAN))
        # Still known, and stale, with the summary it had.
        silent = snap.hosts['silent']
        self.assertEqual((2, now - 2 * window), (silent.samples,
                                                 silent.newest))
        self.assertEqual((2, 15.0), (before.samples, before.metric(
            sample.HostMetric.CPU_PERCENT, Stat.MEAN)))
        self.assertEqual(before.metric(sample.HostMetric.CPU_PERCENT,
                                       Stat.MEAN),
                         silent.metric(sample.HostMetric.CPU_PERCENT,
                                       Stat.MEAN))
        self.assertGreater(silent.age, 2 * window)
        # Sequence numbers seen before the restart are still duplicates.
        self.publish(samples.make(host='c1', seq=4, timestamp=now))
        waiting.wait_for(lambda: self.client.get_ingest_stats()
                         ['rejected']['duplicate'] == 1, waiting.PATIENCE)


class TestRejectionLog(base.BaseTestCase):

    def test_warns_once_per_interval_with_a_summary(self):
        now = [0.0]
        log = ingest.RejectionLog(interval=60, clock=lambda: now[0])
        logger = self.useFixture(fixtures.FakeLogger('cryptomine_scheduler'))
        malformed = validation.Rejected(validation.Reason.MALFORMED, 'x')
        skewed = validation.Rejected(validation.Reason.CLOCK_SKEW, 'y')
        for _ in range(100):
            log.record(malformed)
        now[0] = 59.0
        log.record(skewed)
        self.assertEqual(1, logger.output.count('Rejected samples'))
        now[0] = 61.0
        log.record(skewed)
        self.assertEqual(2, logger.output.count('Rejected samples'))
        self.assertIn('clock_skew=2, malformed=99', logger.output)


class TestSharedIngest(ControllerTestCase):
    """Two controllers on the fake transport, sharing the ingest."""

    def start_controller(self):
        self.conf.set_override('share_ingest', True, 'controller')
        return super().start_controller()

    def test_a_peer_summarises_what_the_other_stored(self):
        peer_conf = controller_conf(self.useFixture(fixtures.TempDir()).path)
        peer_conf.set_override('host', 'peer')
        peer_conf.set_override('share_ingest', True, 'controller')
        # The peer stores nothing itself: it only gets the casts.  (In
        # another pool of the same topic, the fake transport would give it
        # a copy of every sample too.)
        peer_conf.set_override('sample_topic', 'elsewhere', 'messaging')
        peer = service.ControllerService(peer_conf, self.transport,
                                         self.rpc_transport)
        peer.start()
        self.addCleanup(self._stop, peer)
        now = time.time()
        self.publish(*[samples.make(host='c1', seq=i, timestamp=now - 9 + i,
                                    instances=[samples.instance(1)],
                                    collector=samples.COUNTERS)
                       for i in range(10)])
        self.stored(10)
        waiting.wait_for(lambda: peer.totals.summarised >= 10,
                         waiting.PATIENCE)
        self.assertEqual(0, peer.totals.stored)
        self.assertEqual(10, peer.totals.from_peers)
        self.assertEqual(10, peer.tracker.snapshot(time.time())['hosts'][
            'c1']['samples'])
        self.assertIn('c1', peer.collectors.since())
        # Its own casts come back to it over the fanout, counted nowhere.
        self.assertEqual(0, self.controller.totals.from_peers)
        self.assertEqual(10, self.controller.totals.summarised)

    def test_an_unreadable_batch_is_dropped_alone(self):
        logged = self.useFixture(fixtures.FakeLogger())
        endpoint = peer_samples.PeerEndpoint(
            'here', self.controller.absorb_from_peer)
        endpoint.absorb_peer_samples({}, 'there', '[{"host": "c1"}]')
        endpoint.absorb_peer_samples({}, 'there', '[{"host": ')
        endpoint.absorb_peer_samples({}, 'there', [{'host': 'c1'}])
        self.assertEqual(2, logged.output.count(
            "Dropped a batch of ? samples from controller 'there'"))
        self.assertIn("Dropped a batch of 1 samples from controller 'there'",
                      logged.output)
        now = time.time()
        text = orjson.dumps([samples.make(host='c2', seq=1,
                                          timestamp=now).to_wire()]).decode()
        endpoint.absorb_peer_samples({}, 'there', text)
        # A list, as a controller not yet upgraded casts it.
        endpoint.absorb_peer_samples({}, 'there', [
            samples.make(host='c4', seq=1, timestamp=now).to_wire()])
        endpoint.absorb_peer_samples({}, 'here', [
            samples.make(host='c3', seq=1, timestamp=now).to_wire()])
        self.assertEqual(2, self.controller.totals.from_peers)
        self.assertEqual(
            ['c2', 'c4'], sorted(self.controller.tracker.snapshot(now)[
                'hosts']))


class TestSharedPlacements(ControllerTestCase):
    """Two controllers learning placements, on one database."""

    NOW = time.time()

    def setUp(self):
        self.now = [self.NOW]  # the controllers' clock
        super().setUp()

    def start_controller(self, host: str = 'controller-1', **learning):
        conf = controller_conf(self.state_dir)
        conf.set_override('host', host)
        for name, value in dict(learning, enabled=True,
                                transport_url=URL).items():
            conf.set_override(name, value, 'nova_notifications')
        controller = service.ControllerService(
            conf, self.transport, self.rpc_transport,
            clock=lambda: self.now[0])
        controller.start()
        self.addCleanup(self._stop, controller)
        return controller

    @staticmethod
    def warming(controller) -> dict[str, placements.Placement]:
        return controller.tracker.placements.warming(lambda uuid: None)

    def test_every_controller_knows_every_placement_restarted_too(self):
        peer = self.start_controller('controller-2')
        here, there = (self.controller.tracker.placements,
                       peer.tracker.placements)
        miner, failed, tenant = (samples.instance(n).uuid for n in (1, 2, 3))
        # What each learnt from the notifications it consumed, a second
        # apart.
        for at, learn in enumerate((
                lambda: here.placed(miner, 'gpu-1', 8, 16384, 90.0, 'm1',
                                    'img', gpus=2),
                lambda: there.placed(failed, 'gpu-2', 8, 16384, 90.0, 'm1',
                                     'img', gpus=2),
                lambda: here.gone(failed),
                lambda: there.placed(tenant, 'cpu-1', 2, 2048, None))):
            self.now[0] = self.NOW + at
            learn()
        expected = {
            miner: placements.Placement('gpu-1', 8, 16384, 90.0, self.NOW,
                                        'm1', 'img', 2),
            tenant: placements.Placement('cpu-1', 2, 2048, None,
                                         self.NOW + 3)}
        for controller in (self.controller, peer):
            waiting.wait_for(lambda c=controller: self.warming(c) == expected,
                             waiting.PATIENCE,
                             seen=lambda c=controller: self.warming(c))
        for controller in (self.controller, peer):
            controller.stop()
        restarted = self.start_controller('controller-3')
        self.assertEqual(expected, self.warming(restarted))

    def test_a_guest_learnt_from_is_not_learnt_from_again(self):
        self.controller.stop()
        self.controller = self.start_controller(warmup=0.0,
                                                learn_min_guests=1)
        guest = samples.instance(1).uuid
        self.controller.tracker.placements.placed(guest, 'c1', 4, 4096, None,
                                                  'm1', 'img')
        # 4 vCPUs of 32 busy at 75 %.
        self.publish(samples.make(
            host='c1', seq=1, timestamp=self.NOW, cpus=32,
            collector=samples.COUNTERS,
            instances=[sample.InstanceLoad(guest, 9.375, 512.0)]))
        self.stored(1)

        def learnt():
            return self.controller.tracker.snapshot(self.NOW)[
                'flavor_loads']['m1']['guests']
        self.assertEqual(1, learnt())
        self.controller.stop()
        self.controller = self.start_controller(warmup=0.0,
                                                learn_min_guests=1)
        # Its placement is read back, and its sample, and the samples
        # queued meanwhile come in: it is warm again, but its load is
        # known already.
        self.publish(samples.make(
            host='c1', seq=2, timestamp=self.NOW, cpus=32,
            collector=samples.COUNTERS,
            instances=[sample.InstanceLoad(guest, 9.375, 512.0)]))
        self.stored(1)
        self.assertEqual(1, learnt())
        self.assertEqual({}, self.warming(self.controller))

    def test_a_failed_cast_still_stores_and_serves(self):
        logged = self.useFixture(fixtures.FakeLogger())
        book = self.controller.tracker.placements
        self.useFixture(fixtures.MockPatchObject(
            book.on_event._client, 'cast', side_effect=(
                oslo_messaging.MessageDeliveryFailure('broker down'))))
        uuid = samples.instance(1).uuid
        book.placed(uuid, 'gpu-1', 8, 16384, None)
        self.assertIn(f'Could not send the placement event of {uuid} to the '
                      'other controllers (broker down)', logged.output)
        self.assertEqual([uuid], list(self.warming(self.controller)))
        self.assertEqual([uuid], [e.uuid for e in
                                  self.controller.placement_events.since(0)])

    def test_an_unreadable_event_is_dropped_alone(self):
        logged = self.useFixture(fixtures.FakeLogger())
        endpoint = shared_placements.PeerEndpoint(
            'here', self.controller.tracker.placements)
        uuid = samples.instance(1).uuid
        endpoint.apply_placement_event({}, 'there', {'uuid': uuid})
        endpoint.apply_placement_event({}, 'there', {
            'uuid': uuid, 'at': 1.0, 'placement': {'host': 'h1'}})
        self.assertEqual(2, logged.output.count(
            "Dropped a placement event from controller 'there'"))
        event = placements.PlacementEvent(uuid, self.NOW, placements.Placement(
            'h1', 2, 1024, None, self.NOW))
        endpoint.apply_placement_event(
            {}, 'there', shared_placements.to_wire(event))
        self.assertEqual({uuid: event.placement},
                         self.warming(self.controller))
