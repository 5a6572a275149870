"""The filter and weigher inside nova's own host-state fakes."""

import logging
import random
import uuid

import fixtures
import nova.conf
from nova import objects
from nova import test
from nova.scheduler import filters
from nova.scheduler import weights
from nova.tests.unit.scheduler import fakes
from oslo_utils.fixture import uuidsentinel as uuids

from cryptomine_scheduler.conf import scheduler as scheduler_conf
from cryptomine_scheduler.experiment import nova_defaults
from cryptomine_scheduler.history import placements
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.scheduler import adapters
from cryptomine_scheduler.scheduler import filter as load_filter
from cryptomine_scheduler.scheduler import pending
from cryptomine_scheduler.scheduler import plugin
from cryptomine_scheduler.scheduler import snapshot_client
from cryptomine_scheduler.scheduler import weigher as load_weigher
from cryptomine_scheduler.telemetry import sample
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
               instances=(), count=5, **fields):
        for i in range(count):
            self.seq += 1
            self.tracker.add(samples.make(
                host=host, seq=self.seq, timestamp=at - 10 * (count - 1 - i),
                cpu=cpu, mem=mem, gpus=gpus, asics=asics,
                instances=instances, **fields))

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
        state.aggregates = [objects.Aggregate(id=i, metadata=m,
                                              hosts=[name])
                            for i, m in enumerate(aggregates)]
        return state

    def spec(self, extra_specs=None, vcpus=4, memory_mb=4096, **fields):
        return objects.RequestSpec(
            instance_uuid=uuids.instance, flavor=objects.Flavor(
                vcpus=vcpus, memory_mb=memory_mb, root_gb=1,
                extra_specs=extra_specs or {}), **fields)

    def passes(self, host, spec=None):
        spec = spec or self.spec()
        return list(self.filter.filter_all([host], spec)) == [host]


# What the default guest (4 vCPUs at 100 %, 4 GiB) adds to a default host
# (16 vCPUs, 64 GiB), in % of the host.
GUEST_CPU = 25.0
GUEST_MEM = 6.25


