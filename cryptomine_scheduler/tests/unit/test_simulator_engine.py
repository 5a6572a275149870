import dataclasses
import math

import numpy as np
from oslotest import base

from cryptomine_scheduler.history import mining
from cryptomine_scheduler.history.summaries import Stat
from cryptomine_scheduler.placement.scoring import Accelerator
from cryptomine_scheduler.simulator import engine
from cryptomine_scheduler.simulator import fleet
from cryptomine_scheduler.simulator import metrics
from cryptomine_scheduler.simulator import policies
from cryptomine_scheduler.telemetry import sample as sample_mod
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests.simulation import asic_host
from cryptomine_scheduler.tests.simulation import trace

NAN = np.nan


# Two 2-vCPU hosts.  nova-spread puts vm0 on host-000 (a tie: the first
# host), vm1 on host-001 (more free RAM), and vm2, booting at step 2, on
# host-000 again (a tie).
TINY = trace(cpu=[[1.0, 2.0, 2.0, 0.4],
                  [0.4, 0.4, 0.8, 0.8],
                  [NAN, NAN, 1.0, 1.0]],
             vcpus=[2, 2, 1], memory_mb=[2048, 2048, 1024])
TWO_HOSTS = fleet.uniform(2, vcpus=2, memory_mb=8192)


class MoveFirstAtStepOne(policies.NovaSpread):
    """nova-spread that moves vm0 to the second host at step 1."""

    replans = True

    def replan(self, world):
        if world.step == 1:
            world.migrate(0, 1)


