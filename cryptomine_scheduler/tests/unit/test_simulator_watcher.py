"""The Watcher policies: the built-in strategies, nova's room check on
their moves, and the built-in against python-watcher's own classes.

python-watcher imports eventlet, which this test process forbids (see
``cryptomine_scheduler/tests/__init__.py``): its strategies run in a
child Python, on the same pickled snapshots and seeds.
"""

import importlib.util
import json
import pickle
import random
import subprocess
import sys
from unittest import mock

import numpy as np
from oslotest import base

from cryptomine_scheduler.placement.scoring import Accelerator
from cryptomine_scheduler.simulator import engine
from cryptomine_scheduler.simulator import fleet
from cryptomine_scheduler.simulator import policies
from cryptomine_scheduler.simulator import synthetic
from cryptomine_scheduler.simulator import watcher
from cryptomine_scheduler.tests.simulation import trace

SETTINGS = engine.Settings()


class Draws:
    """Stands for ``random.Random``: destination ``j`` of each
    candidate list, in turn."""

    def __init__(self, *picks: int):
        self.picks = list(picks)

    def sample(self, population, k):
        return [population[self.picks.pop(0)]]


def placed(cpu, where, vcpus=None, memory_mb=None, hosts=3,
           host_vcpus=4, cpu_allocation_ratio=4.0,
           step=3) -> engine.World:
    """Instances busy ``cpu`` cores each (every step), on hosts
    ``where``, at step ``step``."""
    n = len(cpu)
    w = engine.World(
        trace([[c] * (step + 1) for c in cpu], vcpus or [1] * n,
              memory_mb or [1024] * n),
        fleet.uniform(hosts, vcpus=host_vcpus, memory_mb=65536,
                      cpu_allocation_ratio=cpu_allocation_ratio),
        SETTINGS, with_history=False)
    for i, host in enumerate(where):
        w.boot(i, host)
    w.begin_step(step)
    return w


def random_world(seed: int, n: int = 60, h: int = 8) -> engine.World:
    """``n`` instances of mixed flavors and loads (some samples
    missing) crowded on the first of ``h`` hosts, at step 4."""
    rng = np.random.default_rng(seed)
    vcpus = rng.choice([1, 2, 4], n)
    cpu = rng.uniform(0.0, 1.0, (n, 5)) * vcpus[:, None]
    cpu[rng.uniform(size=(n, 5)) < 0.05] = np.nan
    w = engine.World(trace(cpu, vcpus, rng.choice([512, 2048, 8192], n)),
                     fleet.uniform(h, vcpus=16, memory_mb=65536),
                     SETTINGS, with_history=False)
    weights = 1.0 / np.arange(1, h + 1)
    for i, host in enumerate(rng.choice(h, n, p=weights / weights.sum())):
        w.boot(i, int(host))
    w.begin_step(4)
    return w


class TestCluster(base.BaseTestCase):

    def test_means_over_watchers_periods(self):
        cpu = [[1.0, 2.0, 3.0, 4.0, 5.0, np.nan],
               [0.0, 0.0, 1.0, 1.0, np.nan, np.nan]]
        w = engine.World(trace(cpu, [2, 1], [1024, 1024]),
                         fleet.uniform(2, vcpus=4, memory_mb=8192),
                         SETTINGS, with_history=False)
        w.boot(0, 0)
        w.boot(1, 0)
        w.begin_step(5)
        c = watcher.cluster(w, 720.0)
        # 720 s: the last 3 samples (steps 2-4); vm1 has 2 of them.
        np.testing.assert_allclose([200.0, 100.0],
                                   c.instance_percent(720.0))
        # 600 s: steps 3 and 4, 5 and 5 cores on 4 vCPUs.
        np.testing.assert_allclose([125.0, 0.0], c.host_percent(600.0))
        np.testing.assert_allclose([250.0, np.nan],
                                   c.instance_percent(300.0))


