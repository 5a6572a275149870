import dataclasses
import math
import threading
import types

from oslotest import base

from cryptomine_scheduler.history import placements
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.placement import device_inventory
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.scheduler import pending
from cryptomine_scheduler.scheduler import snapshot_client
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting

A = scoring.Accelerator
LIMITS = scoring.Thresholds(max_cpu_percent=80.0, max_mem_percent=90.0,
                            min_gpu_thermal_headroom_c=5.0,
                            min_gpu_power_headroom_percent=2.0,
                            max_asic_errors_per_min=30.0,
                            min_asic_hashrate_ratio=0.5,
                            max_inlet_temperature_c=40.0)
NAN = math.nan


def view(cpus, mems=None, gpus=None, asics=None, host='h', devices=None):
    """The snapshot view of a host that reported these samples 10 s apart.

    ``gpus``/``asics`` give each sample's device list; ``devices`` what
    placement counts on the host.
    """
    tracker = snapshot.LoadTracker(window=600, half_life=60)
    if devices is not None:
        tracker.set_devices({host: devices})
    for i, cpu in enumerate(cpus):
        tracker.add(samples.make(
            host=host, seq=i, timestamp=1000.0 + 10 * i, cpu=cpu,
            mem=(mems or [40.0] * len(cpus))[i],
            gpus=gpus[i] if gpus else (), asics=asics[i] if asics else ()))
    end = 1000.0 + 10 * len(cpus)
    return snapshot.LoadSnapshot.from_wire(tracker.snapshot(end)).hosts[host]


def est(cpu=50.0, mem=50.0, thermal=NAN, power=NAN, errors=NAN,
        kinds=(A.CPU,)):
    return scoring.Estimate(cpu, mem, thermal, power, errors,
                            frozenset(kinds))


class TestEstimate(base.BaseTestCase):

    def test_risk_aware_cpu(self):
        steady = view([50.0] * 20)
        spiky = view([20.0, 80.0] * 10)
        self.assertAlmostEqual(50.0, scoring.estimate(steady, 1.0)
                               .cpu_percent)
        # Same mean, but one standard deviation (30) of risk on top.
        self.assertGreaterEqual(scoring.estimate(spiky, 1.0).cpu_percent,
                                80.0)
        self.assertAlmostEqual(scoring.estimate(spiky, 0.0).cpu_percent
                               + 30.0,
                               scoring.estimate(spiky, 1.0).cpu_percent)

    def test_rising_load_seen_through_ewma(self):
        rising = view([10.0] * 10 + [90.0] * 10)
        self.assertGreater(scoring.estimate(rising, 0.0).cpu_percent, 50.0)

    def test_credit_adds_to_prediction(self):
        result = scoring.estimate(view([50.0] * 5), 0.0,
                                  scoring.Credit(10.0, 5.0))
        self.assertAlmostEqual(60.0, result.cpu_percent)
        self.assertAlmostEqual(45.0, result.mem_percent)

    def test_accelerators(self):
        cases = [
            (view([1.0]), {A.CPU}),
            (view([1.0], gpus=[[samples.gpu(0)]]), {A.GPU}),
            (view([1.0], asics=[[samples.asic(1)]]), {A.ASIC}),
            (view([1.0], gpus=[[samples.gpu(0)]],
                  asics=[[samples.asic(1)]]), {A.GPU, A.ASIC}),
        ]
        for host, expected in cases:
            self.assertEqual(expected, scoring.accelerators(host))

    def test_gpu_headroom_lower_bound(self):
        host = view([50.0] * 3, gpus=[[samples.gpu(0, temp=t)]
                                      for t in (70.0, 80.0, 75.0)])
        result = scoring.estimate(host, 1.0)
        # Headrooms 19, 9, 14: min(ewma, mean) - std.
        self.assertLess(result.gpu_thermal_headroom_c, 14.0 - 4.0)
        self.assertTrue(math.isnan(result.asic_errors_per_min))


class TestViolations(base.BaseTestCase):

    CASES = [
        ('all fine', est(), []),
        ('cpu at limit passes', est(cpu=80.0), []),
        ('cpu just over', est(cpu=80.001), ['cpu 80.0 > 80']),
        ('memory just over', est(mem=90.01), ['memory 90.0 > 90']),
        ('thermal at limit passes', est(thermal=5.0), []),
        ('thermal just under', est(thermal=4.99),
         ['GPU thermal headroom 5.0 < 5']),
        ('power just under', est(power=1.9),
         ['GPU power headroom 1.9 < 2']),
        ('asic errors over', est(errors=30.5),
         ['ASIC hardware errors/min 30.5 > 30']),
        ('absent readings never fail', est(thermal=NAN, power=NAN), []),
        ('several', est(cpu=99.0, thermal=1.0),
         ['cpu 99.0 > 80', 'GPU thermal headroom 1.0 < 5']),
    ]

    def test_table(self):
        for name, estimate, expected in self.CASES:
            with self.subTest(name):
                self.assertEqual(expected,
                                 scoring.violations(estimate, LIMITS))


