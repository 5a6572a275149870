import numpy as np
from oslotest import base

from cryptomine_scheduler.placement.scoring import Accelerator
from cryptomine_scheduler.simulator import engine
from cryptomine_scheduler.simulator import fleet
from cryptomine_scheduler.simulator import policies
from cryptomine_scheduler.tests.simulation import asic_host
from cryptomine_scheduler.tests.simulation import trace

NAN = np.nan
SETTINGS = engine.Settings()


def world(instances: int, hosts: int, with_history: bool = False,
          **fleet_kwargs) -> engine.World:
    """A world of identical 1-vCPU, 1 GiB instances at 0.5 core."""
    return engine.World(
        trace([[0.5]] * instances, [1] * instances, [1024] * instances),
        fleet.uniform(hosts, **fleet_kwargs), SETTINGS, with_history)


class TestNova(base.BaseTestCase):

    def test_spread_takes_the_most_free_ram_first_on_ties(self):
        w = world(3, 3, vcpus=8, memory_mb=8192)
        w.allocated[:, 1] = [4096, 2048, 2048]
        room = np.array([True, True, True])
        self.assertEqual(1, policies.NovaSpread(SETTINGS).place(w, 0, room))
        room[1] = False
        self.assertEqual(2, policies.NovaSpread(SETTINGS).place(w, 0, room))

    def test_metrics_adds_the_normalised_instant_cpu(self):
        w = world(1, 3, vcpus=8, memory_mb=8192)
        w.allocated[:, 1] = [0, 4096, 2048]    # RAM weights 1, 0, 0.5
        w.last_cpu_percent = np.array([90.0, 0.0, 30.0])  # 0, 1, 2/3
        room = np.ones(3, dtype=bool)
        self.assertEqual(0, policies.NovaSpread(SETTINGS).place(w, 0, room))
        self.assertEqual(2, policies.NovaMetrics(SETTINGS).place(w, 0, room))


# host-000 gets vm0 (4 busy cores, little RAM), host-001 vm1 (idle, much
# RAM); vm2 boots at step 3.
HEAVY_FIRST = trace(cpu=[[4.0] * 6, [0.1] * 6, [NAN] * 3 + [0.5] * 3],
                    vcpus=[4, 1, 1], memory_mb=[1024, 6144, 512])


class TestLoadAware(base.BaseTestCase):

    def _host_of_last_boot(self, policy) -> int:
        run = engine.simulate(HEAVY_FIRST,
                              fleet.uniform(2, vcpus=4, memory_mb=8192),
                              policy(SETTINGS), SETTINGS)
        return int(np.argmax(run.cpu[3] - run.cpu[2]))

    def test_avoids_the_loaded_host_nova_spread_prefers(self):
        self.assertEqual(0, self._host_of_last_boot(policies.NovaSpread))
        self.assertEqual(1, self._host_of_last_boot(policies.LoadAware))

    def test_pending_boots_spread_a_burst(self):
        w = world(4, 2, with_history=True, vcpus=4, memory_mb=65536)
        policy = policies.LoadAware(SETTINGS)
        room = np.ones(2, dtype=bool)
        chosen = [policy.place(w, i, room) for i in range(4)]
        self.assertEqual([0, 1, 0, 1], chosen)

    def test_a_flavor_s_load_learned_from_its_first_instances(self):
        # 1-vCPU guests at 0.3 cores boot one a step on a 2-vCPU host,
        # each counted at 100 % of its vCPU (50 % of the host) until its
        # flavor is learned from three.  vm3 finds the host at 45 %: at
        # 100 % it would take it to 95 %, over the 90 % limit; at the 30 %
        # learned, to 60 %.
        cpu = [[NAN] * i + [0.3] * (6 - i) for i in range(4)]
        guests = trace(cpu=cpu, vcpus=[1] * 4, memory_mb=[512] * 4)
        host = fleet.uniform(1, vcpus=2, memory_mb=8192)
        for learn, refused in ((True, 0), (False, 1)):
            settings = engine.Settings(overload_policy='hard', risk_factor=0,
                                       half_life=60, learn_loads=learn)
            with self.subTest(learn_loads=learn):
                run = engine.simulate(guests, host,
                                      policies.LoadAware(settings), settings)
                self.assertEqual(refused, run.refused_boots)

    def test_overload_refuses_only_under_the_hard_policy(self):
        # Both hosts fully busy from step 0; vm2 boots at step 3.
        busy = trace(cpu=[[4.0] * 6, [4.0] * 6, [NAN] * 3 + [0.5] * 3],
                     vcpus=[3, 3, 1], memory_mb=[1024, 1024, 512])
        hosts = fleet.uniform(2, vcpus=4, memory_mb=8192)
        for policy, refused in (('soft', 0), ('hard', 1)):
            settings = engine.Settings(overload_policy=policy)
            with self.subTest(overload_policy=policy):
                run = engine.simulate(busy, hosts,
                                      policies.LoadAware(settings), settings)
                self.assertEqual((0, refused), (run.no_room_boots,
                                                run.refused_boots))
                # A refused guest never runs: no host carries its load.
                self.assertAlmostEqual(8.5 - 0.5 * refused,
                                       float((run.cpu[3] * 4).sum()))