class TestFilterThresholds(PluginTestCase):
    """Thresholds under ``overload_policy = hard``; the guest being
    placed counts in the predicted load."""

    def setUp(self):
        super().setUp()
        self.flags(overload_policy='hard', group='cryptomine')

    def test_cpu_boundary(self):
        self.controller.report('at', cpu=90.0 - GUEST_CPU)
        self.controller.report('over', cpu=90.01 - GUEST_CPU)
        self.assertTrue(self.passes(self.host('at')))
        self.assertFalse(self.passes(self.host('over')))

    def test_risk_factor_counts_variation(self):
        self.flags(risk_factor=1.0, group='cryptomine')
        for i, cpu in enumerate((55.0, 95.0) * 3):
            self.controller.report('spiky', cpu=cpu, at=NOW - 60 + 10 * i,
                                   count=1)
        self.controller.report('steady', cpu=90.0 - GUEST_CPU - 5.0)
        self.assertTrue(self.passes(self.host('steady')))
        self.assertFalse(self.passes(self.host('spiky')))

    def test_memory_boundary(self):
        self.controller.report('at', mem=90.0 - GUEST_MEM)
        self.controller.report('over', mem=90.5 - GUEST_MEM)
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
        self.controller.report('h', cpu=70.0 - GUEST_CPU)
        strict = [{'cryptomine_max_cpu_percent': '60'}]
        loose = [{'cryptomine_max_cpu_percent': '80'}]
        both = strict + loose  # the strictest wins
        self.assertTrue(self.passes(self.host('h')))
        self.assertFalse(self.passes(self.host('h', strict)))
        self.assertTrue(self.passes(self.host('h', loose)))
        self.assertFalse(self.passes(self.host('h', both)))

    def test_rack_power_budget_of_an_aggregate(self):
        # Two GPU hosts with a free GPU idle at 50 W of its 350 W limit,
        # in a rack whose aggregate gives each 3 kW: a GPU guest would
        # take 'busy' from 2.8 to 3.1 kW; 'calm' stays at 2.6.  A CPU
        # guest fits on both; without the aggregate, there is no budget.
        gpus = [samples.gpu(0, power=50.0, limit=350.0),
                samples.gpu(1, instances=[uuids.miner])]
        for host, draw in (('busy', 2800.0), ('calm', 2300.0)):
            self.controller.report(host, gpus=gpus, sensors=sample.HostSensors(
                chassis_power_w=draw))
        rack = [{'cryptomine_max_chassis_power_w': '3000'}]
        gpu_guest = self.spec({plugin.ACCELERATOR_SPEC: 'gpu'})
        for aggregates, spec, expected in (
                (rack, gpu_guest, ['calm']),
                (rack, self.spec(), ['busy', 'calm']),
                ((), gpu_guest, ['busy', 'calm'])):
            with self.subTest(aggregates=aggregates, spec=spec.flavor):
                hosts = [self.host(n, aggregates) for n in ('busy', 'calm')]
                self.assertEqual(expected, [
                    h.host for h in self.filter.filter_all(hosts, spec)])

    def test_bmc_power_cap_with_no_budget_configured(self):
        # Both hosts draw 2.3 kW with a free GPU idle at 50 W of 350 W
        # (2.6 kW once a guest works it); no budget is configured, but
        # 'capped''s BMC holds it to 2.5 kW.  A rack budget lower than
        # 'open''s cap holds there.
        gpus = [samples.gpu(0, power=50.0, limit=350.0),
                samples.gpu(1, instances=[uuids.miner])]
        for host, cap in (('capped', 2500.0), ('open', 3200.0)):
            self.controller.report(host, gpus=gpus, sensors=sample.HostSensors(
                chassis_power_w=2300.0, chassis_power_cap_w=cap))
        gpu_guest = self.spec({plugin.ACCELERATOR_SPEC: 'gpu'})
        rack = [{'cryptomine_max_chassis_power_w': '2550'}]
        for aggregates, spec, expected in (
                ((), gpu_guest, ['open']),
                ((), self.spec(), ['capped', 'open']),
                (rack, gpu_guest, [])):
            with self.subTest(aggregates=aggregates, spec=spec.flavor):
                hosts = [self.host(n, aggregates) for n in ('capped', 'open')]
                self.assertEqual(expected, [
                    h.host for h in self.filter.filter_all(hosts, spec)])
                # The host-by-host reasons agree with the one pass.
                self.assertEqual(expected, [
                    h.host for h in hosts if self.filter.host_passes(
                        h, spec)])

    def rig_near_its_budget(self):
        """A host of four free GPUs idle at 50 W of their 300 W limit
        (a guest working one adds 250 W), its chassis at 2.4 kW of a 3 kW
        budget."""
        self.flags(max_chassis_power_w=3000.0, group='cryptomine')
        self.controller.report(
            'rig', gpus=[samples.gpu(i, power=50.0, limit=300.0)
                         for i in range(4)],
            sensors=sample.HostSensors(chassis_power_w=2400.0))
        return self.host('rig')

    def test_a_burst_of_gpu_guests_counts_their_power_before_it_shows(self):
        # Each GPU guest placed counts 250 W until the samples show it:
        # 2.65 kW, 2.9, then 3.15 refused, though the snapshot still
        # shows 2.4 kW.
        rig = self.rig_near_its_budget()
        passed = []
        for _ in range(4):
            passed.append(self.passes(rig, self.spec(
                {plugin.ACCELERATOR_SPEC: 'gpu'})))
            if passed[-1]:
                rig.num_instances += 1  # what nova's consume does
        self.assertEqual([True, True, False, False], passed)
        # Plain guests still fit: they draw no GPU.
        self.assertTrue(self.passes(rig))

    def test_a_rig_flavor_holds_its_gpus_and_their_power(self):
        # A flavor passing two of the GPUs through fits (2.9 kW); then
        # the first rig counts 500 W until sampled, and a second is
        # refused.  Five GPUs are more than the host has free.
        rig = self.rig_near_its_budget()

        def rig_spec(count):
            return self.spec({plugin.ACCELERATOR_SPEC: 'gpu',
                              'pci_passthrough:alias': f'rtx:{count}'})

        self.assertFalse(self.passes(rig, rig_spec(5)))
        self.assertTrue(self.passes(rig, rig_spec(2)))
        rig.num_instances += 1  # what nova's consume does
        self.assertFalse(self.passes(rig, rig_spec(2)))
        self.assertFalse(self.filter.host_passes(rig, rig_spec(2)))
        # Nor does a one-GPU guest (3.15 kW); a plain guest does.
        self.assertFalse(self.passes(rig, rig_spec(1)))
        self.assertTrue(self.passes(rig))

    def test_rebuild_is_not_filtered(self):
        self.controller.report('over', cpu=99.0)
        rebuild = self.spec()
        rebuild.scheduler_hints = {'_nova_check_type': ['rebuild']}
        self.assertTrue(self.passes(self.host('over'), rebuild))
        self.assertFalse(self.passes(self.host('over')))

    def test_bad_aggregate_value_falls_back_to_config(self):
        self.controller.report('h', cpu=70.0 - GUEST_CPU)
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

    def test_aggregate_declares_passed_through_gpus(self):
        # All its GPUs passed through to guests: NVML sees none, so its
        # samples show no GPU; its aggregate says what it offers.
        self.controller.report('passthrough-host')
        gpu_row = [{plugin.ACCELERATOR_SPEC: 'gpu'}]
        hosts = [self.host('passthrough-host', gpu_row),
                 self.host('cpu-host'),
                 self.host('gpu-host', [{plugin.ACCELERATOR_SPEC: 'gpu,x'}])]
        spec = self.spec({plugin.ACCELERATOR_SPEC: 'gpu'})
        self.assertEqual(['passthrough-host', 'gpu-host'], [
            h.host for h in self.filter.filter_all(hosts, spec)])
        # A plain guest keeps off it, as off any accelerator host.
        loads = [adapters.host_load(adapters.begin_request(
            self.plugin, self.spec()), h) for h in hosts[:2]]
        self.assertLess(loads[0].score, loads[1].score)

    def test_gpu_guest_needs_a_free_gpu(self):
        busy = samples.instance(1).uuid
        self.controller.report('full', gpus=[samples.gpu(0, instances=[
            busy])])
        spec = self.spec({plugin.ACCELERATOR_SPEC: 'gpu'})
        passed = self.filter.filter_all(
            [self.host('full'), self.host('gpu-host')], spec)
        self.assertEqual(['gpu-host'], [h.host for h in passed])

    def test_asic_guest_needs_a_healthy_free_miner(self):
        self.controller.report('down', asics=[samples.asic(
            1, available=False)])
        spec = self.spec({plugin.ACCELERATOR_SPEC: 'asic'})
        passed = self.filter.filter_all(
            [self.host('down'), self.host('asic-host')], spec)
        self.assertEqual(['asic-host'], [h.host for h in passed])