class TestCapacityAndSafety(base.BaseTestCase):

    CASES = [
        # (name, estimate, capacity violations, safety violations, over)
        ('within', est(cpu=80.0, mem=90.0), [], [], 0.0),
        ('cpu just over', est(cpu=80.5), ['cpu 80.5 > 80'], [], 0.005),
        ('memory just over', est(mem=90.5), ['memory 90.5 > 90'], [],
         0.005),
        ('the worse of the two counts', est(cpu=100.0, mem=95.0),
         ['cpu 100.0 > 80', 'memory 95.0 > 90'], [], 0.2),
        ('safety apart', est(thermal=4.0, errors=31.0), [],
         ['GPU thermal headroom 4.0 < 5',
          'ASIC hardware errors/min 31.0 > 30'], 0.0),
    ]

    def test_table(self):
        for name, estimate, capacity, safety, over in self.CASES:
            with self.subTest(name):
                self.assertEqual(capacity, scoring.capacity_violations(
                    estimate, LIMITS))
                self.assertEqual(safety, scoring.safety_violations(
                    estimate, LIMITS))
                self.assertEqual(capacity + safety,
                                 scoring.violations(estimate, LIMITS))
                self.assertAlmostEqual(over,
                                       scoring.overage(estimate, LIMITS))


class TestRefusal(base.BaseTestCase):

    GPU = scoring.Demand(A.GPU)

    CASES = [
        # (name, estimate, demand, hard_overload, refusal or None)
        ('a plain guest anywhere', est(kinds=(A.GPU,)), scoring.CPU_GUEST,
         True, None),
        ('no GPU for a GPU guest', est(), GPU, False,
         'offers cpu, the flavor asks for gpu'),
        ('hot GPUs, whatever the policy', est(thermal=4.0, kinds=(A.GPU,)),
         GPU, False, 'hardware-safety limit: GPU thermal headroom 4.0 < 5'),
        ('overloaded, soft', est(cpu=95.0), scoring.CPU_GUEST, False, None),
        ('overloaded, hard', est(cpu=95.0), scoring.CPU_GUEST, True,
         'predicted load with the guest: cpu 95.0 > 80'),
    ]

    def test_table(self):
        for name, estimate, demand, hard, expected in self.CASES:
            with self.subTest(name):
                self.assertEqual(expected, scoring.refusal(
                    estimate, LIMITS, demand, hard_overload=hard))


class TestScore(base.BaseTestCase):

    WEIGHTS = scoring.Weights(cpu=1.0, memory=1.0, gpu_thermal=1.0,
                              gpu_power=0.0, gpu_utilization=0.0,
                              free_devices=0.0, asic_hashrate=0.0,
                              asic_efficiency=0.0)
    CPU = scoring.Demand(accelerator_penalty=0.1)
    GPU = scoring.Demand(A.GPU, accelerator_penalty=0.1)
    CPU_KIND = scoring.Demand(A.CPU, accelerator_penalty=0.1)

    def score(self, estimate, demand=None, over=0.0):
        return scoring.score(estimate, self.WEIGHTS, demand or self.CPU,
                             over)

    CASES = [
        # (name, estimate, demand, expected score)
        ('a CPU guest is judged on CPU and memory only',
         est(cpu=50.0, mem=30.0, thermal=15.0, kinds=(A.GPU,)), 'CPU',
         -(0.5 + 0.3) / 2 - 0.1),
        ('a GPU guest also on the GPUs',
         est(cpu=50.0, mem=30.0, thermal=15.0, kinds=(A.GPU,)), 'GPU',
         -(0.5 + 0.3 + (30 - 15) / 70) / 3),
        ('a reading the host lacks is not weighed',
         est(cpu=40.0, mem=40.0, thermal=NAN, kinds=(A.GPU,)), 'GPU',
         -0.4),
        ('no penalty on a host without accelerator', est(cpu=40.0), 'CPU',
         -0.45),
        ('penalty for a guest asking cpu on an ASIC host',
         est(cpu=40.0, kinds=(A.ASIC,)), 'CPU_KIND', -0.45 - 0.1),
    ]

    def test_table(self):
        for name, estimate, demand, expected in self.CASES:
            with self.subTest(name):
                self.assertAlmostEqual(expected, self.score(
                    estimate, getattr(self, demand)))

    def test_less_loaded_scores_higher(self):
        self.assertGreater(self.score(est(cpu=20.0)),
                           self.score(est(cpu=60.0)))

    def test_hotter_gpu_host_scores_lower_for_a_gpu_guest(self):
        hot, cool = (est(thermal=t, kinds=(A.GPU,)) for t in (6.0, 25.0))
        self.assertGreater(self.score(cool, self.GPU),
                           self.score(hot, self.GPU))
        self.assertEqual(self.score(cool), self.score(hot))

    def test_reporting_more_resources_does_not_help(self):
        # An idle GPU does not dilute the CPU pressure of its host.
        gpu_host = est(cpu=150.0, mem=40.0, thermal=29.0, power=95.0,
                       kinds=(A.GPU,))
        cpu_host = est(cpu=95.0, mem=40.0)
        self.assertLess(self.score(gpu_host), self.score(cpu_host))

    def test_cpu_guest_prefers_host_without_accelerator(self):
        for kind in (A.GPU, A.ASIC):
            with self.subTest(kind.value):
                self.assertGreater(self.score(est()),
                                   self.score(est(kinds=(kind,))))
                # ... unless the other host is more loaded by more than
                # the penalty.
                self.assertLess(self.score(est(cpu=70.1)),
                                self.score(est(cpu=50.0, kinds=(kind,))))
                self.assertGreater(self.score(est(cpu=69.9)),
                                   self.score(est(cpu=50.0, kinds=(kind,))))

    def test_overloaded_below_every_host_within_thresholds(self):
        # The worst host within the thresholds: every pressure at 1 and
        # the accelerator penalty; the least overloaded: just over.
        worst = est(cpu=100.0, mem=100.0, kinds=(A.GPU,))
        just_over = est(cpu=0.0, mem=0.0)
        self.assertLess(self.score(just_over, over=1e-9),
                        self.score(worst))
        self.assertAlmostEqual(self.score(just_over),
                               self.score(just_over, over=0.0))

    def test_overloaded_rank_by_how_far_over(self):
        limits = dataclasses.replace(LIMITS, max_cpu_percent=90.0)
        hosts = {cpu: est(cpu=cpu, mem=40.0) for cpu in (95.0, 120.0, 150.0)}
        scores = {cpu: self.score(e, over=scoring.overage(e, limits))
                  for cpu, e in hosts.items()}
        self.assertGreater(scores[95.0], scores[120.0])
        self.assertGreater(scores[120.0], scores[150.0])


