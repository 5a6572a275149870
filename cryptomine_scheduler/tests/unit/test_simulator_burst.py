"""The simulator's burst pool: fleet files, the rules of placement and
release, the figures, and the burst-peak day."""

import argparse
import os
from unittest import mock

import fixtures
import numpy as np
from oslotest import base

from cryptomine_scheduler.placement import tiers
from cryptomine_scheduler.simulator import command
from cryptomine_scheduler.simulator import comparison
from cryptomine_scheduler.simulator import engine
from cryptomine_scheduler.simulator import fleet
from cryptomine_scheduler.simulator import metrics
from cryptomine_scheduler.simulator import policies
from cryptomine_scheduler.simulator import report
from cryptomine_scheduler.simulator import synthetic
from cryptomine_scheduler.tests.simulation import trace

NAN = np.nan
SETTINGS = engine.Settings()
HOME = fleet.HostSpec('home-000', 8, 8192)


def burst(name: str, cost: float, memory_mb: int = 8192) -> fleet.HostSpec:
    return fleet.HostSpec(name, 8, memory_mb, cost_per_hour=cost)


def world(hosts: tuple[fleet.HostSpec, ...], instances: int = 5,
          settings: engine.Settings = SETTINGS) -> engine.World:
    """A world of ``instances`` 2-vCPU, 1 GiB instances at 2 cores booting
    at step 0: each counts for a quarter of an 8-vCPU host until its
    flavor's load is learned, so a host takes three within the 90 % CPU
    threshold."""
    return engine.World(trace([[2.0] * 6] * instances, [2] * instances,
                              [1024] * instances),
                        fleet.Fleet(hosts), settings, with_history=True)


def boot_all(policy: policies.Policy, w: engine.World) -> list[str]:
    """Boot every instance of ``w`` at step 0; the hosts they got."""
    w.begin_step(0)
    placed = []
    for i in range(len(w.host_of)):
        host = policy.place(w, i, w.room(i))
        w.boot(i, host)
        placed.append(w.fleet.names[host])
    return placed


class TestFleetFile(base.BaseTestCase):

    def _load(self, text: str) -> fleet.Fleet:
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'fleet.yaml')
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        return fleet.load(path)

    def test_burst_groups_with_and_without_a_cost(self):
        hosts = self._load(
            'groups:\n'
            '  - {name: own, vcpus: 8, memory_mb: 8192}\n'
            '  - {name: rented, count: 2, vcpus: 8, memory_mb: 8192,\n'
            '     tier: burst, cost_per_hour: 2.5}\n'
            '  - {name: free, vcpus: 8, memory_mb: 8192, tier: Burst}\n')
        self.assertEqual([False, True, True, True], hosts.burst.tolist())
        np.testing.assert_array_equal([NAN, 2.5, 2.5, 0.0],
                                      hosts.cost_per_hour)
        record = hosts.hosts[1].compute_host()
        self.assertEqual(2.5, record.burst_cost_per_hour)
        self.assertIs(tiers.Tier.BURST, record.tier)
        self.assertIs(tiers.Tier.HOME, hosts.hosts[0].compute_host().tier)
        self.assertIn('2 x 8 vCPU/8 GiB cpu burst at 2.5/h',
                      hosts.describe())

    def test_a_cost_needs_a_burst_tier(self):
        self.assertRaisesRegex(
            fleet.FleetError, 'cost_per_hour on a home host', self._load,
            'groups:\n  - {vcpus: 8, memory_mb: 8192, cost_per_hour: 1}\n')

    def test_unknown_tier_and_negative_cost(self):
        self.assertRaisesRegex(
            fleet.FleetError, "tier='cloud' is not one of", self._load,
            'groups:\n  - {vcpus: 8, memory_mb: 8192, tier: cloud}\n')
        self.assertRaisesRegex(
            fleet.FleetError, 'must not be negative', self._load,
            'groups:\n  - {vcpus: 8, memory_mb: 8192, tier: burst,\n'
            '     cost_per_hour: -1}\n')