class TestRefusedEverywhere(PluginTestCase):
    """A request that no host passes logs why, at INFO, in one line."""

    def log(self) -> fixtures.FakeLogger:
        """The filter's log from now on, INFO and above."""
        return self.useFixture(fixtures.FakeLogger(
            name=load_filter.__name__, level=logging.INFO))

    def refused(self, hosts, spec) -> list[str]:
        """The lines that say so, once the filter has refused them all."""
        log = self.log()
        self.assertEqual([], self.filter.filter_all(hosts, spec))
        return [line for line in log.output.splitlines()
                if line.startswith('Refused all')]

    def test_each_host_named_with_its_reason(self):
        self.flags(missing_data_policy='reject', group='cryptomine')
        self.controller.report('full', gpus=[samples.gpu(0, instances=[
            samples.instance(1).uuid])])
        self.controller.report('hot', gpus=[samples.gpu(0, temp=88.0)])
        self.controller.report('plain')
        spec = self.spec({plugin.ACCELERATOR_SPEC: 'gpu'})
        spec.flavor.name = 'miner'
        hosts = [self.host(name) for name in ('full', 'hot', 'plain', 'new')]
        self.assertEqual([
            f'Refused all 4 host(s) for instance {uuids.instance} (flavor '
            'miner): full rejected: no free GPU: all 1 in use; hot '
            'rejected: hardware-safety limit: GPU thermal headroom 1.0 < 5; '
            'plain rejected: offers cpu, the flavor asks for gpu; new has '
            'no fresh load data (never sampled); rejected'],
            self.refused(hosts, spec))

    def test_a_large_fleet_names_the_first_hosts(self):
        self.flags(missing_data_policy='reject', group='cryptomine')
        hosts = [self.host(f'h{n}')
                 for n in range(load_filter.REFUSED_NAMED + 2)]
        [line] = self.refused(hosts, self.spec())
        self.assertEqual(load_filter.REFUSED_NAMED, line.count('rejected'))
        self.assertIn(f'h{load_filter.REFUSED_NAMED - 1} has no', line)
        self.assertNotIn(f'h{load_filter.REFUSED_NAMED} has', line)
        self.assertTrue(line.endswith(
            '; and 2 more, each named in the debug log'), line)

    def test_silent_while_a_host_passes(self):
        log = self.log()
        self.controller.report('fine')
        hosts = [self.host('fine'), self.host('new')]
        self.flags(missing_data_policy='reject', group='cryptomine')
        self.assertEqual(['fine'], [h.host for h in self.filter.filter_all(
            hosts, self.spec())])
        self.assertNotIn('Refused all', log.output)


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
        scores = self.weigh([self.host('hot'), self.host('cool')],
                            self.spec({plugin.ACCELERATOR_SPEC: 'gpu'}))
        self.assertGreater(scores['cool'], scores['hot'])

    def test_host_without_data_gets_the_median(self):
        for name, cpu in (('a', 10.0), ('b', 50.0), ('c', 90.0)):
            self.controller.report(name, cpu=cpu)
        scores = self.weigh([self.host(n) for n in 'abcx'])
        self.assertEqual(scores['b'], scores['x'])

    def test_multiplier_from_config_and_aggregate(self):
        self.flags(weight_multiplier=2.5, group='cryptomine')
        self.weigh([self.host('h')])  # nova weighs before it multiplies
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
        spec = self.spec({plugin.EXPECTED_LOAD_SPEC: '0'})
        self.weigher.weigh_objects([nova_weighed(host)], spec)
        estimate = adapters.host_load(
            adapters.begin_request(self.plugin, spec), host).estimate
        # 10 % measured + 4 busy vCPUs of 16 placed before, and nothing of
        # the guest of this request (0 % expected).
        self.assertAlmostEqual(35.0, estimate.cpu_percent)


    def test_learned_load_before_the_extra_spec(self):
        self.controller.tracker = snapshot.LoadTracker(
            600, 60, placements=placements.Placements(warmup=120,
                                                      max_age=900))
        learned = self.controller.tracker.flavor_loads
        for percent in (40.0, 50.0, 60.0):
            learned.observe('miner.8', uuids.image, percent)
        learned.observe('miner.8', uuids.other, 100.0)  # one guest: unused
        self.controller.report('h1', cpu=10.0)
        host = self.host('h1', vcpus=16)

        def predicted_cpu(flavorid, image=None):
            spec = self.spec({plugin.EXPECTED_LOAD_SPEC: '100'}, vcpus=8)
            spec.flavor.flavorid = flavorid
            if image is not None:
                spec.image = objects.ImageMeta(id=image)
            return adapters.host_load(adapters.begin_request(
                self.plugin, spec), host).estimate.cpu_percent

        # 10 % measured + 8 vCPUs of 16: at the mean of the flavor's and
        # image's guests (50 %), of the flavor's (62.5 % with the other
        # image's guest), else at the extra spec's 100 %.
        self.assertAlmostEqual(35.0, predicted_cpu('miner.8', uuids.image))
        self.assertAlmostEqual(41.25, predicted_cpu('miner.8', uuids.other))
        self.assertAlmostEqual(41.25, predicted_cpu('miner.8'))
        self.assertAlmostEqual(60.0, predicted_cpu('never-seen'))