class TestPendingBoots(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.now = [0.0]
        self.boots = pending.PendingBoots(timeout=300,
                                          clock=lambda: self.now[0])

    def request(self, uuid, vcpus=2.0, memory=1024.0, gpus=0):
        self.boots.start_request(pending.Request(uuid, vcpus, memory, gpus))

    def test_placement_counted_against_its_host(self):
        self.request('a')
        self.boots.observe('h1', 3)
        self.boots.observe('h2', 3)
        self.request('b')  # nova placed 'a' on h1 meanwhile
        self.boots.observe('h1', 4)
        self.boots.observe('h2', 3)
        credit = self.boots.credit('h1', None, vcpus=8, memory_mb=8192)
        self.assertEqual(scoring.Credit(25.0, 12.5), credit)
        self.assertEqual(scoring.Credit(),
                         self.boots.credit('h2', None, 8, 8192))

    def test_gpus_counted_for_the_chassis_power(self):
        # This worker placed a 4-GPU rig, a 1-GPU guest and two plain
        # ones on h1; the controller knows of three 2-GPU guests warming
        # up there: the larger count of GPUs holds.  Each GPU adds what a
        # free GPU adds at its limit.
        self.request('a', gpus=4)
        self.boots.observe('h1', 0)
        for n, (uuid, gpus) in enumerate((('b', 1), ('c', 0), ('d', 0)),
                                         start=1):
            self.request(uuid, gpus=gpus)
            self.boots.observe('h1', n)
        self.assertEqual(5, self.boots.credit('h1', None, 8, 8192).gpus)
        book = placements.Placements(warmup=60, max_age=900,
                                     clock=lambda: 1000.0)
        for uuid in 'xyz':
            book.placed(uuid, 'h1', vcpus=1, memory_mb=512,
                        expected_load_percent=None, gpus=2)
        tracker = snapshot.LoadTracker(600, 60, placements=book)
        snap = self._snapshot(tracker)
        self.assertEqual(6, self.boots.credit('h1', snap, 8, 8192).gpus)
        # Served under the key where an older controller sent true or
        # false; its true reads as one GPU.
        wire = tracker.snapshot(1000.0)
        self.assertEqual(2, wire['pending']['x']['gpu'])
        for entry in wire['pending'].values():
            entry['gpu'] = True
        older = snapshot.LoadSnapshot.from_wire(wire)
        self.assertEqual([1, 1, 1], [g.gpus for g in older.pending['h1']])
        est = scoring.Estimate(
            10.0, 10.0, 20.0, 30.0, NAN, frozenset({A.GPU}),
            scoring.Devices(gpu_free_power_rise_w=250.0),
            chassis_power_w=2000.0)
        self.assertEqual(2750.0, scoring.with_credit(
            est, scoring.Credit(gpus=3)).chassis_power_w)
        # Unknown what a free GPU adds: the draw as sampled.
        unknown = dataclasses.replace(est, devices=scoring.Devices())
        self.assertEqual(2000.0, scoring.with_credit(
            unknown, scoring.Credit(gpus=3)).chassis_power_w)

    def test_burst_accumulates(self):
        self.request('a')
        self.boots.observe('h1', 0)
        for n, uuid in enumerate('bcd', start=1):
            self.request(uuid)
            self.boots.observe('h1', n)
        self.assertEqual(75.0, self.boots.credit('h1', None, 8, 8192)
                         .cpu_percent)

    def test_expires_after_timeout(self):
        self.request('a')
        self.boots.observe('h1', 0)
        self.request('b')
        self.boots.observe('h1', 1)
        self.now[0] = 299.0
        self.assertEqual(25.0, self.boots.credit('h1', None, 8, 8192)
                         .cpu_percent)
        self.now[0] = 300.0
        self.assertEqual(0.0, self.boots.credit('h1', None, 8, 8192)
                         .cpu_percent)

    def test_ends_when_snapshot_shows_the_guest_anywhere(self):
        guest = samples.instance(1).uuid
        self.request(guest)
        self.boots.observe('h1', 0)
        self.request('next')
        self.boots.observe('h1', 1)
        tracker = snapshot.LoadTracker(600, 60)
        tracker.add(samples.make(host='h3'))
        nothing = snapshot.LoadSnapshot.from_wire(tracker.snapshot(1000))
        self.assertEqual(25.0, self.boots.credit('h1', nothing, 8, 8192)
                         .cpu_percent)
        # Seen on h2: the rise of h1 was another worker's placement.
        tracker.add(samples.make(host='h2', instances=[samples.instance(1)]))
        elsewhere = snapshot.LoadSnapshot.from_wire(tracker.snapshot(1000))
        self.assertEqual(0.0, self.boots.credit('h1', elsewhere, 8, 8192)
                         .cpu_percent)

    def test_boot_of_an_unknown_guest_counts_with_a_snapshot(self):
        # A request without an instance UUID: no snapshot can show it,
        # so it counts until its timeout.
        self.request(None)
        self.boots.observe('h1', 0)
        self.request('next')
        self.boots.observe('h1', 1)
        tracker = snapshot.LoadTracker(600, 60)
        tracker.add(samples.make(host='h1', instances=[samples.instance(1)]))
        snap = snapshot.LoadSnapshot.from_wire(tracker.snapshot(1000))
        self.assertEqual(25.0, self.boots.credit('h1', snap, 8, 8192)
                         .cpu_percent)

    @staticmethod
    def _snapshot(tracker, now=1000.0, guests=()):
        tracker.add(samples.make(host='h1', seq=int(now), timestamp=now,
                                 instances=guests))
        return snapshot.LoadSnapshot.from_wire(tracker.snapshot(now))

    def test_controller_placements_count_until_warmed_up(self):
        clock = [1000.0]
        book = placements.Placements(warmup=60, max_age=900,
                                     clock=lambda: clock[0])
        tracker = snapshot.LoadTracker(600, 60, placements=book)
        guest = samples.instance(1, cpu=5.0, rss=512.0)
        book.placed(guest.uuid, 'h1', vcpus=2, memory_mb=1024,
                    expected_load_percent=None)
        book.placed('other', 'h2', vcpus=4, memory_mb=1024,
                    expected_load_percent=50.0)
        self.boots.default_percent = 100.0
        # Not sampled yet: 2 of 8 vCPUs busy, 1 GiB of 8.
        snap = self._snapshot(tracker)
        self.assertEqual(scoring.Credit(25.0, 12.5),
                         self.boots.credit('h1', snap, 8, 8192))
        self.assertEqual(scoring.Credit(25.0, 12.5),
                         self.boots.credit('h2', snap, 8, 8192))
        # Sampled: what it does not use yet still counts.
        snap = self._snapshot(tracker, guests=[guest])
        self.assertEqual(scoring.Credit(20.0, 6.25),
                         self.boots.credit('h1', snap, 8, 8192))
        # Sampled for the warm-up window: its samples tell it all.
        clock[0] = 1060.0
        snap = self._snapshot(tracker, now=1060.0, guests=[guest])
        self.assertEqual(scoring.Credit(),
                         self.boots.credit('h1', snap, 8, 8192))
        self.assertEqual(['other'], list(book.warming(tracker.instances
                                                      .first_time)))

    def test_own_boot_known_to_the_controller_counts_once(self):
        book = placements.Placements(warmup=60, max_age=900,
                                     clock=lambda: 1000.0)
        self.request('a')
        self.boots.observe('h1', 0)
        self.request('b')
        self.boots.observe('h1', 1)  # 'a', 2 vCPUs, on h1
        book.placed('a', 'h1', vcpus=2, memory_mb=1024,
                    expected_load_percent=None)
        snap = self._snapshot(snapshot.LoadTracker(600, 60, placements=book))
        self.assertEqual(scoring.Credit(25.0, 12.5),
                         self.boots.credit('h1', snap, 8, 8192))

    def test_first_sight_and_decrease_are_not_placements(self):
        self.request('a')
        self.boots.observe('h1', 5)
        self.request('b')
        self.boots.observe('h1', 4)  # a guest was deleted
        self.assertEqual(scoring.Credit(),
                         self.boots.credit('h1', None, 8, 8192))


class TestSnapshotCache(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.now = [0.0]
        self.calls = 0
        self.down = False
        self.gate = threading.Event()
        self.gate.set()

    def fetch(self):
        self.gate.wait(10)
        self.calls += 1
        if self.down:
            raise OSError('controller down')
        tracker = snapshot.LoadTracker(600, 60)
        tracker.add(samples.make(seq=self.calls))
        return snapshot.LoadSnapshot.from_wire(tracker.snapshot(1000.0))

    def cache(self):
        cache = snapshot_client.SnapshotCache(self.fetch, ttl=5, max_age=60,
                                              clock=lambda: self.now[0])
        self.addCleanup(self.gate.set)
        return cache

    def test_first_call_waits_then_cached(self):
        cache = self.cache()
        self.assertIsNotNone(cache.get(first_wait=5))
        self.assertEqual(1, self.calls)
        self.now[0] = 4.9
        cache.get()
        self.assertEqual(1, self.calls)

    def test_old_snapshot_served_while_a_refresh_runs(self):
        cache = self.cache()
        first = cache.get(first_wait=5)
        self.gate.clear()  # the controller is slow to answer
        self.now[0] = 5.0
        self.assertIs(first, cache.get())
        self.gate.set()
        waiting.wait_for(lambda: cache.get() is not first, waiting.PATIENCE)
        self.assertEqual(2, self.calls)

    def test_controller_down_until_max_age(self):
        cache = self.cache()
        good = cache.get(first_wait=5)
        self.down = True
        self.now[0] = 59.0
        cache.refresh()
        self.assertIs(good, cache.get())
        self.now[0] = 60.0
        self.assertIsNone(cache.get())
        self.down = False
        cache.refresh()
        self.assertIsNotNone(cache.get())

    def test_no_controller_at_all(self):
        self.down = True
        self.assertIsNone(self.cache().get(first_wait=5))


def dev(**fields) -> scoring.Devices:
    return scoring.Devices(**fields)


class TestDevices(base.BaseTestCase):
    """What a new guest would get of a host's GPUs and miners."""

    GPU = scoring.Demand(A.GPU)
    ASIC = scoring.Demand(A.ASIC)
    WEIGHTS = scoring.Weights(cpu=1.0, memory=1.0, gpu_thermal=1.0,
                              gpu_power=0.5, gpu_utilization=0.5,
                              free_devices=1.0, asic_hashrate=1.0,
                              asic_efficiency=0.5)

    def test_free_devices_from_the_samples(self):
        busy = samples.instance(1).uuid
        gpus = [samples.gpu(0, temp=80.0, instances=[busy]),
                samples.gpu(1, temp=60.0), samples.gpu(2, temp=65.0)]
        asics = [samples.asic(1, instance_uuid=busy), samples.asic(2),
                 samples.asic(3, available=False)]
        result = scoring.estimate(view([50.0] * 3, gpus=[gpus] * 3,
                                       asics=[asics] * 3), 0.0).devices
        self.assertEqual((3.0, 2.0, 3.0, 1.0), (
            result.gpu_count, result.gpu_free, result.asic_count,
            result.asic_free))
        # The busy GPU is the hottest (9 degC to slowdown); the free
        # ones have 24 at least, what a new guest would get.
        self.assertAlmostEqual(24.0, result.gpu_free_thermal_headroom_c)
        self.assertAlmostEqual(98.0, result.gpu_utilization_percent)

    def test_placement_counts_the_devices_samples_show_the_health(self):
        busy = samples.instance(1).uuid
        # The collector sees 3 GPUs (one busy); placement counts 8, of
        # which nova allocated 6: five are passed through, unseen.
        gpus = [samples.gpu(0, temp=80.0, instances=[busy]),
                samples.gpu(1, temp=60.0), samples.gpu(2, temp=65.0)]
        counted = device_inventory.HostDevices(
            gpu=device_inventory.DeviceCount(8, 6))
        result = scoring.estimate(view([50.0] * 3, gpus=[gpus] * 3,
                                       devices=counted), 0.0).devices
        self.assertEqual((8, 2, frozenset({A.GPU})), (
            result.gpu_count, result.gpu_free, result.counted))
        self.assertAlmostEqual(24.0, result.gpu_free_thermal_headroom_c)
        # Miners placement does not count stay the samples' word.
        self.assertTrue(math.isnan(result.asic_count))

    def test_passed_through_gpus_make_a_gpu_host(self):
        count = device_inventory.DeviceCount
        cases = [
            # (placement's count, aggregates' word, offered, refusal)
            (count(4, 1), None, {A.GPU}, None),
            (count(4, 4), None, {A.GPU}, 'no free GPU: all 4 in use'),
            (count(4, 1), frozenset({A.CPU}), {A.CPU, A.GPU}, None),
            (count(), None, {A.CPU},
             'offers cpu, the flavor asks for gpu'),
            (count(), frozenset({A.GPU}), {A.GPU}, None),
        ]
        for gpus, declared, offered, refused in cases:
            with self.subTest(gpus=gpus, declared=declared):
                # No GPU telemetry at all: every GPU is passed through.
                estimate = scoring.estimate(view(
                    [20.0] * 3, devices=device_inventory.HostDevices(
                        gpu=gpus)), 0.0)
                kinds = scoring.offered(declared, estimate)
                self.assertEqual(offered, set(kinds))
                self.assertEqual(refused, scoring.refusal(
                    dataclasses.replace(estimate, accelerators=kinds),
                    LIMITS, self.GPU, hard_overload=True))

    def test_refusal_table(self):
        cases = [
            # (demand, devices, refused because ...)
            (self.GPU, dev(gpu_count=8.0, gpu_free=0.0), 'no free GPU'),
            (self.GPU, dev(gpu_count=8.0, gpu_free=1.0), None),
            (self.GPU, dev(), None),  # samples cannot tell
            (self.ASIC, dev(asic_count=20.0, asic_free=0.0),
             'no free miner'),
            (self.ASIC, dev(asic_count=20.0, asic_free=4.0,
                            asic_hashrate_ratio=0.3), 'baseline hashrate'),
            (self.ASIC, dev(asic_count=20.0, asic_free=4.0,
                            asic_hashrate_ratio=0.5), None),  # at the limit
            (self.ASIC, dev(asic_count=20.0, asic_free=4.0,
                            asic_hashrate_ratio=0.49), 'baseline hashrate'),
            (self.ASIC, dev(asic_count=20.0, asic_free=1.0), None),
            # A CPU guest does not care about the devices.
            (scoring.CPU_GUEST, dev(gpu_count=8.0, gpu_free=0.0), None),
        ]
        for demand, devices, reason in cases:
            with self.subTest(demand=demand, devices=devices):
                refusal = scoring.refusal(
                    dataclasses.replace(est(kinds=(A.GPU, A.ASIC)),
                                        devices=devices),
                    LIMITS, demand, hard_overload=False)
                if reason is None:
                    self.assertIsNone(refusal)
                else:
                    self.assertIn(reason, refusal)

    def test_hot_inlet_air_refuses_the_host(self):
        # The chassis' inlet as the BMC reads it, predicted as the CPU
        # load is (max(EWMA, mean) + k * stddev): steady 38 degC passes
        # 40, swinging 36-44 not; a host read without a BMC is not
        # checked.
        def inlet_host(readings):
            tracker = snapshot.LoadTracker(window=600, half_life=60)
            for i, inlet in enumerate(readings):
                tracker.add(samples.make(
                    host='g', seq=i, timestamp=1000.0 + 10 * i,
                    gpus=[samples.gpu(0)], collector=samples.COUNTERS,
                    cpus=64, sensors=sample.HostSensors(
                        inlet_temperature_c=inlet)))
            return snapshot.LoadSnapshot.from_wire(tracker.snapshot(
                1000.0 + 10 * len(readings))).hosts['g']

        for readings, reason in (([38.0] * 6, None),
                                 ([36.0, 44.0] * 3, 'inlet temperature'),
                                 ([None] * 6, None)):
            with self.subTest(readings=readings):
                estimate = scoring.estimate(inlet_host(readings), 1.0)
                refusal = scoring.refusal(estimate, LIMITS, self.GPU,
                                          hard_overload=False)
                if reason is None:
                    self.assertIsNone(refusal)
                else:
                    self.assertIn(f'{reason} ', refusal)
                    self.assertIn('> 40', refusal)

    def test_a_rig_needs_as_many_free_devices_as_it_holds(self):
        # Placement counts 8 GPUs, 5 allocated; 3 miners, one held and
        # one down.
        rig = scoring.estimate(view(
            [20.0] * 3, asics=[[samples.asic(1, instance_uuid='i'),
                                samples.asic(2),
                                samples.asic(3, available=False)]] * 3,
            devices=device_inventory.HostDevices(
                gpu=device_inventory.DeviceCount(8, 5))), 0.0)
        rig = dataclasses.replace(rig, accelerators=frozenset({A.GPU,
                                                               A.ASIC}))
        for demand, refused in (
                (scoring.Demand(A.GPU, devices=3), None),
                (scoring.Demand(A.GPU, devices=4),
                 '3 of 8 GPUs free, the flavor holds 4'),
                (scoring.Demand(A.ASIC, devices=1), None),
                (scoring.Demand(A.ASIC, devices=2),
                 '1 of 3 miners free and up, the flavor holds 2')):
            with self.subTest(demand=demand):
                self.assertEqual(refused, scoring.refusal(
                    rig, LIMITS, demand, hard_overload=True))

    def test_a_rig_counts_the_power_of_every_gpu_it_holds(self):
        # Four free GPUs idle at 60 W of their 350 W limit, the chassis
        # at 2 kW of a 3 kW budget: each GPU a rig works adds 290 W.
        limits = dataclasses.replace(LIMITS, max_chassis_power_w=3000.0)
        tracker = snapshot.LoadTracker(window=600, half_life=60)
        for i in range(6):
            tracker.add(samples.make(
                host='g', seq=i, timestamp=1000.0 + 10 * i,
                gpus=[samples.gpu(n, power=60.0, limit=350.0)
                      for n in range(4)],
                collector=samples.COUNTERS, cpus=64,
                sensors=sample.HostSensors(chassis_power_w=2000.0)))
        estimate = scoring.estimate(snapshot.LoadSnapshot.from_wire(
            tracker.snapshot(1060.0)).hosts['g'], 1.0)
        for gpus, refused in (
                (1, None), (3, None),
                (4, 'chassis power with 4 busy free GPUs 3160 W > '
                    'budget 3000 W')):
            with self.subTest(gpus=gpus):
                self.assertEqual(refused, scoring.refusal(
                    estimate, limits, scoring.Demand(A.GPU, devices=gpus),
                    hard_overload=False))

    def test_chassis_power_budget(self):
        # A 3 kW budget; the chassis draws a steady 2.5 kW with one GPU
        # free, idle at 60 W of its 350 W limit.  A GPU guest working it
        # would make 2.79 kW: it passes, and not at 2.75 kW of draw; a
        # CPU guest passes until the draw itself is over.
        limits = dataclasses.replace(LIMITS, max_chassis_power_w=3000.0)

        def power_host(draw):
            tracker = snapshot.LoadTracker(window=600, half_life=60)
            for i in range(6):
                tracker.add(samples.make(
                    host='g', seq=i, timestamp=1000.0 + 10 * i,
                    gpus=[samples.gpu(0, power=60.0, limit=350.0),
                          samples.gpu(1, instances=['i'])],
                    collector=samples.COUNTERS, cpus=64,
                    sensors=sample.HostSensors(chassis_power_w=draw)))
            return snapshot.LoadSnapshot.from_wire(
                tracker.snapshot(1060.0)).hosts['g']

        for draw, gpu_reason, cpu_reason in (
                (2500.0, None, None),
                (2750.0, 'chassis power with a busy free GPU 3040 W', None),
                (3100.0, 'chassis power with a busy free GPU 3390 W',
                 'chassis power (budget) 3100.0 > 3000'),
                (None, None, None)):
            estimate = scoring.estimate(power_host(draw), 1.0)
            for demand, reason in ((self.GPU, gpu_reason),
                                   (scoring.CPU_GUEST, cpu_reason)):
                with self.subTest(draw=draw, demand=demand):
                    refusal = scoring.refusal(estimate, limits, demand,
                                              hard_overload=False)
                    if reason is None:
                        self.assertIsNone(refusal)
                    else:
                        self.assertIn(reason, refusal)
                    # No budget, no refusal.
                    self.assertIsNone(scoring.refusal(
                        estimate, LIMITS, demand, hard_overload=False))

    def test_bmc_power_cap_is_a_budget_too(self):
        # The chassis draws a steady 2.5 kW with a free GPU idle at 60 W
        # of 350 W (2,790 W once a guest works it).  The BMC's cap holds
        # where no budget is set, and the lower of the two where both are.
        def capped_host(cap, newest_cap=...):
            """Six samples capped at ``cap``, the newest at
            ``newest_cap`` when given."""
            tracker = snapshot.LoadTracker(window=600, half_life=60)
            for i in range(6):
                tracker.add(samples.make(
                    host='g', seq=i, timestamp=1000.0 + 10 * i,
                    gpus=[samples.gpu(0, power=60.0, limit=350.0)],
                    collector=samples.COUNTERS, cpus=64,
                    sensors=sample.HostSensors(
                        chassis_power_w=2500.0,
                        chassis_power_cap_w=(
                            newest_cap if i == 5 and newest_cap is not ...
                            else cap))))
            return snapshot.LoadSnapshot.from_wire(
                tracker.snapshot(1060.0)).hosts['g']

        for cap, budget, effective, refused in (
                (None, 0.0, 0.0, False),
                (2700.0, 0.0, 2700.0, True),    # the cap alone
                (2800.0, 0.0, 2800.0, False),
                (2800.0, 2700.0, 2700.0, True),  # the budget is lower
                (2700.0, 3000.0, 2700.0, True),  # the cap is lower
                (2400.0, 0.0, 2400.0, True)):    # over it already
            estimate = scoring.estimate(capped_host(cap), 1.0)
            limits = dataclasses.replace(LIMITS, max_chassis_power_w=budget)
            with self.subTest(cap=cap, budget=budget):
                self.assertEqual(effective,
                                 scoring.power_budget(estimate, limits))
                refusal = scoring.refusal(estimate, limits, self.GPU,
                                          hard_overload=False)
                self.assertEqual(refused, refusal is not None, refusal)
                if refused:
                    limit = 'budget' if effective == budget else 'BMC cap'
                    self.assertIn(f'{limit} {effective:g} W', refusal)
        # A cap lifted at the BMC ends with the next sample, though the
        # capped ones are still in the summary window.
        lifted = scoring.estimate(capped_host(2600.0, newest_cap=None), 1.0)
        self.assertEqual(0.0, scoring.power_budget(lifted, LIMITS))
        self.assertIsNone(scoring.refusal(lifted, LIMITS, self.GPU,
                                          hard_overload=False))
        self.assertTrue(math.isnan(scoring.cap_or_nan(lifted)))
        # Over the cap, a CPU guest is refused too.
        self.assertIn('chassis power (BMC cap) 2500.0 > 2400', scoring.refusal(
            scoring.estimate(capped_host(2400.0), 1.0), LIMITS,
            scoring.CPU_GUEST, hard_overload=False))

    def _score(self, demand, devices, **load) -> float:
        kinds = (A.GPU,) if demand is self.GPU else (A.ASIC,)
        return scoring.score(dataclasses.replace(
            est(kinds=kinds, **load), devices=devices), self.WEIGHTS, demand)

    def test_gpu_host_with_more_free_gpus_wins(self):
        one_busy = dev(gpu_count=8.0, gpu_free=7.0)
        seven_busy = dev(gpu_count=8.0, gpu_free=1.0)
        self.assertGreater(self._score(self.GPU, one_busy),
                           self._score(self.GPU, seven_busy))

    def test_gpu_host_whose_free_gpus_are_cooler_wins(self):
        # The same hottest GPU (2 degC of headroom, busy) on both hosts;
        # idle, the free GPUs are far from their slowdown temperature on
        # both, the warm host's (a hot row) 6 degC nearer.
        cool = dev(gpu_count=8.0, gpu_free=4.0,
                   gpu_free_thermal_headroom_c=52.0)
        warm = dev(gpu_count=8.0, gpu_free=4.0,
                   gpu_free_thermal_headroom_c=46.0)
        self.assertGreater(self._score(self.GPU, cool, thermal=2.0),
                           self._score(self.GPU, warm, thermal=2.0))

    def test_free_gpus_weigh_by_the_headroom_they_keep_once_busy(self):
        # Once it mines, a free GPU loses 40 degC (GPU_BUSY_RISE_C) of
        # headroom: no pressure with 30 degC left, full pressure at its
        # slowdown even idle, in proportion between.
        weights = dataclasses.replace(
            self.WEIGHTS, cpu=0.0, memory=0.0, gpu_power=0.0,
            gpu_utilization=0.0, free_devices=0.0)
        for idle, pressure in ((90.0, 0.0), (70.0, 0.0), (35.0, 0.5),
                               (0.0, 1.0), (-5.0, 1.0)):
            with self.subTest(idle=idle):
                host = dataclasses.replace(
                    est(kinds=(A.GPU,)), devices=dev(
                        gpu_count=8.0, gpu_free=4.0,
                        gpu_free_thermal_headroom_c=idle))
                self.assertAlmostEqual(
                    -pressure, scoring.score(host, weights, self.GPU))

    def test_gpu_host_with_busier_gpus_loses(self):
        idle = dev(gpu_count=8.0, gpu_free=4.0, gpu_utilization_percent=40.0)
        busy = dev(gpu_count=8.0, gpu_free=4.0, gpu_utilization_percent=99.0)
        self.assertGreater(self._score(self.GPU, idle),
                           self._score(self.GPU, busy))

    def test_asic_terms_table(self):
        usual = dict(asic_count=20.0, asic_free=10.0,
                     asic_hashrate_ratio=1.0, hashrate_per_watt=30.0)
        cases = [  # (the better host differs from the worse by)
            ('more free miners', dict(asic_free=15.0), {}),
            ('hashrate nearer its baseline', {},
             dict(asic_hashrate_ratio=0.8)),
            ('more hashrate per watt', dict(hashrate_per_watt=50.0), {}),
        ]
        for name, better, worse in cases:
            with self.subTest(name):
                self.assertGreater(
                    self._score(self.ASIC, dev(**{**usual, **better})),
                    self._score(self.ASIC, dev(**{**usual, **worse})))

    def test_healthy_asic_host_beats_one_with_miners_down(self):
        # Before: miners down scored best (nothing weighed); now it is
        # refused, and among the healthy the most free and efficient wins.
        hosts = {
            'down': dev(asic_count=20.0, asic_free=0.0),
            'sagging': dev(asic_count=20.0, asic_free=12.0,
                           asic_hashrate_ratio=0.3, hashrate_per_watt=30.0),
            'few-free': dev(asic_count=20.0, asic_free=2.0,
                            asic_hashrate_ratio=1.0, hashrate_per_watt=30.0),
            'best': dev(asic_count=20.0, asic_free=12.0,
                        asic_hashrate_ratio=1.0, hashrate_per_watt=35.0),
        }
        passing = {
            name: self._score(self.ASIC, devices)
            for name, devices in hosts.items()
            if scoring.refusal(dataclasses.replace(
                est(kinds=(A.ASIC,)), devices=devices), LIMITS, self.ASIC,
                hard_overload=False) is None}
        self.assertEqual(['best', 'few-free'],
                         sorted(passing, key=passing.get, reverse=True))

    def test_options_named_after_the_fields(self):
        opts = types.SimpleNamespace(
            **{f'{f.name}_weight': float(n) for n, f in enumerate(
                dataclasses.fields(scoring.Weights))},
            **{f.name: float(n) for n, f in enumerate(
                dataclasses.fields(scoring.Thresholds))})
        self.assertEqual(2.0, scoring.Weights.from_opts(opts).gpu_thermal)
        self.assertEqual(5.0, scoring.Thresholds.from_opts(
            opts).min_asic_hashrate_ratio)