class TestStabilization(base.BaseTestCase):

    def test_every_improving_move_in_one_audit(self):
        # Host loads 1, 0, 0: sigma 0.47.  Each 0.25 move alone leaves
        # 0.31; in turn: vm0 to host 1 (0.31), vm1 to host 2 (0.12, under
        # the threshold): the audit ends.
        w = placed([1.0] * 4, [0] * 4)
        moves = watcher.stabilization(watcher.cluster(w, 720.0), 0.2,
                                      Draws(0, 1, 0, 1))
        self.assertEqual([(0, 1), (1, 2)], moves)

    def test_a_move_that_does_not_beat_the_lowest_is_skipped(self):
        # Loads 0.5, 0, 0 (sigma 0.24).  Alone, vm0 to host 1 leaves
        # 0.12, vm1 to host 1 and vm2 to host 2 0.16.  In turn: vm0 (0.12),
        # vm1 (0.16 now: skipped), vm2 (0.06, under the threshold).
        w = placed([1.0, 0.5, 0.5], [0, 0, 0])
        moves = watcher.stabilization(watcher.cluster(w, 720.0), 0.1,
                                      Draws(0, 0, 1))
        self.assertEqual([(0, 1), (2, 2)], moves)

    def test_under_the_threshold_nothing_moves(self):
        w = placed([1.0] * 4, [0] * 4)
        self.assertEqual([], watcher.stabilization(
            watcher.cluster(w, 720.0), 0.5, Draws()))

    def test_the_seed_makes_the_audit_reproducible(self):
        audits = [policies.Watcher(SETTINGS).audit(
            watcher.cluster(random_world(1), 720.0)) for _ in range(2)]
        self.assertEqual(audits[0], audits[1])
        self.assertGreater(len(audits[0]), 1)


class TestBalance(base.BaseTestCase):

    def test_the_instance_closest_to_the_mean_to_the_idlest_host(self):
        # Cores 2.25, 0.5, 0 (mean 0.92); host 0 (56 %) is the source.
        # vm1 (0.5) leaves it nearest the mean without going under (vm0
        # would); host 1 would reach 25 % with it (not under), so host 2
        # takes it.
        w = placed([1.5, 0.5, 0.25, 0.5], [0, 0, 0, 1])
        self.assertEqual([(1, 2)], watcher.balance(
            watcher.cluster(w, 300.0), 25.0))

    def test_a_destination_needs_flavor_room(self):
        w = placed([1.5, 0.5, 0.25, 0.5, 0.0, 0.0], [0, 0, 0, 1, 2, 2],
                   vcpus=[1, 1, 1, 1, 2, 2], cpu_allocation_ratio=1.0)
        self.assertEqual([], watcher.balance(watcher.cluster(w, 300.0),
                                             25.0))


class TestNovaRoom(base.BaseTestCase):

    def test_moves_to_a_full_host_are_refused_and_counted(self):
        # Host 0 busy, host 1 idle; both full in placement (ratio 1).
        w = placed([1.0] * 4 + [0.0] * 4, [0] * 4 + [1] * 4, hosts=2,
                   cpu_allocation_ratio=1.0)
        policies.Watcher(SETTINGS).replan(w)
        self.assertEqual([], w.migrations)
        self.assertEqual(2, w.refused_migrations)

    def test_nova_refuses_devices_moves_in_flight_and_wrong_kinds(self):
        w = placed([1.0, 1.0, 1.0], [0, 0, 0])
        w.live_migratable[0] = False            # holds a device
        w.wants_any[2] = False                  # asks for a CPU host
        w.offers = np.array([Accelerator.CPU, Accelerator.GPU,
                             Accelerator.CPU])
        w.migrate(1, 2)                         # in flight
        watcher.apply(w, [(0, 1), (1, 1), (2, 1)])
        self.assertEqual(3, w.refused_migrations)
        self.assertEqual(1, len(w.migrations))
        watcher.apply(w, [(2, 2)])
        self.assertEqual(2, len(w.migrations))