# Four 1-vCPU guests on two 2-vCPU hosts; vm0 and vm2 share host-000 and
# get busy from step 4.
SKEWED = trace(cpu=[[0.1] * 4 + [0.95] * 20, [0.1] * 24,
                    [0.1] * 4 + [0.95] * 20, [0.1] * 24],
               vcpus=[1] * 4, memory_mb=[1024] * 4)


class TestLoadAwareReplan(base.BaseTestCase):

    def test_the_planner_moves_a_busy_guest_away(self):
        hosts = fleet.uniform(2, vcpus=2, memory_mb=65536)
        static = engine.simulate(SKEWED, hosts,
                                 policies.LoadAware(SETTINGS), SETTINGS)
        self.assertGreater(static.cpu[-1, 0], 0.9)
        run = engine.simulate(SKEWED, hosts,
                              policies.LoadAwareReplan(SETTINGS), SETTINGS)
        self.assertEqual(23, len(run.plan_seconds))
        self.assertTrue(run.migrations)
        self.assertIn(run.migrations[0].instance, (0, 2))
        self.assertLessEqual(run.cpu[-1].max(), 0.9)


# Four 1-vCPU guests asking for a miner each, two from the start and two
# from step 2.  nova-spread alternates: vm0 and vm2 on the first ASIC
# host (ties go to it), vm1 and vm3 on the second.
MINERS = trace(cpu=[[0.1] * 4, [0.1] * 4, [NAN] * 2 + [0.1] * 2,
                    [NAN] * 2 + [0.1] * 2], vcpus=[1] * 4,
               memory_mb=[1024] * 4, accelerators=(Accelerator.ASIC,) * 4)
LOAD_AWARE = (policies.LoadAware, policies.LoadAwareReplan)


class TestSickMiners(base.BaseTestCase):
    """Our filter steers ASIC guests off sick hosts; nova cannot see
    them."""

    def test_a_sick_host_gets_no_new_asic_guest_from_our_policies(self):
        for kind in ('failure', 'sag', 'error'):
            hosts = fleet.Fleet((asic_host('asic-000', 4, sick=kind),
                                 asic_host('asic-001', 4)))
            for policy in (policies.NovaSpread, *LOAD_AWARE):
                run = engine.simulate(MINERS, hosts, policy(SETTINGS),
                                      SETTINGS)
                on_sick = run.asic_held[:, :4].sum(axis=1)
                with self.subTest(kind=kind, policy=policy.name):
                    self.assertEqual((0, 0), (run.no_room_boots,
                                              run.refused_boots))
                    self.assertEqual(
                        [1, 1, 2, 2] if policy is policies.NovaSpread
                        else [0] * 4, on_sick.tolist())

    def test_only_sick_hosts_refuse_the_boot_and_count_it(self):
        # The honesty rule: a boot our filter refuses never runs.
        hosts = fleet.Fleet((asic_host('asic-000', 4, sick='sag'),))
        for policy, refused in ((policies.NovaSpread, 0),
                                (policies.LoadAware, 4)):
            run = engine.simulate(MINERS, hosts, policy(SETTINGS), SETTINGS)
            with self.subTest(policy=policy.name):
                self.assertEqual(refused, run.refused_boots)
                self.assertEqual(4 - refused, run.asic_held[-1].sum())

    def test_a_guest_gets_a_miner_that_is_up(self):
        # asic-000's first two miners are dead; vm0 gets the third.
        host = asic_host('asic-000', 4)
        w = engine.World(MINERS, fleet.Fleet((host,)), SETTINGS,
                         with_history=False)
        w.health.up[:, :2] = False
        w.boot(0, 0)
        w.boot(1, 0)
        self.assertEqual([-1, -1, 0, 1], w.miner_guest.tolist())
        w.boot(2, 0)  # none up is free: placement still counts miners
        self.assertEqual([2, -1, 0, 1], w.miner_guest.tolist())
        w.leave(0)
        self.assertEqual([2, -1, -1, 1], w.miner_guest.tolist())
        self.assertEqual([2], w.asics_used.tolist())
        self.assertFalse(w.live_migratable.any())