class TestPlacement(base.BaseTestCase):

    def test_home_while_within_the_limits_then_the_cheapest_burst(self):
        for policy in (policies.LoadAware, policies.BurstAware):
            w = world((burst('dear-000', 3.0), HOME, burst('cheap-000', 1.0)))
            self.assertEqual(['home-000'] * 3 + ['cheap-000'] * 2,
                             boot_all(policy(SETTINGS), w), policy.name)

    def test_equal_costs_the_first_listed_then_the_least_loaded(self):
        w = world((HOME, burst('b-000', 2.0), burst('b-001', 2.0)))
        self.assertEqual(['home-000'] * 3 + ['b-000', 'b-001'],
                         boot_all(policies.LoadAware(SETTINGS), w))

    def test_a_burst_host_without_a_cost_is_the_cheapest(self):
        w = world((HOME, burst('paid-000', 0.5), burst('free-000', 0.0)),
                  instances=4)
        self.assertEqual('free-000',
                         boot_all(policies.LoadAware(SETTINGS), w)[-1])

    def test_nova_spread_uses_burst_hosts_like_any_other(self):
        w = world((HOME, burst('big-000', 3.0, memory_mb=16384)),
                  instances=1)
        self.assertEqual(['big-000'],
                         boot_all(policies.NovaSpread(SETTINGS), w))

    def test_hard_overload_refuses_rather_than_over_a_burst_host(self):
        hard = engine.Settings(overload_policy='hard')
        w = world((HOME, burst('b-000', 1.0)), instances=7, settings=hard)
        w.begin_step(0)
        policy = policies.BurstAware(hard)
        placed = [policy.place(w, i, w.room(i)) for i in range(7)]
        self.assertEqual([0, 0, 0, 1, 1, 1, None], placed)


class TestRelease(base.BaseTestCase):

    def test_released_when_empty_for_release_after_not_before(self):
        w = world((HOME, burst('b-000', 1.0)), instances=1,
                  settings=engine.Settings(release_after=600.0))
        w.begin_step(0)
        w.boot(0, 1)
        for step in (0, 1):
            w.begin_step(step)
            w.release_idle()
        w.begin_step(2)
        w.leave(0)
        w.release_idle()                   # empty since 600 s
        w.begin_step(3)
        w.release_idle()                   # 300 s empty
        self.assertEqual([False, False], w.released.tolist())
        w.begin_step(4)
        w.release_idle()                   # 600 s empty
        self.assertEqual([False, True], w.released.tolist())

    def test_re_rented_only_when_no_host_in_use_can_take_one(self):
        w = world((HOME, burst('dear-000', 3.0), burst('cheap-000', 1.0)),
                  settings=engine.Settings(release_after=0.0))
        w.begin_step(0)
        w.release_idle()
        self.assertEqual([False, True, True], w.released.tolist())
        placed = boot_all(policies.BurstAware(w.settings), w)
        self.assertEqual(['home-000'] * 3 + ['cheap-000'] * 2, placed)
        self.assertEqual([False, True, False], w.released.tolist())

    def test_a_rented_host_comes_before_a_released_one_of_equal_cost(self):
        w = world((HOME, burst('b-000', 2.0), burst('b-001', 2.0)),
                  settings=engine.Settings(release_after=0.0))
        w.begin_step(0)
        w.release_idle()
        self.assertEqual(['home-000'] * 3 + ['b-000'] * 2,
                         boot_all(policies.BurstAware(w.settings), w))
        self.assertEqual([False, False, True], w.released.tolist())

    def test_a_move_the_re_planner_makes_to_a_released_host_rents_it(self):
        w = world((HOME, burst('b-000', 1.0)), instances=1,
                  settings=engine.Settings(release_after=0.0))
        w.begin_step(0)
        w.boot(0, 0)
        w.release_idle()
        self.assertTrue(w.released[1])
        with mock.patch.object(policies.LoadAwareReplan, 'replan',
                               lambda self, world: world.migrate(0, 1)):
            policies.BurstAware(w.settings).replan(w)
        self.assertEqual([False, False], w.released.tolist())

    def test_only_the_burst_aware_policy_releases(self):
        self.assertEqual(['burst-aware'], [
            name for name, p in policies.POLICIES.items() if p.releases])