class TestWithoutPythonWatcher(base.BaseTestCase):

    def test_the_real_policies_say_what_to_install(self):
        with mock.patch.object(importlib.util, 'find_spec',
                               return_value=None):
            for policy in (policies.WatcherReal,
                           policies.WatcherBalanceReal):
                with self.subTest(policy=policy.name):
                    error = self.assertRaises(engine.SimulationError,
                                              policy, SETTINGS)
                    self.assertIn("cryptomine-scheduler[watcher]",
                                  str(error))

    def test_they_are_compared_on_request_only(self):
        self.assertEqual(['watcher'], [
            name for name in policies.defaults(fleet.uniform(
                2, vcpus=4, memory_mb=4096)) if 'watcher' in name])


# Runs in a child Python: reads pickled (cluster, threshold, seed) jobs
# and a scenario's arguments, prints python-watcher's moves and the
# watcher-real run's migrations as JSON.
_REAL = '''
import json, pickle, random, sys
from cryptomine_scheduler.simulator import engine, policies, synthetic
from cryptomine_scheduler.simulator import watcher_real
jobs, scenario = pickle.load(sys.stdin.buffer)
audits = [[watcher_real.stabilization(c, t, random.Random(seed)),
           watcher_real.balance(c, 25.0)] for c, t, seed in jobs]
case = synthetic.scenario(*scenario)
runs = [engine.simulate(case.trace, case.fleet, policy(engine.DEFAULTS))
        for policy in (policies.WatcherReal, policies.WatcherBalanceReal)]
print(json.dumps([audits, [[[m.instance, m.destination, m.start]
                            for m in run.migrations]
                           + [run.refused_migrations] for run in runs]]))
'''
SCENARIO = (3, 60, 4.0)


def _moves(run: engine.Run) -> list:
    return ([[m.instance, m.destination, m.start] for m in run.migrations]
            + [run.refused_migrations])


class TestAgainstPythonWatcher(base.BaseTestCase):
    """The built-in strategies make python-watcher's moves, to the
    move: the same snapshots, the same random draws."""

    def setUp(self):
        super().setUp()
        if importlib.util.find_spec('watcher') is None:
            self.skipTest('python-watcher is not installed (the watcher '
                          'extra, in test-requirements.txt)')

    def test_same_moves_as_the_real_strategies(self):
        jobs = [(watcher.cluster(random_world(seed), 720.0), threshold,
                 seed) for seed in range(6) for threshold in (0.1, 0.02)]
        jobs.append((watcher.cluster(random_world(9, 1000, 100), 720.0),
                     0.1, 9))
        done = subprocess.run(
            [sys.executable, '-c', _REAL], input=pickle.dumps(
                (jobs, SCENARIO)), capture_output=True, check=True)
        audits, runs = json.loads(done.stdout)
        moved = 0
        for (c, threshold, seed), (stable, balanced) in zip(jobs, audits,
                                                            strict=True):
            with self.subTest(seed=seed, threshold=threshold):
                built_in = watcher.stabilization(c, threshold,
                                                 random.Random(seed))
                self.assertEqual(stable, [list(m) for m in built_in])
                self.assertEqual(balanced, [
                    list(m) for m in watcher.balance(c, 25.0)])
                moved += len(built_in)
        self.assertGreater(moved, len(jobs))
        # And whole runs, nova's refusals included.
        case = synthetic.scenario(*SCENARIO)
        for policy, real in zip((policies.Watcher, policies.WatcherBalance),
                                runs, strict=True):
            with self.subTest(policy=policy.name):
                run = engine.simulate(case.trace, case.fleet,
                                      policy(engine.DEFAULTS))
                self.assertEqual(real, json.loads(json.dumps(_moves(run))))
                self.assertTrue(run.migrations)