class TestTinyTrace(base.BaseTestCase):
    """Figures worked out by hand on a three-instance trace."""

    def test_loads_and_figures(self):
        settings = engine.Settings()
        run = engine.simulate(TINY, TWO_HOSTS, policies.NovaSpread(settings),
                              settings)
        np.testing.assert_allclose([[50, 20], [100, 20], [150, 40],
                                    [70, 40]], run.cpu * 100)
        np.testing.assert_allclose(3072 / 8192, run.memory[2, 0])
        self.assertTrue(run.active.all())
        got = metrics.figures(run, settings)
        # Active host-steps: 50 100 150 70 | 20 20 40 40; above 90: two.
        self.assertEqual(2 / 8, got.overload)
        # Spread evenly: 35, 60, 95 and 55 %, so both hosts in step 2.
        self.assertEqual(2 / 8, got.even_overload)
        self.assertAlmostEqual(100 + 0.65 * 50, got.p95_load)
        self.assertEqual(150.0, got.max_load)
        # sigma per step: 15, 40, 55, 15.
        self.assertAlmostEqual(31.25, got.mean_sigma)
        self.assertEqual((0, 0.0, 3, 0, 0),
                         (got.migrations, got.migrated_gb, got.boots,
                          got.no_room_boots, got.refused_boots))
        self.assertIsNone(got.gpu_hot)

    def test_sigma_within_each_kind_of_host(self):
        settings = engine.Settings()
        run = engine.simulate(TINY, TWO_HOSTS, policies.NovaSpread(settings),
                              settings)
        self.assertEqual({}, metrics.sigma_by_kind(run))  # one kind
        got = metrics.figures(run, settings)
        self.assertEqual((None, None, None),
                         (got.sigma_cpu_hosts, got.sigma_gpu_hosts,
                          got.sigma_asic_hosts))
        mixed = dataclasses.replace(
            run, kinds=('cpu', 'gpu', 'cpu', 'gpu'),
            cpu=np.array([[0.2, 0.1, 0.4, 0.1], [0.6, 0.1, 0.2, 0.3]]),
            active=np.ones((2, 4), dtype=bool), vcpus=np.full(4, 4.0))
        # CPU hosts 20/40 then 60/20 %: sigma 10 and 20; GPU hosts
        # 10/10 then 10/30: 0 and 10.
        by_kind = metrics.sigma_by_kind(mixed)
        self.assertEqual(['cpu', 'gpu'], list(by_kind))
        self.assertAlmostEqual(15.0, by_kind['cpu'])
        self.assertAlmostEqual(5.0, by_kind['gpu'])
        got = metrics.figures(mixed, settings)
        self.assertAlmostEqual(15.0, got.sigma_cpu_hosts)
        self.assertAlmostEqual(5.0, got.sigma_gpu_hosts)
        self.assertIsNone(got.sigma_asic_hosts)
        # Over all four hosts: 12.25 and 18.71 %.
        self.assertAlmostEqual(15.48, got.mean_sigma, places=2)

    def test_even_overload_weighs_hosts_by_their_cpus_and_skips_idle(self):
        settings = engine.Settings()
        run = engine.simulate(TINY, TWO_HOSTS, policies.NovaSpread(settings),
                              settings)
        # 2 and 6 CPUs: 27.5, 40, 67.5 and 47.5 % evenly, none over.
        bigger = dataclasses.replace(run, vcpus=np.array([2.0, 6.0]))
        self.assertEqual(0.0, metrics.even_overload(bigger, 90.0))
        # host-001 idle in steps 1 and 2: host-000 alone at 100 and
        # 150 %, over in both, among 6 active host-steps.
        active = run.active.copy()
        active[1:3, 1] = False
        alone = dataclasses.replace(run, active=active)
        self.assertEqual(2 / 6, metrics.even_overload(alone, 90.0))
        self.assertEqual(0.0, metrics.even_overload(
            dataclasses.replace(run, active=np.zeros_like(active)), 90.0))

    def test_a_migration_counts_on_both_hosts_while_it_moves(self):
        # 2048 MiB at 2048/150 MiB/s: from 300 s to 450 s, half a step.
        settings = engine.Settings(migration_mb_per_s=2048 / 150)
        run = engine.simulate(TINY, TWO_HOSTS, MoveFirstAtStepOne(settings),
                              settings)
        move, = run.migrations
        self.assertEqual((0, 0, 1, 300.0, 450.0, 2048.0, False),
                         dataclasses.astuple(move))
        # Step 1: vm0 (2 cores) on host-000 for its first half, on
        # host-001 all along; vm2 then goes to host-000, freed of vm0.
        np.testing.assert_allclose([[50, 20], [50, 120], [50, 140],
                                    [50, 60]], run.cpu * 100)
        got = metrics.figures(run, settings)
        # Every step after the first is a re-plan step.
        self.assertEqual((1, 2.0, 3), (got.migrations, got.migrated_gb,
                                       got.plans))

    def test_a_migration_nova_would_refuse_is_counted_not_made(self):
        # host-001 allows 2 vCPUs (allocation ratio 1) and holds vm1's
        # two: no room for vm0.
        full = fleet.uniform(2, vcpus=2, memory_mb=8192,
                             cpu_allocation_ratio=1.0)
        settings = engine.Settings()
        run = engine.simulate(TINY, full, MoveFirstAtStepOne(settings),
                              settings)
        self.assertEqual(((), 1), (run.migrations, run.refused_migrations))
        self.assertEqual(1, metrics.figures(run, settings).refused_migrations)

    def test_a_replan_interval_of_zero_never_replans(self):
        # As the controller's [replan] interval = 0.
        settings = engine.Settings(replan_interval=0)
        run = engine.simulate(TINY, TWO_HOSTS, MoveFirstAtStepOne(settings),
                              settings)
        self.assertEqual(((), ()), (run.migrations, run.plan_seconds))

    def test_migrations_wait_for_a_lane_and_for_those_they_rely_on(self):
        settings = engine.Settings(migration_mb_per_s=1024.0,
                                   parallel_migrations=2)
        world = engine.World(TINY, TWO_HOSTS, settings, with_history=False)
        world.begin_step(1)
        for i in range(3):
            world.boot(i, 0)
        first = world.migrate(0, 1)          # 2 s, lane 0
        second = world.migrate(1, 1)         # 2 s, lane 1
        third = world.migrate(2, 1, after=(second,))
        self.assertEqual((300.0, 302.0), (first.start, first.end))
        self.assertEqual(300.0, second.start)
        self.assertEqual((302.0, 303.0), (third.start, third.end))
        np.testing.assert_array_equal([[5, 5120], [5, 5120]],
                                      world.allocated)
        world.load()  # all complete within the step
        np.testing.assert_array_equal([1, 1, 1], world.host_of)
        np.testing.assert_array_equal([[0, 0], [5, 5120]], world.allocated)

    def test_leaving_frees_the_flavor(self):
        short = trace(cpu=[[1.0, NAN], [1.0, 1.0]], vcpus=[2, 2],
                      memory_mb=[2048, 2048])
        settings = engine.Settings()
        run = engine.simulate(short, TWO_HOSTS,
                              policies.NovaSpread(settings), settings)
        self.assertEqual([[True, True], [False, True]], run.active.tolist())

    def test_a_boot_without_room_fails_and_never_runs(self):
        one = fleet.uniform(1, vcpus=1, memory_mb=4096,
                            cpu_allocation_ratio=1.0)
        full = trace(cpu=[[0.5, 0.5], [0.5, 0.5]], vcpus=[1, 1],
                     memory_mb=[1024, 1024])
        settings = engine.Settings()
        for name, policy in policies.POLICIES.items():
            if name.endswith('-real'):
                continue  # python-watcher: see test_simulator_watcher
            with self.subTest(policy=name):
                run = engine.simulate(full, one, policy(settings), settings)
                self.assertEqual((1, 0), (run.no_room_boots,
                                          run.refused_boots))
                np.testing.assert_allclose([[0.5], [0.5]], run.cpu)