class TestOverloadPolicy(PluginTestCase):
    """CPU and memory thresholds: weighed down (soft) or filtered (hard)."""

    def build(self):
        super().build()
        for name, cpu in (('idle', 20.0), ('busy', 60.0), ('over', 80.0),
                          ('far-over', 95.0)):
            self.controller.report(name, cpu=cpu)

    def schedule(self, names, spec=None, aggregates=()):
        """The hosts that pass and their order after weighing."""
        spec = spec or self.spec()
        hosts = [self.host(n, aggregates) for n in names]
        passed = filters.HostFilterHandler().get_filtered_objects(
            [self.filter], hosts, spec)
        weighed = weights.HostWeightHandler().get_weighed_objects(
            [self.weigher], passed, spec)
        return [w.obj.host for w in weighed]

    def test_soft_passes_overloaded_hosts_ranked_last(self):
        # With the guest (+25 %): 45, 85, 105 and 120 % of a 90 % limit.
        self.assertEqual(['idle', 'busy', 'over', 'far-over'],
                         self.schedule(['far-over', 'over', 'busy', 'idle']))

    def test_soft_all_overloaded_least_bad_wins(self):
        self.assertEqual(['over', 'far-over'],
                         self.schedule(['far-over', 'over']))

    def test_hard_filters_overloaded_hosts(self):
        self.flags(overload_policy='hard', group='cryptomine')
        self.assertEqual(['idle', 'busy'],
                         self.schedule(['far-over', 'over', 'busy', 'idle']))
        self.assertEqual([], self.schedule(['far-over', 'over']))

    def test_aggregate_overrides_policy(self):
        hard = {'cryptomine_overload_policy': 'hard'}
        soft = {'cryptomine_overload_policy': 'soft'}
        cases = [
            # (option, aggregates, 'over' passes)
            ('soft', (), True),
            ('hard', (), False),
            ('soft', [hard], False),
            ('hard', [soft], True),
            ('soft', [soft, hard], False),  # the strictest wins
            ('soft', [{'cryptomine_overload_policy': 'bogus'}], True),
        ]
        for option, aggregates, expected in cases:
            with self.subTest(option=option, aggregates=aggregates):
                self.flags(overload_policy=option, group='cryptomine')
                self.assertEqual(expected, self.passes(
                    self.host('over', aggregates)))
                self.assertTrue(self.passes(self.host('idle', aggregates)))

    def test_hardware_safety_stays_hard(self):
        self.controller.report('hot', gpus=[samples.gpu(0, temp=84.1)])
        for i in range(5):  # 36 errors per minute
            self.controller.report('sick', at=NOW - 40 + 10 * i, count=1,
                                   asics=[samples.asic(1,
                                                       errors=1000 + 6 * i)])
        self.assertFalse(self.passes(self.host('hot')))
        self.assertFalse(self.passes(self.host('sick')))
        self.assertFalse(self.passes(self.host('idle'), self.spec(
            {plugin.ACCELERATOR_SPEC: 'gpu'})))


