"""The shipped Prometheus alerts and Grafana dashboard, on what a
controller really exports.

Two controllers are scraped (the same controller twice: every controller
serves the same host series) while a fleet is healthy, then while it is
sick in every way the rules watch; Prometheus' own rule engine
(``promtool``) then says which alerts fire in each phase.
"""

import subprocess
import time
import uuid

from cryptomine_scheduler.history import nova_notifications
from cryptomine_scheduler.placement import burst
from cryptomine_scheduler.placement import device_inventory
from cryptomine_scheduler.placement.tiers import Tier
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests import promtool
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.unit import test_controller
from cryptomine_scheduler.tests.unit import test_metrics

ONE, TWO = 'controller-1:9180', 'controller-2:9180'
GPU_GUEST, GPU_GUEST_2, MINER_GUEST, MINER_GUEST_2 = (
    str(uuid.UUID(int=n)) for n in (11, 12, 21, 22))
QUIET = sample.CollectorCounters(dropped=0, buffered=0, publish_failures=0,
                                 source_errors=0)
COUNT = device_inventory.DeviceCount


def _guests(*uuids: str | None) -> list[sample.InstanceLoad]:
    return [sample.InstanceLoad(u, 2.0, 1024.0) for u in uuids if u]


def _gpu_host(seq: int, at: float, sick: bool) -> sample.LoadSample:
    """gpu-1: two GPUs and a BMC.  Sick, the guest's GPU is 2 degC from
    its slowdown and slowed for heat, a second guest took the other GPU,
    the inlet air is at 45 degC and the chassis at its power cap."""
    return samples.make(
        host='gpu-1', seq=seq, timestamp=at, collector=QUIET, cpus=64,
        instances=_guests(GPU_GUEST, GPU_GUEST_2 if sick else None),
        gpus=[samples.gpu(0, temp=87.0 if sick else 60.0,
                          throttle=0x40 if sick else 0,
                          clock=1128.0 if sick else 1410.0,
                          instances=[GPU_GUEST]),
              samples.gpu(1, temp=60.0,
                          instances=[GPU_GUEST_2] if sick else [])],
        sensors=sample.HostSensors(
            inlet_temperature_c=45.0 if sick else 25.0,
            chassis_power_w=1960.0 if sick else 1500.0,
            chassis_power_cap_w=2000.0))


def _asic_host(seq: int, at: float, sick: bool) -> sample.LoadSample:
    """asic-1: two miners.  Sick, the guest's miner hashes at 44 % of
    its baseline with errors mounting, and the other miner, which a
    second guest took, is down."""
    return samples.make(
        host='asic-1', seq=seq, timestamp=at, collector=QUIET, cpus=16,
        instances=_guests(MINER_GUEST, MINER_GUEST_2 if sick else None),
        asics=[samples.asic(1, hashrate=6000.0 if sick else 13500.0,
                            errors=1000 * seq if sick else 10,
                            instance_uuid=MINER_GUEST),
               samples.asic(2, available=not sick,
                            instance_uuid=MINER_GUEST_2 if sick else None)])