class ReplanFromTheFirstHost(policies.LoadAwareReplan):
    """The re-planner, every guest booted on the first host."""

    def place(self, world, instance, room):
        return 0


class TestColdMigration(base.BaseTestCase):
    """Where their flavors allow cold migration, the re-planner takes
    miners' guests off a sick host; elsewhere they stay (they cannot
    live-migrate)."""

    def test_guests_leave_sagging_miners_only_when_allowed_to_move_cold(self):
        guests = trace(cpu=[[0.1] * 24] * 2, vcpus=[1] * 2,
                       memory_mb=[1024] * 2,
                       accelerators=(Accelerator.ASIC,) * 2)
        hosts = fleet.Fleet((asic_host('asic-000', 4, sick='sag'),
                             asic_host('asic-001', 4)))
        for cold in (False, True):
            settings = engine.Settings(cold_migration=frozenset(
                [Accelerator.ASIC] if cold else []))
            run = engine.simulate(guests, hosts,
                                  ReplanFromTheFirstHost(settings), settings)
            with self.subTest(cold=cold):
                self.assertEqual(2, run.asic_held[0, :4].sum())
                self.assertEqual(0 if cold else 2,
                                 run.asic_held[-1, :4].sum())
                self.assertEqual([cold] * (2 if cold else 0),
                                 [m.cold for m in run.migrations])

    def _two_guests(self, kind: Accelerator, hosts: fleet.Fleet,
                    **gpu) -> tuple[engine.World, engine.Settings]:
        """vm0 and vm1, holding devices of ``kind`` on the first of
        ``hosts``, which may move them cold; sampled once."""
        guests = trace(cpu=[[0.1] * 24] * 2, vcpus=[1] * 2,
                       memory_mb=[1024] * 2, accelerators=(kind,) * 2,
                       **gpu)
        settings = engine.Settings(cold_migration=frozenset([kind]))
        world = engine.World(guests, hosts, settings, with_history=True)
        world.boot(0, 0)
        world.boot(1, 0)
        return world, settings

    def assertOnlyTheLoserLeaves(self, world, settings, losses, loser):
        """The snapshot gives vm0 and vm1 ``losses``; the re-planner moves
        ``loser`` alone, cold, from the first host to the second."""
        world.begin_step(1)
        self.assertEqual(
            losses, (world.snapshot().instances['vm0'].device_loss,
                     world.snapshot().instances['vm1'].device_loss))
        policies.LoadAwareReplan(settings).replan(world)
        moved, = world.migrations
        self.assertEqual((loser, 0, 1, True), (moved.instance, moved.source,
                                               moved.destination, moved.cold))

    def test_the_guest_on_a_dead_miner_is_the_one_that_leaves(self):
        # vm0 and vm1 hold asic-000's first two miners; the first dies.
        # The host's ratio (of its miners up) stays 1: only vm0 loses
        # its hashrate, and only vm0 moves.
        world, settings = self._two_guests(Accelerator.ASIC, fleet.Fleet(
            (asic_host('asic-000', 4), asic_host('asic-001', 4))))
        world.health.up[:, 0] = False
        world.health.hashrate_ratio[:, 0] = 0.0
        world.sample(world.load(), world.gpus())
        self.assertOnlyTheLoserLeaves(world, settings, (1.0, 0.0), 0)

    def test_the_guest_on_a_throttled_gpu_is_the_one_that_leaves(self):
        # vm0 and vm1 hold gpu-000's two GPUs, mining flat out; vm1's
        # GPU did half its work over the last step.  gpu-001 is idle.
        spec = fleet.GpuSpec(count=2, slowdown_c=90, idle_c=30, full_c=80)
        world, settings = self._two_guests(
            Accelerator.GPU, fleet.Fleet(tuple(
                fleet.HostSpec(f'gpu-00{k}', 16, 65536, gpu=spec)
                for k in range(2))), gpu=[[100] * 24] * 2)
        world.sample(world.load(), world.gpus())
        world.gpu_delivered = np.array([1.0, 0.5, 1.0, 1.0])
        self.assertOnlyTheLoserLeaves(world, settings, (0.0, 0.5), 1)