class TestGuestOwnLoad(PluginTestCase):
    """A host is judged with the guest being placed on it."""

    CASES = [
        # (host vCPUs, measured cpu, guest vCPUs, expected %, max_cpu,
        #  passes)
        (2, 89.0, 1, '100', 95.0, False),  # 89 + 50 = 139
        (2, 45.0, 1, '100', 95.0, True),  # 45 + 50 = 95: at the limit
        (2, 45.01, 1, '100', 95.0, False),
        (2, 89.0, 1, '10', 95.0, True),  # 89 + 5 = 94
        (64, 89.0, 1, '100', 91.0, True),  # 89 + 1.5625
        (64, 89.0, 2, '100', 91.0, False),  # 89 + 3.125
    ]

    def test_table(self):
        self.flags(overload_policy='hard', group='cryptomine')
        for vcpus, cpu, guest, percent, limit, expected in self.CASES:
            with self.subTest(vcpus=vcpus, cpu=cpu, guest=guest,
                              percent=percent):
                self.build()
                self.flags(max_cpu_percent=limit, group='cryptomine')
                self.controller.report('h', cpu=cpu, mem=10.0)
                spec = self.spec({plugin.EXPECTED_LOAD_SPEC: percent},
                                 vcpus=guest, memory_mb=512)
                self.assertEqual(expected, self.passes(
                    self.host('h', vcpus=vcpus), spec))

    def test_memory_of_the_guest_counts(self):
        self.flags(overload_policy='hard', group='cryptomine')
        self.controller.report('h', mem=80.0)
        host = self.host('h', ram_mb=16384)
        # 80 % + 1 GiB of 16 = 86.25 %; + 2 GiB = 92.5 % > 90.
        self.assertTrue(self.passes(host, self.spec(memory_mb=1024)))
        self.assertFalse(self.passes(host, self.spec(memory_mb=2048)))


