import dataclasses
import math

from oslotest import base

from cryptomine_scheduler.history import mining
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.history.mining import MiningMetric as M
from cryptomine_scheduler.history.summaries import Stat
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests import samples


def _row(derived) -> dict:
    return dict(zip(mining.METRICS, derived, strict=True))


class TestGpuValues(base.BaseTestCase):

    CASES = [
        # (gpus, expected subset)
        ([samples.gpu(0, temp=70.0, power=300.0, limit=400.0)],
         {M.GPU_COUNT: 1, M.GPU_THERMAL_HEADROOM: 19.0,
          M.GPU_POWER_HEADROOM: 25.0, M.GPU_THROTTLED: 0.0}),
        # The hottest and the most power-starved GPU decide.
        ([samples.gpu(0, temp=60.0, power=100.0, limit=400.0),
          samples.gpu(1, temp=85.0, power=390.0, limit=400.0)],
         {M.GPU_COUNT: 2, M.GPU_THERMAL_HEADROOM: 4.0,
          M.GPU_POWER_HEADROOM: 2.5, M.GPU_UTILIZATION: 98.0}),
        # Power cap (0x4) and thermal (0x20, 0x40) count, idle (0x1) not.
        ([samples.gpu(0, throttle=0x1)], {M.GPU_THROTTLED: 0.0}),
        ([samples.gpu(0, throttle=0x1), samples.gpu(1, throttle=0x4)],
         {M.GPU_THROTTLED: 1.0}),
        ([samples.gpu(0, throttle=0x40)], {M.GPU_THROTTLED: 1.0}),
        # What a new guest may add: the free GPUs' limit less their draw,
        # the largest; one drawing over its limit adds nothing.
        ([samples.gpu(0, power=60.0, limit=350.0),
          samples.gpu(1, power=70.0, limit=450.0),
          samples.gpu(2, power=300.0, limit=600.0, instances=['i'])],
         {M.GPU_FREE_POWER_RISE: 380.0}),
        ([samples.gpu(0, power=360.0, limit=350.0)],
         {M.GPU_FREE_POWER_RISE: 0.0}),
        ([samples.gpu(0, instances=['i'])], {M.GPU_FREE_POWER_RISE: math.nan}),
        # Readings the board lacks are left out, not taken as zero.
        ([sample.GpuLoad(index=0, pci_bus_id='x', name='passive')],
         {M.GPU_COUNT: 1, M.GPU_THERMAL_HEADROOM: math.nan,
          M.GPU_POWER_HEADROOM: math.nan, M.GPU_THROTTLED: math.nan,
          M.GPU_UTILIZATION: math.nan, M.GPU_FREE_POWER_RISE: math.nan}),
    ]

    def test_table(self):
        deriver = mining.MiningDeriver(baseline_half_life=600)
        for gpus, expected in self.CASES:
            row = _row(deriver.derive(samples.make(gpus=gpus)))
            for metric, value in expected.items():
                with self.subTest(gpus=gpus, metric=metric):
                    if math.isnan(value):
                        self.assertTrue(math.isnan(row[metric]))
                    else:
                        self.assertAlmostEqual(value, row[metric])

    def test_passthrough_gpu_read_over_redfish(self):
        # What the BMC gives of a GPU bound to vfio-pci: temperature and
        # its sensor's caution threshold, power and the device's limit.
        passthrough = sample.GpuLoad(
            index=100, pci_bus_id='00000000:17:00.0', name='NVIDIA H200',
            power_w=520.0, power_limit_w=700.0, temperature_c=71.0,
            slowdown_temperature_c=87.0, source='redfish')
        row = _row(mining.MiningDeriver(600).derive(samples.make(
            gpus=[passthrough])))
        self.assertEqual(16.0, row[M.GPU_THERMAL_HEADROOM])
        self.assertAlmostEqual(100 * 180 / 700, row[M.GPU_POWER_HEADROOM])
        self.assertEqual(1.0, row[M.GPU_COUNT])
        # The BMC reports no utilisation nor throttle reasons.
        self.assertTrue(math.isnan(row[M.GPU_UTILIZATION]))
        self.assertTrue(math.isnan(row[M.GPU_THROTTLED]))

    def test_host_without_devices_has_no_row(self):
        deriver = mining.MiningDeriver(600)
        self.assertIsNone(deriver.derive(samples.make()))
        # Not even with its BMC's chassis readings.
        self.assertIsNone(deriver.derive(samples.make(
            sensors=sample.HostSensors(inlet_temperature_c=24.0))))

    def test_chassis_readings_of_the_bmc(self):
        deriver = mining.MiningDeriver(600)
        row = _row(deriver.derive(samples.make(
            gpus=[samples.gpu(0)], sensors=sample.HostSensors(
                inlet_temperature_c=31.5, chassis_power_w=2480.0,
                chassis_power_cap_w=2800.0))))
        self.assertEqual((31.5, 2480.0, 2800.0), (
            row[M.INLET_TEMPERATURE], row[M.CHASSIS_POWER],
            row[M.CHASSIS_POWER_CAP]))
        row = _row(deriver.derive(samples.make(gpus=[samples.gpu(0)])))
        for metric in (M.INLET_TEMPERATURE, M.CHASSIS_POWER,
                       M.CHASSIS_POWER_CAP):
            self.assertTrue(math.isnan(row[metric]), metric)
        # A BMC read that caps nothing: 0, so that a cap lifted ends.
        row = _row(deriver.derive(samples.make(
            gpus=[samples.gpu(0)], sensors=sample.HostSensors(
                chassis_power_w=2480.0))))
        self.assertEqual(0.0, row[M.CHASSIS_POWER_CAP])


