"""The experiment report on a small recorded run, figured by hand."""

import json
import os

import fixtures
import numpy as np
from oslotest import base

from cryptomine_scheduler.experiment import fidelity
from cryptomine_scheduler.experiment import measured
from cryptomine_scheduler.experiment import record as record_mod
from cryptomine_scheduler.experiment import setup as setup_mod
from cryptomine_scheduler.simulator import comparison
from cryptomine_scheduler.simulator import fleet
from cryptomine_scheduler.simulator import metrics
from cryptomine_scheduler.simulator import traces

START = 1000.0
# Trace steps of 300 s at 10x: 30 s of the run each, [1000, 1030), ...
SETUP = setup_mod.Setup(
    trace='t.csv', trace_format='csv', mapping='m.yaml', compression=10.0,
    duration=90.0, image='cirros', network='none',
    policy=setup_mod.PolicySetup(policy='load-aware', replan_interval=0.0))
TRACE = traces.Trace(
    step=300.0, start=0.0, instances=('vm0', 'vm1', 'vm2'),
    vcpus=np.ones(3, dtype=np.int64), memory_mb=np.array([1024.0] * 3),
    accelerators=(None,) * 3, cpu=np.full((3, 3), 0.5),
    rss_mb=np.full((3, 3), 512.0))


def _server(index: int, status: str, host: str | None):
    return record_mod.Resource(
        record_mod.Kind.SERVER, f'x-{index:04d}', record_mod.State.DELETED,
        id=f'id{index}', trace_index=index, memory_mb=2048.0, host=host,
        status=status)


def _migration(server: str, status: str, created: str, updated: str):
    return record_mod.MigrationRecord(
        server_id=server, source='a', destination='b',
        kind='live-migration', status=status, created_at=created,
        updated_at=updated)


# 1970-01-01T00:17:30 is Unix 1050 (step 1), 00:17:35 is 1055: after
# step 1's middle (1045), so id1 is on b from step 2 on.
RECORD = record_mod.Record(
    name='x', setup=SETUP, start_at=START, ended_at=START + 90.0,
    resources=[_server(0, 'ACTIVE', 'a'), _server(1, 'ACTIVE', 'a'),
               _server(2, 'ERROR', None)],
    migrations=[
        _migration('id1', 'completed', '1970-01-01T00:17:30.000000',
                   '1970-01-01T00:17:35Z'),
        _migration('id0', 'error', '1970-01-01T00:17:40', None)])
HISTORY = {
    'a': ((1005.0, 50.0), (1020.0, 70.0), (1040.0, 95.0)),
    'b': ((1010.0, 20.0), (1045.0, 40.0), (1080.0, 100.0),
          (1095.0, 0.0)),  # after the run: left out
}


class MeasuredRunTest(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        # The simulator's run of the trace, whose measured copy it is.
        template = comparison.compare(
            TRACE, fleet.sized(TRACE, 2), ['load-aware'],
            fidelity.settings(SETUP)).runs[0]
        self.run = measured.run(measured.Measurements(RECORD, HISTORY),
                                TRACE.alive, template)

    def test_host_load_per_step(self):
        # a: mean of 50 and 70, then 95, then the nearest step's 95.
        np.testing.assert_allclose([[0.6, 0.2], [0.95, 0.4], [0.95, 1.0]],
                                   self.run.cpu)
        self.assertEqual(('a', 'b'), self.run.hosts)

    def test_servers_follow_their_completed_migrations(self):
        np.testing.assert_array_equal(
            [[True, False], [True, False], [True, True]], self.run.active)
        (move,) = self.run.migrations
        self.assertEqual((1, 0, 1, 2048.0), (move.instance, move.source,
                                             move.destination,
                                             move.memory_mb))
        # 50 s and 55 s into the run, in trace time.
        self.assertEqual((500.0, 550.0), (move.start, move.end))

    def test_figures_as_the_simulator_computes_them(self):
        found = metrics.figures(self.run, fidelity.settings(SETUP))
        # Active host-steps 60, 95, 95, 100: three above 90 %.
        self.assertEqual(0.75, found.overload)
        # Evenly over the active hosts (of unknown size, counted equal):
        # 60, 95, then 97.5 on both.
        self.assertEqual(0.75, found.even_overload)
        self.assertAlmostEqual(95.0 + 0.85 * 5.0, found.p95_load)
        self.assertEqual(100.0, found.max_load)
        # sigma of (60, 20), (95, 40), (95, 100): 20, 27.5, 2.5.
        self.assertAlmostEqual(50.0 / 3.0, found.mean_sigma)
        self.assertEqual((1, 2.0, 3, 1, 1, 0),
                         (found.migrations, found.migrated_gb, found.boots,
                          found.refused_boots, found.refused_migrations,
                          found.no_room_boots))
        self.assertEqual('measured load-aware', found.policy)


class FidelityTest(base.BaseTestCase):

    def test_settings_are_stretched_to_trace_time(self):
        found = fidelity.settings(setup_mod.Setup(
            **{**SETUP.__dict__,
               'policy': setup_mod.PolicySetup(replan_interval=30.0)}))
        self.assertEqual((300.0, 6000.0, 600.0, 12.5),
                         (found.replan_interval, found.window,
                          found.half_life, found.migration_mb_per_s))

    def test_prediction_beside_the_measured_figures(self):
        result = fidelity.compare(TRACE, measured.Measurements(RECORD,
                                                               HISTORY))
        predicted, actual = result.figures
        self.assertEqual(('predicted load-aware', 'measured load-aware'),
                         (predicted.policy, actual.policy))
        # Three 1-vCPU VMs at half load all boot in the simulation.
        self.assertEqual((3, 0, 0), (predicted.boots, predicted.migrations,
                                     predicted.refused_boots))
        gaps = fidelity.gaps(result)
        self.assertEqual(1.0, gaps['migrations'])
        self.assertEqual(actual.overload - predicted.overload,
                         gaps['overload'])

        folder = self.useFixture(fixtures.TempDir()).path
        written = fidelity.write(result, folder)
        self.assertEqual(
            {'report.json', 'heatmap.png', 'sigma.png', 'cdf.png',
             'fidelity.json'}, {os.path.basename(p) for p in written})
        with open(os.path.join(folder, 'fidelity.json')) as f:
            self.assertEqual(gaps, json.load(f)['measured_minus_predicted'])