class TestLikeWithLike(PluginTestCase):
    """A host is weighed on the resources the guest will use."""

    def order(self, hosts, spec=None):
        spec = spec or self.spec()
        weighed = weights.HostWeightHandler().get_weighed_objects(
            [self.weigher], hosts, spec)
        return [w.obj.host for w in weighed]

    def test_busier_gpu_host_ranks_below_for_a_cpu_guest(self):
        # With the 4-vCPU guest: 100 + 50 = 150 % on the 8-vCPU GPU host,
        # 70 + 25 = 95 % on the 16-vCPU CPU host.  The GPU host's idle
        # GPU must not make up for it.
        self.controller.report('gpu-host', cpu=100.0, mem=20.0, gpus=[
            samples.gpu(0, temp=40.0, power=50.0)])
        self.controller.report('cpu-host', cpu=70.0, mem=20.0)
        self.assertEqual(['cpu-host', 'gpu-host'], self.order(
            [self.host('gpu-host', vcpus=8), self.host('cpu-host')]))

    def test_cpu_guest_prefers_host_without_accelerator(self):
        self.controller.report('gpu-host', cpu=40.0, gpus=[samples.gpu(0)])
        self.controller.report('asic-host', cpu=40.0,
                               asics=[samples.asic(1)])
        self.controller.report('cpu-host', cpu=40.0)
        self.controller.report('cpu-host-at', cpu=59.9)
        self.controller.report('cpu-host-over', cpu=60.1)
        hosts = [self.host(n) for n in ('gpu-host', 'asic-host',
                                        'cpu-host')]
        self.assertEqual('cpu-host', self.order(hosts)[0])
        # ... unless that is more loaded by more than the penalty (0.1 of
        # the mean of CPU and memory pressure: 20 points of CPU).
        self.assertEqual(['cpu-host-at', 'gpu-host'], self.order(
            [self.host('gpu-host'), self.host('cpu-host-at')]))
        self.assertEqual(['gpu-host', 'cpu-host-over'], self.order(
            [self.host('cpu-host-over'), self.host('gpu-host')]))

    def test_no_penalty_when_configured_off(self):
        self.flags(accelerator_penalty=0.0, group='cryptomine')
        self.controller.report('gpu-host', cpu=40.0, gpus=[samples.gpu(0)])
        self.controller.report('cpu-host', cpu=40.0)
        scores = TestWeigher.weigh(self, [self.host('gpu-host'),
                                          self.host('cpu-host')])
        self.assertEqual(scores['gpu-host'], scores['cpu-host'])

    def test_gpu_guest_weighs_gpu_headroom(self):
        self.controller.report('hot', cpu=20.0, gpus=[
            samples.gpu(0, temp=80.0)])
        self.controller.report('cool', cpu=30.0, gpus=[
            samples.gpu(0, temp=50.0)])
        gpu_spec = self.spec({plugin.ACCELERATOR_SPEC: 'gpu'})
        hosts = [self.host('hot'), self.host('cool')]
        self.assertEqual(['cool', 'hot'], self.order(hosts, gpu_spec))
        # A CPU guest looks at CPU and memory only.
        self.assertEqual(['hot', 'cool'], self.order(hosts))


def nova_weighed(host_state):
    return weights.WeighedHost(host_state, 0.0)


