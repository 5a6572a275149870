"""The filter and weigher inside nova's own host-state fakes."""

import nova.conf
from nova import objects
from nova import test
from nova.scheduler import weights
from nova.tests.unit.scheduler import fakes
from oslo_utils.fixture import uuidsentinel as uuids

from cryptomine_scheduler import snapshot
from cryptomine_scheduler.conf import scheduler as scheduler_conf
from cryptomine_scheduler.scheduler import filter as load_filter
from cryptomine_scheduler.scheduler import pending
from cryptomine_scheduler.scheduler import plugin
from cryptomine_scheduler.scheduler import snapshot_client
from cryptomine_scheduler.scheduler import weigher as load_weigher
from cryptomine_scheduler.tests import nova_defaults
from cryptomine_scheduler.tests import samples

CONF = nova.conf.CONF
NOW = 10_000.0


class Controller:
    """The snapshot a real tracker serves; ``up`` False means down."""

    def __init__(self):
        self.tracker = snapshot.LoadTracker(window=600, half_life=60)
        self.up = True
        self.seq = 0

    def report(self, host, cpu=10.0, mem=20.0, at=NOW, gpus=(), asics=(),
               instances=(), count=5):
        for i in range(count):
            self.seq += 1
            self.tracker.add(samples.make(
                host=host, seq=self.seq, timestamp=at - 10 * (count - 1 - i),
                cpu=cpu, mem=mem, gpus=gpus, asics=asics,
                instances=instances))

    def fetch(self):
        if not self.up:
            raise ConnectionError('controller down')
        return snapshot.LoadSnapshot.from_wire(self.tracker.snapshot(NOW))


class PluginTestCase(test.NoDBTestCase):

    def setUp(self):
        self.useFixture(nova_defaults.LibraryDefaultsFixture())
        super().setUp()
        scheduler_conf.register_opts(CONF)
        self.flags(risk_factor=0.0, group='cryptomine')
        self.build()

    def build(self):
        """A fresh controller, plugin, filter and weigher."""
        self.controller = Controller()
        self.now = [0.0]
        self.plugin = plugin.LoadAwarePlugin(
            CONF.cryptomine,
            snapshot_client.SnapshotCache(self.controller.fetch, ttl=5,
                                          max_age=60,
                                          clock=lambda: self.now[0]),
            pending.PendingBoots(timeout=300, clock=lambda: self.now[0]))
        self.filter = load_filter.LoadAwareFilter(self.plugin)
        self.weigher = load_weigher.LoadAwareWeigher(self.plugin)

    def host(self, name, aggregates=(), num_instances=0, vcpus=16,
             ram_mb=65536):
        state = fakes.FakeHostState(name, 'node', {
            'num_instances': num_instances, 'vcpus_total': vcpus,
            'total_usable_ram_mb': ram_mb})
        state.aggregates = [objects.Aggregate(id=i, metadata=m)
                            for i, m in enumerate(aggregates)]
        return state

    def spec(self, extra_specs=None, vcpus=4, memory_mb=4096):
        return objects.RequestSpec(
            instance_uuid=uuids.instance, flavor=objects.Flavor(
                vcpus=vcpus, memory_mb=memory_mb, root_gb=1,
                extra_specs=extra_specs or {}))

    def passes(self, host, spec=None):
        spec = spec or self.spec()
        return list(self.filter.filter_all([host], spec)) == [host]