# Two GPU hosts of two GPUs; a guest mining on one GPU runs it at 83
# degC (30 idle, +50 at full load, +3 from the chassis), under its 90.
GPU_SPEC = fleet.GpuSpec(count=2, slowdown_c=90, idle_c=30, full_c=80,
                         chassis_c=6)
GPU_HOSTS = fleet.Fleet(tuple(fleet.HostSpec(f'gpu-00{k}', 16, 65536,
                                             gpu=GPU_SPEC)
                              for k in range(2)))
# 1024 MiB copied in 90 s, and the restart: from 300 s to 450 s.
COLD_SETTINGS = engine.Settings(
    migration_mb_per_s=1024 / (150 - engine.COLD_RESTART_S))


class TestColdMigration(base.BaseTestCase):
    """A guest holding a device moves cold: down, device taken first."""

    def _world(self, accelerator=Accelerator.GPU, hosts=GPU_HOSTS):
        guest = trace(cpu=[[1.0] * 4], vcpus=[2], memory_mb=[1024],
                      accelerators=(accelerator,), gpu=[[100] * 4])
        world = engine.World(guest, hosts, COLD_SETTINGS, with_history=False)
        world.begin_step(1)
        world.boot(0, 0)
        return world

    def test_the_destination_device_is_taken_from_the_start(self):
        world = self._world()
        move = world.migrate(0, 1)
        self.assertEqual((True, 300.0, 450.0), (move.cold, move.start,
                                                move.end))
        # gpu-001's first GPU is brought for vm0: not free, not held.
        np.testing.assert_array_equal(
            [0, engine.FREE, engine.RESERVED, engine.FREE], world.gpu_guest)
        np.testing.assert_array_equal([1, 1], world.gpus_used)
        load = world.load()
        # Stopped for the first half of the step: 1 core for the second
        # half on gpu-001, none on gpu-000.
        np.testing.assert_allclose([0.0, 0.5], load[:, 0])
        self.assertEqual(0.5, world.down[0])
        self.assertEqual(1, world.host_of[0])
        np.testing.assert_array_equal(
            [engine.FREE, engine.FREE, 0, engine.FREE], world.gpu_guest)
        np.testing.assert_array_equal([0, 1], world.gpus_used)
        np.testing.assert_allclose([1, 1, 0.5, 1],
                                   world.up_share(world.gpu_guest))

    def test_no_free_device_at_the_destination_is_refused(self):
        single = fleet.Fleet(GPU_HOSTS.hosts[:1] + (fleet.HostSpec(
            'gpu-001', 16, 65536,
            gpu=dataclasses.replace(GPU_SPEC, count=1)),))
        world = self._world(hosts=single)
        world.gpu_guest[2] = engine.RESERVED  # another move brings it
        world.gpus_used[1] = 1
        self.assertIsNone(world.migrate(0, 1))
        self.assertEqual(({}, 1), (world.migrating,
                                   world.refused_migrations))
        np.testing.assert_array_equal([1, 1], world.gpus_used)

    def test_leaving_while_moving_frees_both_devices(self):
        world = self._world()
        world.migrate(0, 1)
        world.leave(0)
        np.testing.assert_array_equal([engine.FREE] * 4, world.gpu_guest)
        np.testing.assert_array_equal([0, 0], world.gpus_used)

    def test_a_miner_guest_moves_to_a_free_miner(self):
        miners = fleet.Fleet((asic_host('asic-000'), asic_host('asic-001')))
        world = self._world(Accelerator.ASIC, miners)
        world.migrate(0, 1)
        np.testing.assert_array_equal(
            [0, engine.FREE, engine.RESERVED, engine.FREE],
            world.miner_guest)
        world.load()
        np.testing.assert_array_equal(
            [engine.FREE, engine.FREE, 0, engine.FREE], world.miner_guest)
        np.testing.assert_array_equal([0, 1], world.asics_used)

    def test_the_downtime_counts_as_hashrate_lost(self):
        guest = trace(cpu=[[1.0] * 4], vcpus=[2], memory_mb=[1024],
                      accelerators=(Accelerator.GPU,), gpu=[[100] * 4])
        run = engine.simulate(guest, GPU_HOSTS,
                              MoveFirstAtStepOne(COLD_SETTINGS),
                              COLD_SETTINGS)
        self.assertTrue(run.migrations[0].cold)
        # Held all four steps, never throttled, down half of step 1.
        np.testing.assert_allclose([1, 0.5, 1, 1],
                                   run.gpu_delivered[run.gpu_held])
        got = metrics.figures(run, COLD_SETTINGS)
        self.assertAlmostEqual(0.5 / 4, got.gpu_throttle_lost)
        self.assertEqual((1, 1), (got.migrations, got.cold_migrations))