class TestBurstHosts(PluginTestCase):
    """Rented burst hosts: used last, cheapest first, never at a loss."""

    HOSTS = {  # name: (CPU %, aggregate metadata)
        'home-a': (50.0, {}),
        'home-b': (60.0, {}),
        'home-over': (95.0, {}),
        'burst-cheap': (10.0, {'cryptomine:tier': 'burst',
                               'cryptomine:cost_per_hour': '1.0'}),
        'burst-dear': (5.0, {'cryptomine:tier': 'burst',
                             'cryptomine:cost_per_hour': '5.0'}),
    }

    def schedule(self, names, spec=None):
        hosts = []
        for name in names:
            cpu, metadata = self.HOSTS[name]
            self.controller.report(name, cpu=cpu)
            hosts.append(self.host(name, [metadata] if metadata else ()))
        spec = spec or self.spec()
        passed = filters.HostFilterHandler().get_filtered_objects(
            [self.filter], hosts, spec)
        weighed = weights.HostWeightHandler().get_weighed_objects(
            [self.weigher], passed, spec)
        return [w.obj.host for w in weighed]

    def test_home_first_then_burst_cheapest_first_then_overloaded(self):
        self.assertEqual(
            ['home-a', 'home-b', 'burst-cheap', 'burst-dear', 'home-over'],
            self.schedule(list(self.HOSTS)))

    def test_burst_when_no_home_host_is_within_the_thresholds(self):
        self.assertEqual(['burst-cheap', 'burst-dear', 'home-over'],
                         self.schedule(['home-over', 'burst-dear',
                                        'burst-cheap']))

    def test_a_burst_host_that_would_lose_money_is_refused(self):
        self.flags(burst_min_margin=0.2, group='cryptomine')
        priced = self.spec({plugin.PRICE_SPEC: '2.0'})
        # burst-dear costs 5/h for 2/h earned; burst-cheap leaves 50 %.
        self.assertEqual(['home-a', 'burst-cheap'],
                         self.schedule(['burst-dear', 'burst-cheap',
                                        'home-a'], priced))
        # Without a price, or without a margin set, nothing is refused.
        self.assertEqual(3, len(self.schedule(
            ['burst-dear', 'burst-cheap', 'home-a'])))

    def test_a_one_host_aggregate_overrides_its_pools_cost(self):
        pool = objects.Aggregate(
            id=1, hosts=['burst-p', 'burst-q', 'burst-r'],
            metadata={'cryptomine:tier': 'burst',
                      'cryptomine:cost_per_hour': '5.0'})
        cheap_deal = objects.Aggregate(
            id=2, hosts=['burst-q'],
            metadata={'cryptomine:cost_per_hour': '0.5'})
        hosts = []
        for name, cpu in (('burst-p', 5.0), ('burst-q', 30.0),
                          ('burst-r', 10.0)):
            self.controller.report(name, cpu=cpu)
            hosts.append(self.host(name))
            hosts[-1].aggregates = [pool] + (
                [cheap_deal] if name == 'burst-q' else [])
        weighed = weights.HostWeightHandler().get_weighed_objects(
            [self.weigher], hosts, self.spec())
        # The pool's hosts cost the same and go by load; burst-q, at its
        # own price, goes first although it is the busiest.
        self.assertEqual(['burst-q', 'burst-p', 'burst-r'],
                         [w.obj.host for w in weighed])

    def test_unreadable_price_fails_the_flavor(self):
        spec = self.spec({plugin.PRICE_SPEC: 'cheap'})
        self.assertEqual([], self.schedule(['home-a'], spec))


