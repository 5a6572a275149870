import socket
import time
import urllib.request

import fixtures
from prometheus_client import parser

from cryptomine_scheduler.control import service
from cryptomine_scheduler.history import nova_notifications
from cryptomine_scheduler.history import placements
from cryptomine_scheduler.history import shared_placements
from cryptomine_scheduler.placement import burst
from cryptomine_scheduler.placement import device_inventory
from cryptomine_scheduler.placement.tiers import Tier
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.unit import test_controller

HOUR = 3600.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class MetricsTestCase(test_controller.ControllerTestCase):
    """A running controller that serves its Prometheus endpoint."""

    def start_controller(self):
        self.port = free_port()
        self.conf.set_override('metrics_port', self.port, 'prometheus')
        return super().start_controller()

    def scrape_text(self) -> str:
        """The endpoint's answer, as Prometheus reads it."""
        url = f'http://127.0.0.1:{self.port}/metrics'
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()

    def scrape(self) -> dict:
        """``{(sample name, labels as sorted tuple): value}``."""
        families = parser.text_string_to_metric_families(self.scrape_text())
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in families for s in family.samples}


class TestControllerMetrics(MetricsTestCase):
    """Scrapes the Prometheus endpoint of a running controller."""

    def start_controller(self):
        self.conf.set_override('risk_factor', 2.0, 'cryptomine')
        return super().start_controller()

    @staticmethod
    def host_gauges(metrics: dict):
        """A look-up of the scraped ``cryptomine_host_<name>`` by name and
        host: None where the host has no such series."""
        return lambda name, host: metrics.get((f'cryptomine_host_{name}',
                                               (('host', host),)))

    def test_ingest_counters_and_rejections_by_reason(self):
        good = samples.make(seq=1, timestamp=time.time())
        self.publisher.publish({'garbage': True})
        self.publisher.publish(samples.payload(good, key_host='other'))
        self.publish(good, good)
        metrics = waiting.wait_for(
            lambda: (m := self.scrape())[
                ('cryptomine_samples_received_total', ())] == 4 and m,
            waiting.PATIENCE)
        self.assertEqual(1, metrics['cryptomine_samples_stored_total', ()])
        # The duplicate is summarised once; no peer casts here.
        self.assertEqual(1, metrics['cryptomine_samples_summarised_total',
                                    ()])
        self.assertEqual(0, metrics['cryptomine_samples_from_peers_total',
                                    ()])
        self.assertGreaterEqual(metrics['cryptomine_batches_total', ()], 1)
        rejected = {dict(labels)['reason']: value
                    for (name, labels), value in metrics.items()
                    if name == 'cryptomine_samples_rejected_total'}
        self.assertEqual({'malformed': 1, 'bad_signature': 1, 'duplicate': 1,
                          'unsupported_version': 0, 'not_finite': 0,
                          'out_of_range': 0, 'clock_skew': 0, 'too_old': 0,
                          'too_large': 0, 'too_frequent': 0,
                          'not_an_envelope': 0, 'wrong_priority': 0,
                          'unstorable': 0, 'dead_lettered': 0},
                         rejected)

    def test_host_gauges(self):
        now = time.time()
        # CPU 10 then 30: mean 20, stddev 10, EWMA below the mean; the
        # predicted load with risk_factor 2 is 20 + 2 * 10.
        self.publish(
            samples.make(host='cpu-1', seq=1, timestamp=now - 6, cpu=10.0),
            samples.make(host='cpu-1', seq=2, timestamp=now - 5, cpu=30.0),
            samples.make(host='gpu-1', seq=1, timestamp=now - 1, mem=55.0,
                         gpus=[samples.gpu(temp=70.0, power=280.0,
                                           limit=350.0)],
                         sensors=sample.HostSensors(
                             inlet_temperature_c=29.0,
                             chassis_power_w=1840.0,
                             chassis_power_cap_w=2000.0),
                         collector=samples.COUNTERS, cpus=64))
        self.stored(3)
        metrics = self.scrape()
        gauge = self.host_gauges(metrics)

        self.assertEqual(30.0, gauge('cpu_percent', 'cpu-1'))
        self.assertAlmostEqual(40.0, gauge('predicted_cpu_percent', 'cpu-1'))
        self.assertEqual(40.0, gauge('mem_percent', 'cpu-1'))
        self.assertEqual(40.0, gauge('predicted_mem_percent', 'cpu-1'))
        self.assertEqual(2, gauge('window_samples', 'cpu-1'))
        self.assertGreaterEqual(gauge('data_age_seconds', 'cpu-1'), 5.0)
        self.assertLess(gauge('data_age_seconds', 'cpu-1'), 60.0)
        self.assertEqual(55.0, gauge('predicted_mem_percent', 'gpu-1'))
        self.assertEqual(19.0, gauge('gpu_thermal_headroom_celsius',
                                     'gpu-1'))
        self.assertEqual(19.0, gauge('predicted_gpu_thermal_headroom_celsius',
                                     'gpu-1'))
        self.assertAlmostEqual(20.0, gauge('gpu_power_headroom_percent',
                                           'gpu-1'))
        self.assertEqual(29.0, gauge('inlet_temperature_celsius', 'gpu-1'))
        self.assertEqual(1840.0, gauge('chassis_power_watts', 'gpu-1'))
        self.assertEqual(2000.0, gauge('chassis_power_cap_watts', 'gpu-1'))
        # Readings a host does not have are left out, not exported as NaN.
        for name in ('gpu_thermal_headroom_celsius', 'chassis_power_watts',
                     'chassis_power_cap_watts',
                     'predicted_gpu_power_headroom_percent',
                     'asic_errors_per_minute'):
            self.assertIsNone(gauge(name, 'cpu-1'))
        self.assertIsNone(gauge('asic_errors_per_minute', 'gpu-1'))

    def test_mining_gauges_and_each_guest_s_device_loss(self):
        now = time.time()
        gpu_guest, miner_guest = (f'{k}' * 8 + '-0000-4000-8000-' + f'{k}' * 12
                                  for k in 'ab')
        found = []
        for i in range(3):
            last = i == 2
            # The guest's GPU drops to 1128 of its 1410 MHz for heat in
            # the last sample; the second GPU is free.
            found.append(samples.make(
                host='gpu-2', seq=i, timestamp=now - 5 + i,
                instances=[sample.InstanceLoad(gpu_guest, 5.0, 1024.0)],
                gpus=[samples.gpu(0, throttle=0x40 if last else 0,
                                  clock=1128.0 if last else 1410.0,
                                  instances=[gpu_guest]),
                      samples.gpu(1)]))
            # The guest's miner sags to a quarter; the other is down.
            found.append(samples.make(
                host='asic-1', seq=i, timestamp=now - 5 + i,
                instances=[sample.InstanceLoad(miner_guest, 2.0, 1024.0)],
                asics=[samples.asic(1, hashrate=25.0 if last else 100.0,
                                    instance_uuid=miner_guest),
                       samples.asic(2, available=False)]))
        found.append(samples.make(host='cpu-1', seq=1, timestamp=now - 1))
        self.publish(*found)
        self.stored(7)
        metrics = self.scrape()
        gauge = self.host_gauges(metrics)

        self.assertEqual(2, gauge('gpus', 'gpu-2'))
        self.assertEqual(1, gauge('gpus_free', 'gpu-2'))
        # The snapshot's wire carries statistics to four decimals.
        self.assertAlmostEqual(1 / 3, gauge('gpu_throttled_ratio', 'gpu-2'),
                               places=4)
        self.assertEqual(2, gauge('asics', 'asic-1'))
        self.assertEqual(0, gauge('asics_free', 'asic-1'))
        self.assertEqual(1, gauge('asics_unavailable', 'asic-1'))
        self.assertEqual(25.0, gauge('asic_hashrate_gigahashes_per_second',
                                     'asic-1'))
        self.assertEqual(0.25, gauge('asic_hashrate_ratio', 'asic-1'))
        for name in ('gpus', 'gpu_throttled_ratio', 'asics',
                     'asic_hashrate_ratio'):
            self.assertIsNone(gauge(name, 'cpu-1'))
        self.assertIsNone(gauge('gpus', 'asic-1'))
        self.assertIsNone(gauge('asics', 'gpu-2'))
        losses = {dict(labels)['instance_uuid']: (dict(labels)['host'], value)
                  for (name, labels), value in metrics.items()
                  if name == 'cryptomine_instance_device_loss'}
        self.assertEqual({gpu_guest: ('gpu-2', 0.2),
                          miner_guest: ('asic-1', 0.75)},
                         {uuid: (host, round(value, 9))
                          for uuid, (host, value) in losses.items()})

    def test_placements_learnt_and_warming(self):
        self.assertNotIn(('cryptomine_placement_events_total',
                          (('source', 'nova'),)), self.scrape())
        self.conf.set_override('enabled', True, 'nova_notifications')
        self.conf.set_override('transport_url', test_controller.URL,
                               'nova_notifications')
        self.controller.stop()
        self.controller = self.start_controller()
        book = self.controller.tracker.placements
        self.publish(samples.make(host='gpu-1', seq=1, timestamp=time.time()))
        self.stored(1)
        guests = [samples.instance(n).uuid for n in range(4)]
        for uuid, host in zip(guests, ('gpu-1', 'gpu-1', 'gpu-7'),
                              strict=False):
            book.placed(uuid, host, 8, 16384, None, gpus=1)
        book.gone(guests[1])
        shared_placements.PeerEndpoint('here', book).apply_placement_event(
            {}, 'there', shared_placements.to_wire(placements.PlacementEvent(
                guests[3], time.time(), placements.Placement(
                    'gpu-1', 2, 2048, None, time.time()))))
        nova_notifications.InstanceEndpoint(book).info(
            {}, 'nova-compute:gpu-1', 'instance.create.start', {}, {})

        def placement_series(metrics):
            return ({dict(labels)['host']: value for (name, labels), value
                     in metrics.items()
                     if name == 'cryptomine_host_warming_guests'},
                    {dict(labels)['source']: value for (name, labels), value
                     in metrics.items()
                     if name == 'cryptomine_placement_events_total'},
                    metrics['cryptomine_nova_notifications_unreadable_total',
                            ()])
        self.assertEqual(({'gpu-1': 2, 'gpu-7': 1},
                          {'nova': 4, 'peers': 1, 'database': 0}, 1),
                         placement_series(self.scrape()))
        # Restarted, it reads back the events it stored (its peer stored
        # its own).
        self.controller.stop()
        self.controller = self.start_controller()
        self.assertEqual(({'gpu-1': 1, 'gpu-7': 1},
                          {'nova': 0, 'peers': 0, 'database': 4}, 0),
                         placement_series(self.scrape()))

    def never_sampled(self) -> dict:
        return {dict(labels)['host']: value
                for (name, labels), value in self.scrape().items()
                if name == 'cryptomine_host_never_sampled'}

    def test_compute_hosts_without_load_data(self):
        logger = self.useFixture(fixtures.FakeLogger(service.__name__))
        self.useFixture(fixtures.MockPatchObject(
            service, 'NEVER_SAMPLED_NAMED', 2))
        now = time.time()
        self.publish(samples.make(host='cpu-1', seq=1, timestamp=now))
        self.stored(1)
        none = device_inventory.HostDevices()
        placement = {'cpu-1': none, 'cpu-2': none, 'cpu-3': none,
                     'gpu-9': device_inventory.HostDevices(
                         gpu=device_inventory.DeviceCount(4, 1))}
        self.assertEqual(1, self.controller.count_devices(
            lambda: placement))
        self.assertEqual({'cpu-2': 1, 'cpu-3': 1, 'gpu-9': 1},
                         self.never_sampled())
        # A host without devices gets none in the snapshot.
        self.assertIsNone(
            self.client.get_load_snapshot().hosts['cpu-1'].devices)
        # gpu-9's collector starts; placement is read again, twice.
        self.publish(samples.make(host='gpu-9', seq=1, timestamp=now))
        self.stored(2)
        for _ in range(2):
            self.controller.count_devices(lambda: placement)
        self.assertEqual({'cpu-2': 1, 'cpu-3': 1}, self.never_sampled())
        del placement['cpu-2'], placement['cpu-3']
        self.controller.count_devices(lambda: placement)
        self.assertEqual({}, self.never_sampled())
        self.assertEqual(
            ['3 compute host(s) of placement have no load data: cpu-2, '
             'cpu-3 and 1 more (no collector reports under those names; '
             'see "never sampled" in the troubleshooting guide)',
             '2 compute host(s) of placement have no load data: cpu-2, '
             'cpu-3 (no collector reports under those names; see "never '
             'sampled" in the troubleshooting guide)',
             'Every compute host of placement has load data'],
            logger.output.splitlines())

    def test_collector_counters_of_the_newest_sample(self):
        now = time.time()
        newest = sample.CollectorCounters(dropped=4, buffered=120,
                                          publish_failures=9,
                                          source_errors=1)
        # A replayed buffer: the newest sample arrives before older ones.
        self.publish(
            samples.make(host='cpu-1', seq=3, timestamp=now - 1,
                         collector=newest),
            samples.make(host='cpu-1', seq=2, timestamp=now - 2,
                         collector=samples.COUNTERS),
            samples.make(host='old-1', seq=1, timestamp=now - 1))
        self.stored(3)
        metrics = self.scrape()
        self.assertEqual(
            {'dropped_total': 4, 'buffered': 120,
             'publish_failures_total': 9, 'source_errors_total': 1},
            {name.removeprefix('cryptomine_collector_')
             .removeprefix('samples_'): value
             for (name, labels), value in metrics.items()
             if name.startswith('cryptomine_collector_')
             and not name.endswith('_created')
             and labels == (('host', 'cpu-1'),)})
        # A collector of schema 1 reports no counters.
        self.assertEqual({(('host', 'cpu-1'),)}, {
            labels for name, labels in metrics
            if name.startswith('cryptomine_collector_')})

    def test_plan_and_migration_series_served_at_zero_from_the_start(self):
        metrics = self.scrape()
        for status in ('nothing-to-do', 'planned', 'running'):
            self.assertEqual(0, metrics['cryptomine_plans_total',
                                        (('status', status),)])
        ends = {labels for name, labels in metrics
                if name == 'cryptomine_migrations_total'}
        self.assertEqual(
            {(('cause', cause), ('how', how), ('status', status))
             for how in ('live', 'cold')
             for status, cause in (('succeeded', ''), ('failed', 'nova'),
                                   ('failed', 'nova-unavailable'),
                                   ('failed', 'timed-out'),
                                   ('failed', 'abort-requested'))}, ends)
        self.assertEqual({0}, {metrics['cryptomine_migrations_total', e]
                               for e in ends})
        for how in ('live', 'cold'):
            self.assertEqual(0, metrics[
                'cryptomine_migration_duration_seconds_count',
                (('how', how),)])

    def test_plan_and_migration_metrics(self):
        self.controller.metrics.plan_finished('applied', 0.3)
        self.controller.metrics.plan_finished('no_gain', 2.0)
        self.controller.metrics.plan_finished('applied', 7.0)
        self.controller.metrics.migration_finished('succeeded', 42.0, 'live')
        self.controller.metrics.migration_finished('failed', 900.0, 'live',
                                                   'timed-out')
        self.controller.metrics.migration_finished('succeeded', 95.0, 'cold')
        metrics = self.scrape()
        self.assertEqual(2, metrics['cryptomine_plans_total',
                                    (('status', 'applied'),)])
        self.assertEqual(1, metrics['cryptomine_plans_total',
                                    (('status', 'no_gain'),)])
        self.assertEqual(3, metrics['cryptomine_plan_duration_seconds_count',
                                    ()])
        self.assertAlmostEqual(
            9.3, metrics['cryptomine_plan_duration_seconds_sum', ()])
        self.assertEqual(2, metrics['cryptomine_plan_duration_seconds_bucket',
                                    (('le', '5.0'),)])
        for status, how, cause, count in (('failed', 'live', 'timed-out', 1),
                                          ('succeeded', 'live', '', 1),
                                          ('succeeded', 'cold', '', 1)):
            self.assertEqual(count, metrics[
                'cryptomine_migrations_total',
                (('cause', cause), ('how', how), ('status', status))])
        for how, le, count in (('live', '60.0', 1), ('live', '1200.0', 2),
                               ('cold', '60.0', 0), ('cold', '120.0', 1)):
            self.assertEqual(count, metrics[
                'cryptomine_migration_duration_seconds_bucket',
                (('how', how), ('le', le))])

    def test_stop_closes_the_endpoint(self):
        self.scrape()
        self.controller.stop()
        self.assertRaises(OSError, self.scrape)

    def test_burst_gauges_and_counters_from_the_history(self):
        now = time.time()
        store = self.controller.burst
        b1, b2 = (burst.Stay(h, Tier.BURST, 2.0) for h in ('b1', 'b2'))
        store.record(now - 2 * HOUR, {'i1': b1, 'i2': b1},
                     {'b1': 2.0, 'b2': 2.0}, {'b2': now - 2 * HOUR})
        store.released(burst.Release('b2', 2.0, now - 2 * HOUR),
                       now - HOUR, 'c1')
        metrics = self.scrape()

        def value(name):
            return metrics[f'cryptomine_burst_{name}', ()]

        self.assertEqual((1, 2.0, 1, 1),
                         (value('hosts'), value('cost_per_hour'),
                          value('releasable_hosts'), value('releases_total')))
        # b1 held 2 h and b2 1 h at 2 an hour; two instances 2 h on b1.
        self.assertAlmostEqual(3.0, value('host_hours_total'), 2)
        self.assertAlmostEqual(6.0, value('cost_total'), 2)
        self.assertAlmostEqual(4.0, value('instance_hours_total'), 2)