class TestFilterThresholds(PluginTestCase):

    def test_cpu_boundary(self):
        self.controller.report('at', cpu=90.0)
        self.controller.report('over', cpu=90.01)
        self.assertTrue(self.passes(self.host('at')))
        self.assertFalse(self.passes(self.host('over')))

    def test_risk_factor_counts_variation(self):
        self.flags(risk_factor=1.0, group='cryptomine')
        for i, cpu in enumerate((55.0, 95.0) * 3):
            self.controller.report('spiky', cpu=cpu, at=NOW - 60 + 10 * i,
                                   count=1)
        self.controller.report('steady', cpu=75.0)
        self.assertTrue(self.passes(self.host('steady')))
        self.assertFalse(self.passes(self.host('spiky')))

    def test_memory_boundary(self):
        self.controller.report('at', mem=90.0)
        self.controller.report('over', mem=90.5)
        self.assertTrue(self.passes(self.host('at')))
        self.assertFalse(self.passes(self.host('over')))

    def test_gpu_thermal_headroom_boundary(self):
        # Slowdown at 89 degC: 84 leaves exactly the 5 degC required.
        self.controller.report('cool', gpus=[samples.gpu(0, temp=84.0)])
        self.controller.report('hot', gpus=[samples.gpu(0, temp=84.1)])
        self.assertTrue(self.passes(self.host('cool')))
        self.assertFalse(self.passes(self.host('hot')))

    def test_gpu_power_headroom_boundary(self):
        self.controller.report('ok', gpus=[samples.gpu(0, power=343.0)])
        self.controller.report('capped', gpus=[samples.gpu(0, power=343.5)])
        self.assertTrue(self.passes(self.host('ok')))
        self.assertFalse(self.passes(self.host('capped')))

    def test_asic_hardware_error_rate(self):
        for host, per_sample in (('healthy', 5), ('sick', 6)):
            for i in range(5):
                self.controller.report(
                    host, at=NOW - 40 + 10 * i, count=1,
                    asics=[samples.asic(1, errors=1000 + per_sample * i)])
        # 5 and 6 errors per 10 s sample: 30 and 36 per minute.
        self.assertTrue(self.passes(self.host('healthy')))
        self.assertFalse(self.passes(self.host('sick')))

    def test_aggregate_overrides_threshold(self):
        self.controller.report('h', cpu=70.0)
        strict = [{'cryptomine_max_cpu_percent': '60'}]
        loose = [{'cryptomine_max_cpu_percent': '80'}]
        both = strict + loose  # the strictest wins
        self.assertTrue(self.passes(self.host('h')))
        self.assertFalse(self.passes(self.host('h', strict)))
        self.assertTrue(self.passes(self.host('h', loose)))
        self.assertFalse(self.passes(self.host('h', both)))

    def test_rebuild_is_not_filtered(self):
        self.controller.report('over', cpu=99.0)
        rebuild = self.spec()
        rebuild.scheduler_hints = {'_nova_check_type': ['rebuild']}
        self.assertTrue(self.passes(self.host('over'), rebuild))
        self.assertFalse(self.passes(self.host('over')))

    def test_bad_aggregate_value_falls_back_to_config(self):
        self.controller.report('h', cpu=70.0)
        self.assertTrue(self.passes(self.host(
            'h', [{'cryptomine_max_cpu_percent': 'lots'}])))


class TestFilterAccelerators(PluginTestCase):

    def build(self):
        super().build()
        self.controller.report('cpu-host')
        self.controller.report('gpu-host', gpus=[samples.gpu(0)])
        self.controller.report('asic-host', asics=[samples.asic(1)])

    def test_table(self):
        cases = [
            (None, {'cpu-host', 'gpu-host', 'asic-host'}),
            ('gpu', {'gpu-host'}),
            ('GPU', {'gpu-host'}),
            ('asic', {'asic-host'}),
            ('cpu', {'cpu-host'}),
            ('fpga', set()),
        ]
        for wanted, expected in cases:
            specs = {} if wanted is None else {
                plugin.ACCELERATOR_SPEC: wanted}
            hosts = [self.host(n) for n in ('cpu-host', 'gpu-host',
                                            'asic-host')]
            with self.subTest(wanted=wanted):
                passed = self.filter.filter_all(hosts, self.spec(specs))
                self.assertEqual(expected, {h.host for h in passed})


class TestMissingData(PluginTestCase):

    CASES = [
        # (how the data is missing, policy, aggregate policy, passes)
        ('never sampled', 'pass', None, True),
        ('never sampled', 'reject', None, False),
        ('stale', 'pass', None, True),
        ('stale', 'reject', None, False),
        ('controller down', 'pass', None, True),
        ('controller down', 'reject', None, False),
        ('stale', 'pass', 'reject', False),
        ('stale', 'reject', 'pass', True),
    ]

    def test_table(self):
        for how, policy, aggregate, expected in self.CASES:
            with self.subTest(how=how, policy=policy, aggregate=aggregate):
                self.build()
                self.flags(missing_data_policy=policy, group='cryptomine')
                self.controller.report('fresh')
                if how == 'stale':
                    self.controller.report('h', at=NOW - 61)
                elif how == 'controller down':
                    self.controller.report('h')
                    self.filter.filter_all([], self.spec())  # first fetch
                    self.controller.up = False
                    self.now[0] = 60.0
                    self.plugin.cache.refresh()
                aggregates = ([{'cryptomine_missing_data_policy': aggregate}]
                              if aggregate else ())
                self.assertEqual(expected, self.passes(
                    self.host('h', aggregates), self.spec()))

    def test_last_snapshot_served_while_controller_briefly_down(self):
        self.flags(missing_data_policy='reject', group='cryptomine')
        self.controller.report('h')
        self.assertTrue(self.passes(self.host('h')))
        self.controller.up = False
        self.now[0] = 59.0
        self.plugin.cache.refresh()
        self.assertTrue(self.passes(self.host('h'), self.spec()))