class TestOnePassAgreesHostByHost(PluginTestCase):
    """The filter and the weigher judge all hosts in one pass of columns;
    host by host, the scalar rules (which give the debug log's reasons)
    reach the same verdicts and scores, for a varied fleet: hosts never
    sampled or stale, CPU, GPU and ASIC hosts, shared and own
    aggregates with overrides (a chassis power budget among them), burst
    hosts, boots not sampled yet (GPU guests among them)."""

    FLEET = 80

    def fleet(self, rng):
        shared = [
            objects.Aggregate(id=1, hosts=[], metadata={
                'cryptomine_max_cpu_percent': '70',
                'cryptomine_overload_policy': 'hard'}),
            objects.Aggregate(id=2, hosts=[], metadata={
                'cryptomine:tier': 'burst',
                'cryptomine:cost_per_hour': '2.5'}),
            objects.Aggregate(id=3, hosts=[], metadata={
                plugin.ACCELERATOR_SPEC: 'gpu',
                'cryptomine_missing_data_policy': 'reject',
                'cryptomine_max_chassis_power_w': '2900'})]
        hosts = []
        for i in range(self.FLEET):
            name = f'host-{i}'
            kind = rng.choice(('cpu', 'gpu', 'asic'))
            data = rng.choice(('fresh', 'fresh', 'fresh', 'stale', 'none'))
            if data != 'none':
                self.controller.report(
                    name, cpu=rng.uniform(0.0, 95.0),
                    mem=rng.uniform(5.0, 95.0),
                    at=NOW - (1000.0 if data == 'stale' else 0.0),
                    gpus=[samples.gpu(g, temp=rng.uniform(60.0, 90.0),
                                      power=rng.uniform(150.0, 349.0))
                          for g in range(2)] if kind == 'gpu' else (),
                    asics=[samples.asic(a + 1, errors=rng.randint(0, 4000),
                                        available=rng.random() > 0.2)
                           for a in range(2)] if kind == 'asic' else (),
                    sensors=sample.HostSensors(
                        chassis_power_w=rng.uniform(2500.0, 3000.0))
                    if kind == 'gpu' else samples.NO_SENSORS)
            host = self.host(name, num_instances=rng.randint(0, 4),
                             vcpus=rng.choice((8, 16, 64)),
                             ram_mb=rng.choice((16384, 65536)))
            host.aggregates = rng.choice((
                [], [], [shared[0]], [shared[1]], [shared[2]],
                [shared[0], shared[1]],
                [objects.Aggregate(id=10 + i, hosts=[name], metadata={
                    'cryptomine_max_mem_percent': '60'})]))
            hosts.append(host)
        return hosts

    def test_verdicts_and_scores(self):
        self.flags(max_chassis_power_w=3000.0, group='cryptomine')
        rng = random.Random(11)
        hosts = self.fleet(rng)
        gpu = {plugin.ACCELERATOR_SPEC: 'gpu'}
        specs = [self.spec(), self.spec(gpu),
                 self.spec({plugin.ACCELERATOR_SPEC: 'asic'}),
                 self.spec({plugin.ACCELERATOR_SPEC: 'cpu',
                            plugin.PRICE_SPEC: '3.0'}, vcpus=8),
                 self.spec(gpu)]
        for number, spec in enumerate(specs):
            if number == 2:  # nova placed the GPU guest on half of them
                for host in hosts[::2]:
                    host.num_instances += 1
            spec.instance_uuid = str(uuid.UUID(int=number + 1))
            passed = self.filter.filter_all(hosts, spec)
            weighed = self.weigher.weigh_objects(
                [nova_weighed(h) for h in hosts], spec)
            state = adapters.begin_request(self.plugin, spec)
            reasons = [load_filter.LoadAwareFilter._why(h, state)
                       for h in hosts]
            expected = [h for h, why in zip(hosts, reasons, strict=True)
                        if not why.startswith('rejected')
                        and not why.endswith('rejected')]
            with self.subTest(spec=spec.flavor.extra_specs):
                self.assertEqual([h.host for h in expected],
                                 [h.host for h in passed])
                self.assertLess(0, len(passed))
                self.assertLess(len(passed), len(hosts))
                loads = [adapters.host_load(state, h) for h in hosts]
                scored = [load.score for load in loads
                          if load.estimate is not None]
                self.assertEqual(scored, [
                    w for w, load in zip(weighed, loads, strict=True)
                    if load.estimate is not None])
            # nova consumes the best host: the next request sees a boot
            # the samples do not show yet.
            by_weight = dict(zip(hosts, weighed, strict=True))
            max(passed, key=by_weight.get).num_instances += 1