class TestAsicValues(base.BaseTestCase):

    def derive(self, deriver, t, asics):
        return _row(deriver.derive(samples.make(timestamp=t, asics=asics)))

    def test_hardware_error_rate_survives_counter_reset(self):
        deriver = mining.MiningDeriver(600)
        first = self.derive(deriver, 0.0, [samples.asic(1, errors=100)])
        self.assertTrue(math.isnan(
            first[M.ASIC_HARDWARE_ERRORS_PER_MIN]))  # no previous sample
        row = self.derive(deriver, 120.0, [samples.asic(1, errors=110)])
        self.assertEqual(5.0, row[M.ASIC_HARDWARE_ERRORS_PER_MIN])
        row = self.derive(deriver, 180.0, [samples.asic(1, errors=2)])
        self.assertEqual(0.0, row[M.ASIC_HARDWARE_ERRORS_PER_MIN])
        row = self.derive(deriver, 240.0, [samples.asic(1, errors=5)])
        self.assertEqual(3.0, row[M.ASIC_HARDWARE_ERRORS_PER_MIN])

    def test_hashrate_drop_against_own_baseline(self):
        deriver = mining.MiningDeriver(baseline_half_life=600)
        for t in range(0, 600, 10):
            row = self.derive(deriver, float(t), [
                samples.asic(1, hashrate=100.0), samples.asic(2, 14000.0)])
        self.assertAlmostEqual(1.0, row[M.ASIC_HASHRATE_RATIO])
        row = self.derive(deriver, 610.0, [samples.asic(1, hashrate=60.0),
                                           samples.asic(2, 14000.0)])
        # The sick miner decides, though the host's total barely moved.
        self.assertAlmostEqual(0.6, row[M.ASIC_HASHRATE_RATIO], places=2)
        self.assertEqual(14060.0, row[M.ASIC_HASHRATE])

    def test_each_guest_s_loss_is_its_own_miner_s(self):
        deriver = mining.MiningDeriver(baseline_half_life=600)
        a, b, c = (f'{k}' * 8 + '-0000-4000-8000-' + f'{k}' * 12
                   for k in 'abc')

        def miners(sick_hashrate, third_up=True):
            return [samples.asic(1, hashrate=100.0, instance_uuid=a),
                    samples.asic(2, hashrate=sick_hashrate,
                                 instance_uuid=b),
                    samples.asic(3, available=third_up, instance_uuid=c),
                    samples.asic(4)]  # free

        self.derive(deriver, 0.0, miners(100.0))
        # No miner has a baseline yet.
        self.assertEqual({}, deriver.guest_losses('compute-1'))
        # The one down loses all.
        self.derive(deriver, 10.0, miners(100.0, third_up=False))
        self.assertEqual({a: 0.0, b: 0.0, c: 1.0},
                         deriver.guest_losses('compute-1'))
        self.derive(deriver, 20.0, miners(40.0))
        losses = deriver.guest_losses('compute-1')
        self.assertEqual(0.0, losses[a])
        self.assertAlmostEqual(0.6, losses[b], places=2)
        # An older sample, replayed, leaves the newest's.
        self.derive(deriver, 15.0, miners(100.0, third_up=False))
        self.assertIs(losses, deriver.guest_losses('compute-1'))
        self.assertEqual({}, deriver.guest_losses('another-host'))

    def test_efficiency_and_unavailable_miners(self):
        deriver = mining.MiningDeriver(600)
        row = self.derive(deriver, 0.0, [
            samples.asic(1, hashrate=13000.0, power=1300.0),
            samples.asic(2, hashrate=1000.0, power=None),
            samples.asic(3, available=False)])
        self.assertEqual(3.0, row[M.ASIC_COUNT])
        self.assertEqual(1.0, row[M.ASIC_UNAVAILABLE])
        self.assertEqual(14000.0, row[M.ASIC_HASHRATE])
        self.assertEqual(10.0, row[M.HASHRATE_PER_WATT])

    def test_baseline_learnt_from_earlier_readings(self):
        deriver = mining.MiningDeriver(600)
        miner = samples.asic(1).miner
        # 100 GH/s for an hour, then 40 for one half-life: the baseline
        # halfway between.  A miner seen already keeps its own.
        deriver.learn_hashrates({
            ('compute-1', miner): [(float(t), 100.0)
                                   for t in range(0, 3600, 300)]
            + [(3900.0, 40.0)],
            ('compute-1', 'gone:4028'): []})
        row = self.derive(deriver, 4000.0, [samples.asic(1, hashrate=40.0)])
        self.assertAlmostEqual(0.4 / 0.7, row[M.ASIC_HASHRATE_RATIO])
        self.assertTrue(math.isnan(row[M.ASIC_HARDWARE_ERRORS_PER_MIN]))
        deriver.learn_hashrates({('compute-1', miner): [(4100.0, 1.0)]})
        row = self.derive(deriver, 4010.0, [samples.asic(1, hashrate=40.0)])
        self.assertLess(row[M.ASIC_HASHRATE_RATIO], 0.6)

    def test_replayed_old_sample_does_not_move_baseline(self):
        deriver = mining.MiningDeriver(600)
        self.derive(deriver, 100.0, [samples.asic(1, hashrate=100.0)])
        row = self.derive(deriver, 50.0, [samples.asic(1, hashrate=1.0)])
        self.assertTrue(math.isnan(row[M.ASIC_HASHRATE_RATIO]))
        row = self.derive(deriver, 110.0, [samples.asic(1, hashrate=100.0)])
        self.assertAlmostEqual(1.0, row[M.ASIC_HASHRATE_RATIO])