class TestWeigher(PluginTestCase):

    def weigh(self, hosts, spec=None):
        weighed = self.weigher.weigh_objects(
            [nova_weighed(h) for h in hosts], spec or self.spec())
        return dict(zip([h.host for h in hosts], weighed, strict=True))

    def test_least_loaded_weighs_most(self):
        self.controller.report('busy', cpu=80.0, mem=60.0)
        self.controller.report('idle', cpu=10.0, mem=20.0)
        self.controller.report('mid', cpu=40.0, mem=40.0)
        scores = self.weigh([self.host(n) for n in ('busy', 'idle', 'mid')])
        self.assertGreater(scores['idle'], scores['mid'])
        self.assertGreater(scores['mid'], scores['busy'])

    def test_cooler_gpu_host_preferred(self):
        self.controller.report('hot', gpus=[samples.gpu(0, temp=85.0)])
        self.controller.report('cool', gpus=[samples.gpu(0, temp=60.0)])
        scores = self.weigh([self.host('hot'), self.host('cool')])
        self.assertGreater(scores['cool'], scores['hot'])

    def test_host_without_data_gets_the_median(self):
        for name, cpu in (('a', 10.0), ('b', 50.0), ('c', 90.0)):
            self.controller.report(name, cpu=cpu)
        scores = self.weigh([self.host(n) for n in 'abcx'])
        self.assertEqual(scores['b'], scores['x'])

    def test_multiplier_from_config_and_aggregate(self):
        self.flags(weight_multiplier=2.5, group='cryptomine')
        self.assertEqual(2.5, self.weigher.weight_multiplier(self.host('h')))
        self.assertEqual(-1.0, self.weigher.weight_multiplier(self.host(
            'h', [{'cryptomine_weight_multiplier': '-1'}])))


class TestPendingBootCredit(PluginTestCase):

    def test_burst_spreads(self):
        for name in ('h1', 'h2', 'h3', 'h4'):
            self.controller.report(name, cpu=20.0)
        self.controller.report('h1', cpu=10.0)  # slightly less loaded
        hosts = {n: self.host(n, vcpus=16) for n in ('h1', 'h2', 'h3', 'h4')}
        chosen = []
        for _ in range(8):
            spec = self.spec(vcpus=4)  # a new request each time
            scores = self.weigher.weigh_objects(
                [nova_weighed(h) for h in hosts.values()], spec)
            best = max(zip(scores, hosts, strict=True),
                       key=lambda p: p[0])[1]
            chosen.append(best)
            hosts[best].num_instances += 1  # what nova's consume does
        self.assertEqual(2, chosen.count('h1'))
        self.assertEqual({'h1', 'h2', 'h3', 'h4'}, set(chosen))

    def test_expected_load_extra_spec(self):
        self.controller.report('h1', cpu=10.0)
        host = self.host('h1', vcpus=16)
        spec = self.spec({plugin.EXPECTED_LOAD_SPEC: '50'}, vcpus=8)
        self.weigher.weigh_objects([nova_weighed(host)], spec)
        host.num_instances += 1
        self.weigher.weigh_objects([nova_weighed(host)], self.spec())
        estimate = self.plugin.host_load(
            plugin.HostFacts('h1', 1, 16.0, 65536.0)).estimate
        # 10 % measured + 4 busy vCPUs of 16.
        self.assertAlmostEqual(35.0, estimate.cpu_percent)


def nova_weighed(host_state):
    return weights.WeighedHost(host_state, 0.0)
