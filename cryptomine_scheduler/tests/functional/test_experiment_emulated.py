"""The emulated testbed end to end: a re-planning run on nova and its
control run on the same placement, reported as nova recorded them.

Each run is a whole experiment on nova in this process (API, conductor,
scheduler with our filter and weigher, placement, ten fake hosts of 16
CPUs), the controller beside it on a private RabbitMQ, reading nova
through openstacksdk, and the trace collector publishing each fake
host's load from the trace VMs nova placed there.

The trace (seeded, written here): 60 VMs of 4 vCPUs over an hour of
1-minute steps, played at 30x (two minutes a play).  The trace starts once
every server is up, so nova places them on idle hosts, about six a host,
blind to what comes; after a quiet minute, 30 VMs drawn at random
run their 4 vCPUs flat out (25 % of a host each), the others idle at a
tenth of a vCPU.  A host overloads (over 90 %) with four hot VMs.  The
trace is played twice on the same boots: without re-planning (the
control), then with it.  On a machine busy with other jobs, reading
nova and each live migration take seconds in this one process (each
API request waits for the others, a migration runs within its
request), so the play is long enough for a round's moves to land well
before its end, and the hot guests start after one quiet step: a round
reads nova before it reads the loads, so the first round already sees
them (after five quiet minutes, the first round planned on idle hosts
and, at a load average of 30, the second one's moves landed too late to
lower the overload).
"""

# First: the emulated testbed selects nova's concurrency mode.
from cryptomine_scheduler.experiment import emulated  # noqa: I001

import logging
import os

import fixtures
import numpy as np
from oslotest import base
from testtools import content

from cryptomine_scheduler.experiment import flavors
from cryptomine_scheduler.experiment import measured
from cryptomine_scheduler.experiment import record as record_mod
from cryptomine_scheduler.experiment import runner as runner_mod
from cryptomine_scheduler.experiment import setup as setup_mod
from cryptomine_scheduler.simulator import traces
from cryptomine_scheduler.tests import fleets
from cryptomine_scheduler.tests import rabbit
from cryptomine_scheduler.tests.functional import test_cli
from cryptomine_scheduler.tests.functional import test_experiment_cli

VMS, STEPS, HOT = 60, 60, 30
QUIET = 1
COMPRESSION = 30.0
MAPPING = flavors.parse({
    'flavors': {'vm': {'vcpus': 4, 'ram_mb': 1024, 'disk_gb': 1}},
    'rules': [{'flavor': 'vm'}]}, 'mapping')


def skewed_hour(seed: int = 20) -> traces.Trace:
    """The trace of the module docstring."""
    rng = np.random.default_rng(seed)
    cpu = np.full((VMS, STEPS), 0.1)
    cpu[:, :QUIET] = 0.0
    hot = rng.choice(VMS, HOT, replace=False)
    cpu[hot, QUIET:] = 4.0
    return traces.Trace(
        step=60.0, start=0.0, instances=tuple(f'vm{n:02d}' for n in
                                              range(VMS)),
        vcpus=np.full(VMS, 4, dtype=np.int64), memory_mb=np.full(VMS, 1024.0),
        accelerators=(None,) * VMS, cpu=cpu,
        rss_mb=np.full((VMS, STEPS), 256.0))