class TestGpuGuestLosses(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.deriver = mining.MiningDeriver(baseline_half_life=600)
        self.hot, self.cool, self.shared = (
            f'{k}' * 8 + '-0000-4000-8000-' + f'{k}' * 12 for k in 'abc')

    def losses(self, t, hot_throttle=0, hot_clock=1400.0, idle=False):
        """A host of three GPUs: ``hot`` (its guest's) throttled as
        given, ``cool``'s guest's idle or at 1400 MHz, a vGPU board two
        guests share, and a free one."""
        self.deriver.derive(samples.make(timestamp=t, gpus=[
            samples.gpu(0, throttle=hot_throttle, clock=hot_clock,
                        instances=[self.hot]),
            samples.gpu(1, throttle=mining.IDLE if idle else 0,
                        clock=300.0 if idle else 1400.0,
                        instances=[self.cool]),
            samples.gpu(2, throttle=0x20, clock=900.0,
                        instances=[self.shared, 'vm-shared-2']),
            samples.gpu(3)]))
        return self.deriver.guest_losses('compute-1')

    def test_a_throttled_gpu_s_guests_lose_its_clock_share(self):
        # The shared board never ran unthrottled: no baseline, left out.
        self.assertEqual({self.hot: 0.0, self.cool: 0.0},
                         self.losses(0.0))
        # Thermal slowdown at 700 MHz: half the 1400 MHz baseline.
        self.assertEqual({self.hot: 0.5, self.cool: 0.0},
                         self.losses(10.0, hot_throttle=0x40,
                                     hot_clock=700.0))
        # The power cap, above the baseline: nothing lost.
        self.assertEqual(0.0, self.losses(20.0, hot_throttle=0x4,
                                          hot_clock=1500.0)[self.hot])

    def test_idle_clocks_do_not_lower_the_baseline(self):
        self.losses(0.0)
        for t in range(10, 6000, 10):
            self.losses(float(t), idle=True)
        self.deriver.derive(samples.make(timestamp=6000.0, gpus=[
            samples.gpu(1, throttle=0x20, clock=1050.0,
                        instances=[self.cool])]))
        self.assertAlmostEqual(
            0.25, self.deriver.guest_losses('compute-1')[self.cool])

    def test_a_rig_loses_the_mean_of_its_gpus(self):
        # A rig holds four GPUs; one slows to 700 of its 1400 MHz, one
        # has no baseline yet: the rig lost a sixth of its work.
        def rig(t, slow_clock):
            slowed = slow_clock is not None
            self.deriver.derive(samples.make(timestamp=t, gpus=[
                samples.gpu(0, throttle=0x40 if slowed else 0,
                            clock=slow_clock if slowed else 1400.0,
                            instances=[self.hot])] + [
                samples.gpu(i, clock=1400.0, instances=[self.hot])
                for i in (1, 2)] + [
                samples.gpu(3, throttle=0x20, clock=900.0,
                            instances=[self.hot])]))
            return self.deriver.guest_losses('compute-1')[self.hot]

        self.assertEqual(0.0, rig(0.0, None))
        self.assertAlmostEqual(0.5 / 3, rig(10.0, 700.0))

    def test_without_clock_or_reasons_no_loss_is_known(self):
        self.deriver.derive(samples.make(timestamp=0.0, gpus=[
            samples.gpu(0, clock=None, instances=[self.hot]),
            dataclasses.replace(samples.gpu(1, instances=[self.cool]),
                                throttle_reasons=None)]))
        self.assertEqual({}, self.deriver.guest_losses('compute-1'))


class TestMiningInSnapshot(base.BaseTestCase):

    def test_each_guest_s_device_loss_served(self):
        tracker = snapshot.LoadTracker(window=600, half_life=60)
        sick, well, cpu_only, throttled = (
            f'{k}' * 8 + '-0000-4000-8000-' + f'{k}' * 12 for k in 'abcd')
        guests = [sample.InstanceLoad(uuid, 5.0, 1024.0)
                  for uuid in (sick, well, cpu_only)]
        for i, hashrate in enumerate((100.0, 100.0, 25.0)):
            tracker.add(samples.make(
                host='asic-1', seq=i, timestamp=1000.0 + i * 10,
                instances=guests, asics=[
                    samples.asic(1, hashrate=hashrate, instance_uuid=sick),
                    samples.asic(2, hashrate=100.0, instance_uuid=well)]))
            tracker.add(samples.make(
                host='gpu-1', seq=i, timestamp=1000.0 + i * 10,
                instances=[sample.InstanceLoad(throttled, 5.0, 1024.0)],
                gpus=[samples.gpu(0, throttle=0x40 if i == 2 else 0,
                                  clock=1128.0 if i == 2 else 1410.0,
                                  instances=[throttled])]))
        snap = snapshot.LoadSnapshot.from_wire(tracker.snapshot(1030.0))
        self.assertEqual(
            {sick: 0.75, well: 0.0, cpu_only: None, throttled: 0.2},
            {uuid: view.device_loss
             for uuid, view in snap.instances.items()})

    def test_throttle_fraction_and_headroom_served(self):
        tracker = snapshot.LoadTracker(window=600, half_life=60)
        for i in range(10):
            throttle = 0x4 if i < 3 else 0x0
            tracker.add(samples.make(
                host='gpu-1', seq=i, timestamp=1000.0 + i * 10,
                gpus=[samples.gpu(0, temp=80.0, throttle=throttle)]))
        tracker.add(samples.make(host='cpu-1', seq=1, timestamp=1090.0))
        snap = snapshot.LoadSnapshot.from_wire(tracker.snapshot(1100.0))
        gpu_host = snap.hosts['gpu-1']
        self.assertAlmostEqual(0.3, gpu_host.mining_metric(
            M.GPU_THROTTLED, Stat.MEAN))
        self.assertEqual(9.0, gpu_host.mining_metric(
            M.GPU_THERMAL_HEADROOM, Stat.LAST))
        self.assertIsNone(snap.hosts['cpu-1'].mining_stats)
        self.assertTrue(math.isnan(snap.hosts['cpu-1'].mining_metric(
            M.GPU_THERMAL_HEADROOM, Stat.LAST)))
        # Absent readings travel as null and come back as NaN.
        self.assertTrue(math.isnan(gpu_host.mining_metric(
            M.ASIC_HASHRATE, Stat.MEAN)))