class TestFigures(base.BaseTestCase):

    def _compare(self, hosts, names=('nova-spread',)):
        return comparison.compare(
            trace([[1.0, 1.0, NAN, NAN, NAN, NAN]], [1], [1024]),
            fleet.Fleet(hosts), names,
            engine.Settings(release_after=600.0))

    def test_a_host_counts_until_empty_for_release_after(self):
        figures = self._compare((burst('b-000', 2.0),)).figures[0]
        # Held 2 steps, then 2 more until released: 4 x 5 min.
        self.assertAlmostEqual(1 / 3, figures.burst_host_hours)
        self.assertAlmostEqual(2 / 3, figures.burst_cost)
        self.assertEqual(0.0, figures.overload_host_hours)

    def test_rented_steps(self):
        run = self._compare((HOME, burst('b-000', 2.0))).runs[0]
        self.assertEqual([[False, False]] * 6,
                         metrics.rented(run, 600.0).tolist())
        run = self._compare((burst('b-000', 2.0), HOME)).runs[0]
        self.assertEqual([True] * 4 + [False] * 2,
                         metrics.rented(run, 600.0)[:, 0].tolist())
        self.assertEqual([True] * 2 + [False] * 4,
                         metrics.rented(run, 0.0)[:, 0].tolist())

    def test_burst_columns_only_with_burst_hosts(self):
        with_burst = self._compare((HOME, burst('b-000', 2.0)))
        without = self._compare((HOME,))
        self.assertIn('burst host-h', report.rows(with_burst)[0])
        self.assertIn('overload host-h', report.rows(with_burst)[0])
        self.assertNotIn('burst host-h', report.rows(without)[0])
        self.assertIsNone(without.figures[0].burst_host_hours)

    def test_burst_aware_compared_only_on_a_fleet_with_burst_hosts(self):
        self.assertNotIn('burst-aware', policies.defaults(fleet.Fleet(
            (HOME,))))
        self.assertEqual(
            [name for name, p in policies.POLICIES.items()
             if not p.on_request],
            policies.defaults(fleet.Fleet((HOME, burst('b-000', 1.0)))))


class TestBurstPeak(base.BaseTestCase):

    def test_only_a_synthetic_scenario(self):
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)
        args = parser.parse_args(['--scenario', 'burst-peak',
                                  '--trace-format', 'csv', '--trace', 'x'])
        self.assertRaisesRegex(ValueError, 'needs --trace-format synthetic',
                               command.workload, args)

    def test_the_day_needs_burst_capacity(self):
        case = synthetic.burst_peak(seed=0, instances=60, hours=8.0)
        home = ~case.fleet.burst
        peak = np.nansum(case.trace.cpu, axis=0).max()
        self.assertGreater(peak, 0.9 * case.fleet.vcpus[home].sum())
        self.assertTrue(case.fleet.burst.any())

    def test_burst_aware_rents_less_at_no_more_overload(self):
        # The main job's burst-peak day.
        case = synthetic.burst_peak(seed=0, instances=300, hours=24.0)
        spread, aware = comparison.compare(
            case.trace, case.fleet, ['nova-spread', 'burst-aware']).figures
        self.assertLessEqual(aware.burst_host_hours,
                             0.7 * spread.burst_host_hours)
        self.assertLessEqual(aware.overload_host_hours,
                             spread.overload_host_hours)
        self.assertLessEqual(aware.overload, spread.overload)
        self.assertEqual((0, 0), (aware.no_room_boots,
                                  aware.refused_boots))