class EmulatedRunTest(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        self.broker = self.useFixture(rabbit.RabbitBroker())
        self.folder = self.useFixture(fixtures.TempDir()).path
        self.messages = []

    def play(self, policy: str, control: bool = False) -> emulated.Outcome:
        setup = setup_mod.Setup(
            trace='skewed-hour.csv', trace_format='csv',
            mapping='mapping.yaml', compression=COMPRESSION,
            duration=STEPS * 60.0 / COMPRESSION, image=emulated.IMAGE,
            network='none', cloud=emulated.CLOUD, warmup=0.0,
            policy=setup_mod.PolicySetup(
                policy=policy, replan_interval=2.0, max_moves=10,
                summary_window=10.0, ewma_half_life=1.0))
        saver = runner_mod.Saver(
            record_mod.Record(name=f'cmx-{policy}', setup=setup),
            f'{self.folder}/{policy}.json')
        return emulated.run(
            setup, skewed_hour(), MAPPING, saver,
            emulated.Emulation(
                transport_url=self.broker.url, sample_interval=1.0,
                min_gain=fleets.LOW_BAR.limits.min_gain),
            runner_mod.Timing(poll=0.2, boot_timeout=300.0,
                              delete_timeout=300.0),
            notify=self.messages.append,
            control=control and runner_mod.Saver(
                emulated.control_record(saver.record),
                f'{self.folder}/{policy}-control.json'))

    def assertConsistent(self, outcome: emulated.Outcome):
        """Every server booted and was deleted; the report's migrations
        are nova's records of completed moves, and the controller's."""
        record = outcome.record
        self.assertEqual({'ACTIVE'}, {s.status for s in record.servers()})
        self.assertEqual(VMS, len(record.servers()))
        self.assertEqual([], record.left())
        done = [m for m in record.migrations if m.status in measured.DONE]
        report = outcome.comparison.figures[1]
        self.assertEqual(len(done), report.migrations)
        self.assertEqual(outcome.controller_moves, report.migrations)
        self.assertEqual(0, report.refused_boots)
        return report

    def test_replanning_beats_its_control_on_the_same_placement(self):
        outcome = self.play('load-aware-replan', control=True)
        report = self.assertConsistent(outcome)
        control = self.assertConsistent(outcome.control)
        self.addDetail('figures', content.text_content(
            f'with re-planning: {report}\ncontrol: {control}'))
        self.assertEqual(
            ('load-aware', []),
            (outcome.control.record.setup.policy.policy,
             outcome.control.record.migrations))
        # nova placed the boots blind to the load to come, so some
        # hosts hold four hot guests; re-planning moves some away.
        self.assertGreater(control.overload, 0.0)
        self.assertLess(report.overload, control.overload)
        self.assertLessEqual(report.migrations, 10 * STEPS)


class EmulatedCliTest(test_cli.RunsApp, base.BaseTestCase):
    """``cryptomine experiment run --emulated --with-control``: four VMs
    on two fake hosts, a control run then re-planning on, both reports
    written."""

    def test_run_emulated(self):
        self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        self.useFixture(test_cli.CleanEnvironment())
        broker = self.useFixture(rabbit.RabbitBroker())
        folder = self.useFixture(fixtures.TempDir()).path
        trace, mapping = test_experiment_cli.write_inputs(folder)
        path, output = f'{folder}/record.json', f'{folder}/report'

        shown = self.ok(
            'experiment', 'run', '--emulated', '--trace', trace,
            '--trace-format', 'csv', '--mapping', mapping,
            '--compression', '600', '--duration', '1', '--hosts', '2',
            '--policy', 'load-aware-replan', '--replan-interval', '1',
            '--summary-window', '10', '--ewma-half-life', '1',
            '--with-control', '--transport-url', broker.url,
            '--record', path, '--output', output, '--poll-interval', '0.2',
            '-f', 'json', options=[])

        self.assertEqual((4, 0), (shown.json()['Servers'],
                                  shown.json()['Boot Errors']))
        found = record_mod.load(path)
        self.assertEqual((emulated.CLOUD, 'load-aware-replan', 0.0),
                         (found.setup.cloud, found.setup.policy.policy,
                          found.setup.warmup))
        self.assertEqual([], found.left())
        self.assertLessEqual({s.host for s in found.servers()},
                             {'compute01', 'compute02'})
        control = record_mod.load(f'{folder}/record-control.json')
        self.assertEqual(('load-aware', [], []),
                         (control.setup.policy.policy, control.migrations,
                          control.left()))
        self.assertLess(control.ended_at, found.start_at)
        self.assertIn('measured load-aware-replan', shown.err)
        self.assertRegex(shown.err, r'measured load-aware\s')
        for name in ('report.json', 'fidelity.json', 'control/report.json',
                     'control/fidelity.json'):
            self.assertTrue(os.path.exists(f'{output}/{name}'), name)

    def test_control_comes_before_replanning_only(self):
        self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        self.useFixture(test_cli.CleanEnvironment())
        folder = self.useFixture(fixtures.TempDir()).path
        trace, mapping = test_experiment_cli.write_inputs(folder)

        result = self.cli(
            'experiment', 'run', '--emulated', '--trace', trace,
            '--trace-format', 'csv', '--mapping', mapping,
            '--policy', 'load-aware', '--with-control',
            '--record', f'{folder}/record.json', options=[])

        self.assertEqual(1, result.rc)
        self.assertIn("--with-control: a control run is played before a "
                      "re-planning run, not before 'load-aware'",
                      result.error)
        self.assertFalse(os.path.exists(f'{folder}/record.json'))