class TestPowerBudget(base.BaseTestCase):
    """A GPU host whose BMC reads 400 W besides four GPUs of 300 W (45 W
    idle, 288 W busy, 255 W more at their limit) under a 1.1 kW budget:
    idle at 580 W, it has room for two GPU guests."""

    def test_our_filter_keeps_the_budget_that_nova_spread_breaks(self):
        spec = fleet.GpuSpec(count=4, power_limit_w=300.0,
                             chassis_base_w=400.0)
        hosts = fleet.Fleet((fleet.HostSpec('gpu-000', 16, 65536,
                                            gpu=spec),))
        four = trace(cpu=[[0.5] * 3] * 4, vcpus=[1] * 4,
                     memory_mb=[1024] * 4,
                     accelerators=(Accelerator.GPU,) * 4,
                     gpu=[[100] * 3] * 4)
        settings = engine.Settings(thresholds=dataclasses.replace(
            engine.THRESHOLDS, max_chassis_power_w=1100.0))
        runs = {policy.name: engine.simulate(four, hosts, policy, settings)
                for policy in (policies.NovaSpread(settings),
                               policies.LoadAware(settings))}
        # All four boot at once: ours counts each GPU guest it placed
        # before the samples show it, so the third does not fit.
        np.testing.assert_allclose(400 + 4 * 288,
                                   runs['nova-spread'].chassis_power[:, 0])
        np.testing.assert_allclose(400 + 2 * 288 + 2 * 45,
                                   runs['load-aware'].chassis_power[:, 0])
        spread, ours = (metrics.figures(runs[name], settings)
                        for name in ('nova-spread', 'load-aware'))
        self.assertEqual((0, 1.0), (spread.refused_boots, spread.power_over))
        self.assertEqual((2, 0.0), (ours.refused_boots, ours.power_over))
        # No budget, no figure.
        self.assertIsNone(metrics.figures(runs['nova-spread'],
                                          engine.Settings()).power_over)


    def test_a_bmc_cap_slows_down_what_it_cannot_power(self):
        # No budget configured; the host's BMC caps the chassis at
        # 1.1 kW.  Four GPU guests boot once the host has been sampled
        # idle (580 W).  nova-spread places all four: the chassis would
        # draw 1,552 W, the BMC holds it to 1,100 and each GPU does
        # (1100 - 400 - 4 * 45) / (4 * 243) of its work.  Ours reads the
        # cap from the samples as a budget and places two.
        nan = math.nan
        spec = fleet.GpuSpec(count=4, power_limit_w=300.0,
                             chassis_base_w=400.0, chassis_cap_w=1100.0)
        hosts = fleet.Fleet((fleet.HostSpec('gpu-000', 16, 65536,
                                            gpu=spec),))
        four = trace(cpu=[[nan] + [0.5] * 3] * 4, vcpus=[1] * 4,
                     memory_mb=[1024] * 4,
                     accelerators=(Accelerator.GPU,) * 4,
                     gpu=[[nan] + [100] * 3] * 4)
        settings = engine.Settings()
        runs = {policy.name: engine.simulate(four, hosts, policy, settings)
                for policy in (policies.NovaSpread(settings),
                               policies.LoadAware(settings))}
        share = (1100 - 400 - 4 * 45) / (4 * 243)
        np.testing.assert_allclose([580, 1100, 1100, 1100],
                                   runs['nova-spread'].chassis_power[:, 0])
        np.testing.assert_allclose(
            [580] + [400 + 2 * 288 + 2 * 45] * 3,
            runs['load-aware'].chassis_power[:, 0])
        spread, ours = (metrics.figures(runs[name], settings)
                        for name in ('nova-spread', 'load-aware'))
        self.assertAlmostEqual(1 - share, spread.gpu_throttle_lost)
        self.assertEqual((2, 0.0), (ours.refused_boots,
                                    ours.gpu_throttle_lost))
        # Without the cap, the same four guests lose nothing.
        uncapped = fleet.Fleet((fleet.HostSpec(
            'gpu-000', 16, 65536,
            gpu=dataclasses.replace(spec, chassis_cap_w=0.0)),))
        self.assertEqual(0.0, metrics.figures(engine.simulate(
            four, uncapped, policies.NovaSpread(settings), settings),
            settings).gpu_throttle_lost)