class TestShippedAlerts(test_metrics.MetricsTestCase):

    def start_controller(self):
        self.conf.set_override('enabled', True, 'nova_notifications')
        self.conf.set_override('transport_url', test_controller.URL,
                               'nova_notifications')
        return super().start_controller()

    def healthy_fleet(self) -> str:
        now = time.time()
        for seq in range(3):
            at = now - 30 + seq
            self.publish(
                samples.make(host='cpu-1', seq=seq, timestamp=at,
                             collector=QUIET, cpus=32),
                _gpu_host(seq, at, sick=False),
                _asic_host(seq, at, sick=False))
        self.stored(9)
        self.controller.count_devices(lambda: {
            'cpu-1': device_inventory.HostDevices(),
            'gpu-1': device_inventory.HostDevices(gpu=COUNT(2, 1)),
            'asic-1': device_inventory.HostDevices(asic=COUNT(2, 1))})
        return self.scrape_text()

    def sick_fleet(self) -> str:
        now = time.time()
        for seq in range(3, 9):
            at = now - 20 + seq
            self.publish(_gpu_host(seq, at, sick=True),
                         _asic_host(seq, at, sick=True))
        # cpu-1's collector lost samples and a source keeps failing;
        # cpu-9 last sampled 5 minutes ago.
        self.publish(
            samples.make(host='cpu-1', seq=3, timestamp=now, collector=(
                sample.CollectorCounters(dropped=12, buffered=0,
                                         publish_failures=40,
                                         source_errors=10)), cpus=32),
            samples.make(host='cpu-9', seq=1, timestamp=now - 300))
        self.stored(23)
        # Rejected: a sample signed with another host's key, a sample
        # from a clock 10 minutes ahead.
        self.publisher.publish(samples.payload(
            samples.make(host='cpu-1', seq=4, timestamp=now),
            key_host='gpu-1'))
        self.publish(samples.make(host='cpu-1', seq=5, timestamp=now + 600))
        self.wait_for_rejections(2)
        # A nova notification the controller cannot read.
        nova_notifications.InstanceEndpoint(
            self.controller.tracker.placements).info(
            {}, 'nova-compute:gpu-1', 'instance.create.start', {}, {})
        # placement: the GPU and the miner all taken; cpu-7 has no
        # collector.
        self.controller.count_devices(lambda: {
            'cpu-1': device_inventory.HostDevices(),
            'cpu-7': device_inventory.HostDevices(),
            'gpu-1': device_inventory.HostDevices(gpu=COUNT(2, 2)),
            'asic-1': device_inventory.HostDevices(asic=COUNT(2, 2))})
        # The re-planner's moves: nova refused five, three live ones
        # timed out, three cold ones stopped their guests 10 minutes.
        metrics = self.controller.metrics
        for _ in range(5):
            metrics.migration_finished('failed', 20.0, 'live', 'nova')
        for _ in range(3):
            metrics.migration_finished('failed', 900.0, 'live', 'timed-out')
            metrics.migration_finished('succeeded', 600.0, 'cold')
        # A burst host released an hour ago and still held.
        b1 = burst.Stay('b1', Tier.BURST, 2.0)
        self.controller.burst.record(now - 7200, {'i1': b1}, {'b1': 2.0},
                                     {'b1': now - 7200})
        self.controller.burst.released(burst.Release('b1', 2.0, now - 7200),
                                       now - 3600, 'c1')
        return self.scrape_text()

    def wait_for_rejections(self, count: int) -> None:
        totals = self.controller.totals
        waiting.wait_for(
            lambda: sum(totals.wire()['rejected'].values()) >= count,
            waiting.PATIENCE)

    def firing(self) -> dict[str, list[dict]]:
        """The alerts the sick fleet must raise, each with its labels."""
        return {
            'CryptomineControllerDown': [{'job': 'cryptomine',
                                          'instance': TWO}],
            'CryptomineBadSignatures': [{}],
            'CryptomineClockSkew': [{}],
            'CryptomineNovaNotificationsUnreadable': [{'instance': ONE}],
            'CryptomineHostSilent': [{'host': 'cpu-9'}],
            'CryptomineHostNeverSampled': [{'host': 'cpu-7'}],
            'CryptomineCollectorDroppingSamples': [{'host': 'cpu-1'}],
            'CryptomineCollectorSourceErrors': [{'host': 'cpu-1'}],
            'CryptomineGpuHot': [{'host': 'gpu-1'}],
            'CryptomineGpusThrottling': [{'host': 'gpu-1'}],
            'CryptomineInletAirHot': [{'host': 'gpu-1'}],
            'CryptomineChassisAtItsCap': [{'host': 'gpu-1'}],
            'CryptomineAsicErrors': [{'host': 'asic-1'}],
            'CryptomineMinerSagging': [{'host': 'asic-1'}],
            'CryptomineMinersDown': [{'host': 'asic-1'}],
            'CryptomineGuestLosingWork': [
                {'host': 'asic-1', 'instance_uuid': MINER_GUEST},
                {'host': 'asic-1', 'instance_uuid': MINER_GUEST_2},
                {'host': 'gpu-1', 'instance_uuid': GPU_GUEST}],
            'CryptomineNoFreeGpus': [{}],
            'CryptomineNoFreeMiners': [{}],
            'CryptomineMigrationsFailing': [{}],
            'CryptomineMigrationsTimingOut': [{}],
            'CryptomineLongColdMigrations': [{}],
            'CryptomineBurstHostsNotReturned': [{}],
        }

    def test_alerts_fire_on_the_sick_fleet_only(self):
        healthy, sick = self.healthy_fleet(), self.sick_fleet()
        rules = promtool.rules()
        # Every series a rule reads is one the controller serves.
        served = promtool.exposed(sick)
        for rule in rules:
            self.assertLessEqual(promtool.metrics_read(rule['expr']),
                                 served, rule['alert'])
        firing = self.firing()
        silent = {'CryptomineSamplesDeadLettered',
                  'CryptomineWorkersRestarting'}
        self.assertEqual({r['alert'] for r in rules}, set(firing) | silent)
        # Each phase lasts longer than any alert's "for".
        minutes = max(promtool.for_minutes(r) for r in rules) + 30
        phases = [promtool.Phase(minutes, {ONE: healthy, TWO: healthy}),
                  promtool.Phase(minutes, {ONE: sick, TWO: None})]
        # Each alert is checked at the end of the healthy phase, and once
        # its condition has held for its "for" into the sick one.
        checks = []
        for rule in rules:
            name = rule['alert']
            checks.append((name, minutes - 1, []))
            checks.append((name, minutes + promtool.for_minutes(rule) + 2,
                           [promtool.expected(rule, labels)
                            for labels in firing.get(name, [])]))
        result = promtool.test_rules(phases, checks)
        self.assertEqual(0, result.returncode, result.stdout + result.stderr)

        # The same story with one alert expected silent: promtool fails,
        # and names it.
        checks = [(name, minute, [] if name == 'CryptomineGpuHot' else exp)
                  for name, minute, exp in checks]
        result = promtool.test_rules(phases, checks)
        self.assertEqual(1, result.returncode)
        self.assertIn('alertname: CryptomineGpuHot', result.stderr)

    def test_the_rules_file_passes_promtool_s_check(self):
        result = subprocess.run(
            ['promtool', 'check', 'rules', str(promtool.RULES)],
            capture_output=True, text=True, check=False)
        self.assertEqual(0, result.returncode, result.stdout + result.stderr)
        self.assertIn(f'SUCCESS: {len(promtool.rules())} rules found',
                      result.stdout)


class TestShippedDashboard(test_metrics.MetricsTestCase):

    def test_every_query_is_promql_on_series_the_controller_serves(self):
        served = promtool.exposed(self.scrape_text())
        queries = promtool.dashboard_queries()
        self.assertGreater(len(queries), 20)
        for query in queries:
            self.assertTrue(promtool.metrics_read(query), query)
            self.assertLessEqual(promtool.metrics_read(query), served, query)
        result = promtool.check_queries(queries)
        self.assertEqual(0, result.returncode, result.stdout + result.stderr)
        self.assertIn(f'SUCCESS: {len(queries)} rules found', result.stdout)
        # A query that is not PromQL fails the check.
        result = promtool.check_queries(['sum(cryptomine_burst_hosts'])
        self.assertEqual(1, result.returncode)