class TestDevices(base.BaseTestCase):
    """What the collectors report of the GPUs guests hold."""

    def test_free_gpus_report_their_own_headroom(self):
        # Chassis 6 degC at full load; 20 degC ambient.  One of two GPUs
        # busy: base 30 + 6 * 0.5 + 20 = 53; the busy one would reach
        # 103 and holds at 90 (headroom 0); the free one has 90 - 53.
        spec = fleet.GpuSpec(count=2, slowdown_c=90, idle_c=30, full_c=80,
                             chassis_c=6, ambient_c=20)
        gpu = trace(cpu=[[0.1, 0.1]], vcpus=[1], memory_mb=[1024],
                    accelerators=(Accelerator.GPU,), gpu=[[100, 100]])
        hosts = fleet.Fleet((fleet.HostSpec('gpu-000', 16, 65536,
                                            gpu=spec),))
        w = engine.World(gpu, hosts, engine.Settings(), with_history=True)
        w.begin_step(0)
        w.boot(0, 0)
        w.sample(w.load(), w.gpus())
        w.begin_step(1)
        view = w.snapshot().hosts['gpu-000']
        metric = mining.MiningMetric
        for m, expected in (
                (metric.GPU_COUNT, 2), (metric.GPU_FREE, 1),
                (metric.GPU_UTILIZATION, 50),
                (metric.GPU_THERMAL_HEADROOM, 0),
                (metric.GPU_FREE_THERMAL_HEADROOM, 37),
                # It does (90 - 53) / 50 of its work: 15 + 81 * 0.74 %.
                (metric.GPU_POWER_HEADROOM, 100 - (15 + 81 * 0.74)),
                (metric.GPU_THROTTLED, 1)):
            with self.subTest(metric=m.value):
                self.assertAlmostEqual(expected,
                                       view.mining_metric(m, Stat.LAST))
        # Its guest lost the quarter of its work the throttle held back.
        self.assertAlmostEqual(0.26, w.snapshot().instances['vm0']
                               .device_loss)
        self.assertFalse(w.live_migratable[0])

    def test_rows_are_what_the_controller_derives(self):
        # The same readings as collector samples, through mining.py: a
        # GPU host with one of two GPUs busy and throttled, and an ASIC
        # host whose miners are healthy, sagging and erring, and dead;
        # vm1 holds the healthy one.
        spec = fleet.GpuSpec(count=2, chassis_c=6, ambient_c=20,
                             chassis_base_w=400.0)
        work = trace(cpu=[[0.1] * 2] * 2, vcpus=[1, 1],
                     memory_mb=[1024] * 2,
                     accelerators=(Accelerator.GPU, Accelerator.ASIC),
                     gpu=[[100, 100], [NAN, NAN]])
        hosts = fleet.Fleet((
            fleet.HostSpec('gpu-000', 16, 65536, gpu=spec),
            asic_host('asic-000', miners=3)))
        w = engine.World(work, hosts, engine.Settings(), with_history=True)
        w.health.hashrate_ratio[1] = [1.0, 0.4, 0.0]
        w.health.errors_per_min[1] = [1.0, 61.0, 0.0]  # whole counters
        w.health.up[1, 2] = False
        for step in (0, 1):
            w.begin_step(step)
            if step == 0:
                w.boot(0, 0)
                w.boot(1, 1)
            gpus = w.gpus()
            w.sample(w.load(), gpus)
        w.begin_step(2)
        snap = w.snapshot()
        deriver = mining.MiningDeriver(baseline_half_life=86400.0)
        asic = hosts.hosts[1].asic
        for t, step in ((0.0, 0), (300.0, 1)):
            health = [(bool(w.health.up[step, m]),
                       w.health.hashrate_ratio[step, m],
                       w.health.errors_per_min[step, m]) for m in range(3)]
            miners = [sample_mod.AsicLoad(
                miner=f'm{m}', available=up, instance=(
                    'vm1' if m == 0 else None),
                hashrate_5s_ghs=ratio * asic.hashrate_ghs if up else None,
                hardware_errors=round(errors * 5 * step) if up else None,
                power_w=asic.power_w if up else None)
                for m, (up, ratio, errors) in enumerate(health)]
            derived = deriver.derive(samples.make(
                host='asic-000', timestamp=t, asics=miners))
        gpu_samples = [samples.gpu(
            index=g, util=gpus.utilisation[g] * 100.0,
            temp=spec.slowdown_c - gpus.thermal_headroom[g],
            power=(100.0 - gpus.power_headroom[g]) * spec.power_limit_w
            / 100.0, limit=spec.power_limit_w,
            throttle=0x20 if gpus.throttled[g] else 0,
            instances=('vm0',) if g == 0 else ()) for g in range(2)]
        # The BMC reads the chassis: 400 W besides the GPUs' draw, and
        # caps nothing.
        chassis = 400.0 + sum(g.power_w for g in gpu_samples)
        gpu_row = deriver.derive(samples.make(
            host='gpu-000', timestamp=300.0, gpus=gpu_samples,
            sensors=sample_mod.HostSensors(chassis_power_w=chassis)))
        expected = {'gpu-000': dict(zip(mining.METRICS, gpu_row,
                                        strict=True)),
                    'asic-000': dict(zip(mining.METRICS, derived,
                                         strict=True))}
        for name, values in expected.items():
            view = snap.hosts[name]
            for m, value in values.items():
                with self.subTest(host=name, metric=m.value):
                    np.testing.assert_allclose(
                        value, view.mining_metric(m, Stat.LAST))
