"""``cryptomine experiment run|cleanup|report`` from the command line.

``run`` and ``cleanup`` drive the in-process nova (:mod:`.nova_sdk`;
the command's openstacksdk connection is the test's, as no clouds.yaml
can name a keystone-less nova); ``report`` reads a controller's history
through cryptomine-api (:class:`.test_cli.InProcessTestCase`).
"""

# nova_base first (through nova_sdk): it selects nova's concurrency mode.
from cryptomine_scheduler.tests.functional import nova_sdk  # noqa: I001

import dataclasses
import os
import time

import fixtures
import yaml

from cryptomine_scheduler.cli import experiment as experiment_cli
from cryptomine_scheduler.experiment import record as record_mod
from cryptomine_scheduler.experiment import runner as runner_mod
from cryptomine_scheduler.experiment import setup as setup_mod
from cryptomine_scheduler.experiment import workload
from cryptomine_scheduler.simulator import traces
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests.functional import test_cli
from cryptomine_scheduler.tests.functional import test_experiment_nova

TRACE = test_experiment_nova.TRACE
MAPPING = {'flavors': {'tiny': {'vcpus': 1, 'ram_mb': 512, 'disk_gb': 1}},
           'rules': [{'flavor': 'tiny'}]}


def write_inputs(folder: str) -> tuple[str, str]:
    """The trace (our CSV) and the mapping file, in ``folder``."""
    trace, mapping = (os.path.join(folder, n) for n in ('trace.csv',
                                                        'mapping.yaml'))
    traces.write_csv(TRACE, trace)
    with open(mapping, 'w') as f:
        yaml.safe_dump(MAPPING, f)
    return trace, mapping


class RunCliTest(test_cli.RunsApp, nova_sdk.NovaSDKTestCase):

    HOSTS = ('host1', 'host2')

    def setUp(self):
        super().setUp()
        self.useFixture(test_cli.CleanEnvironment())
        self.conn = self.connect()
        self.useFixture(fixtures.MockPatchObject(
            experiment_cli, '_connection', lambda app: self.conn))
        self.folder = self.useFixture(fixtures.TempDir()).path
        self.trace, self.mapping = write_inputs(self.folder)
        self.path = os.path.join(self.folder, 'record.json')

    def run_options(self) -> list[str]:
        return ['experiment', 'run', '--trace', self.trace,
                '--trace-format', 'csv', '--mapping', self.mapping,
                '--image', test_experiment_nova.IMAGE, '--network', 'none',
                '--compression', '600', '--duration', '0.5', '--warmup', '0',
                '--poll-interval', '0.1', '--policy', 'load-aware',
                '--record', self.path, '-f', 'json']

    def assertNothingLeft(self, path):
        self.assertEqual([], list(self.conn.compute.servers()))
        self.assertEqual([], [f.name for f in self.conn.compute.flavors()
                              if f.name.startswith('cmx-')])
        self.assertEqual([], record_mod.load(path).left())

    def test_run(self):
        shown = self.ok(*self.run_options(), options=[]).json()
        self.assertEqual((4, 0, self.path), (
            shown['Servers'], shown['Boot Errors'], shown['Record']))
        found = record_mod.load(self.path)
        self.assertEqual(setup_mod.DEFAULT_CLOUD, found.setup.cloud)
        self.assertEqual(('load-aware', 600.0),
                         (found.setup.policy.policy, found.setup.compression))
        self.assertNothingLeft(self.path)

    def test_usage_errors_create_nothing(self):
        result = self.cli('experiment', 'run', '--trace', self.trace,
                          options=[])
        self.assertEqual(1, result.rc)
        self.assertIn('--mapping', result.error)
        result = self.cli(*self.run_options(), '--trace-format', 'planetlab',
                          options=[])
        self.assertEqual(1, result.rc)
        self.assertIn('trace.csv', result.error)
        self.assertFalse(os.path.exists(self.path))

    def earlier_run(self, trace: str, host: str) -> str:
        """The record of a finished run of ``trace`` that booted all its
        servers on ``host`` (one more server is left in ERROR)."""
        servers = [record_mod.Resource(
            record_mod.Kind.SERVER, f'cmx-e-{i:04d}', record_mod.State.DELETED,
            id=f'server-{i}', trace_index=i, instance=name, host=host,
            status='ACTIVE') for i, name in enumerate(TRACE.instances)]
        servers[-1] = dataclasses.replace(servers[-1], status='ERROR')
        path = os.path.join(self.folder, 'earlier.json')
        record_mod.save(record_mod.Record(
            name='cmx-e', setup=setup_mod.Setup(
                trace=trace, trace_format='csv', mapping=self.mapping,
                compression=600.0, duration=0.5, image='i', network='none'),
            resources=servers), path)
        return path

    def test_run_from_an_earlier_placement(self):
        # nova would spread the four servers over both hosts.
        earlier = self.earlier_run(self.trace, 'host2')
        shown = self.ok(*self.run_options(), '--placement-from', earlier,
                        options=[]).json()
        self.assertEqual((4, 0), (shown['Servers'], shown['Boot Errors']))
        found = record_mod.load(self.path)
        pinned = {'vm0': 'host2', 'vm1': 'host2', 'vm2': 'host2'}
        self.assertEqual(pinned, found.setup.boot_hosts)
        self.assertEqual(pinned, {k: v for k, v in found.placement().items()
                                  if k in pinned})
        self.assertEqual(4, len(found.placement()))
        self.assertNothingLeft(self.path)

    def test_placement_of_another_trace_is_refused(self):
        earlier = self.earlier_run('/elsewhere/trace.csv', 'host2')
        result = self.cli(*self.run_options(), '--placement-from', earlier,
                          options=[])
        self.assertEqual(1, result.rc)
        self.assertIn('a run of /elsewhere/trace.csv', result.error)
        self.assertFalse(os.path.exists(self.path))

    def killed_run(self) -> None:
        """What a run killed mid-boot leaves: its record and resources."""
        found = record_mod.Record(name='cmx-killed', setup=setup_mod.Setup(
            trace=self.trace, trace_format='csv', mapping=self.mapping,
            compression=600.0, duration=0.5, warmup=0.0,
            image=test_experiment_nova.IMAGE, network='none'))
        mapping = test_experiment_nova.MAPPING
        runner_mod.Runner(
            self.conn, runner_mod.Saver(found, self.path),
            workload.guests(TRACE, mapping, 600.0), mapping).create()
        self.assertEqual(4, len(list(self.conn.compute.servers())))

    def test_cleanup_after_a_killed_run(self):
        self.killed_run()
        self.ok('experiment', 'cleanup', self.path, options=[])
        self.assertNothingLeft(self.path)
        # Nothing left to delete is no error.
        self.ok('experiment', 'cleanup', self.path, options=[])

    def test_resume_after_a_killed_run(self):
        self.killed_run()
        again = os.path.join(self.folder, 'again.json')
        shown = self.ok('experiment', 'run', '--resume', self.path,
                        '--record', again, '--poll-interval', '0.1',
                        '-f', 'json', options=[]).json()
        self.assertEqual(4, shown['Servers'])
        self.assertNothingLeft(self.path)
        self.assertNothingLeft(again)

    def test_cleanup_of_a_missing_record(self):
        result = self.cli('experiment', 'cleanup', 'nowhere.json',
                          options=[])
        self.assertEqual(4, result.rc)


class ReportCliTest(test_cli.InProcessTestCase):
    """A run of two steps (300 s of trace each, 1 s of the run at 300x)
    on hot and cold1, its samples stored by the controller."""

    def test_report(self):
        folder = self.useFixture(fixtures.TempDir()).path
        trace, mapping = write_inputs(folder)
        start = time.time() - 100.0
        servers = [record_mod.Resource(
            record_mod.Kind.SERVER, f'cmx-r-{i:04d}',
            record_mod.State.DELETED, id=f'server-{i}', trace_index=i,
            memory_mb=1024.0, host=host, status='ACTIVE')
            for i, host in enumerate(('hot', 'cold1', 'cold1', 'cold1'))]
        path = os.path.join(folder, 'record.json')
        record_mod.save(record_mod.Record(
            name='cmx-r', setup=setup_mod.Setup(
                trace=trace, trace_format='csv', mapping=mapping,
                compression=300.0, duration=2.0, image='i', network='none',
                policy=setup_mod.PolicySetup(policy='load-aware')),
            resources=servers, start_at=start, ended_at=start + 2.0,
            migrations=[record_mod.MigrationRecord(
                'server-1', 'cold1', 'hot', 'live-migration', 'completed',
                '1970-01-01T00:00:00', None)]), path)
        # hot at 95 % both steps, cold1 at 50 % (seq past the fleet's).
        stored = [samples.make(host=host, seq=1000 + k, cpu=cpu,
                               timestamp=start + 0.5 + k)
                  for host, cpu in (('hot', 95.0), ('cold1', 50.0))
                  for k in (0, 1)]
        self.controller.store.add_samples(stored, time.time())

        output = os.path.join(folder, 'report')
        rows = self.ok('experiment', 'report', path, '--output', output,
                       '-f', 'json').json()

        self.assertEqual(['predicted load-aware', 'measured load-aware'],
                         [r['policy'] for r in rows])
        measured = rows[1]
        # hot and cold1 active both steps (server-1 moved to hot, the
        # others stayed): 95 % twice and 50 % twice.
        self.assertEqual(('50.00', '95.0', 1, '1.0'), (
            measured['overload %'], measured['max load %'],
            int(measured['migrations']), measured['GB moved']))
        self.assertTrue(os.path.exists(os.path.join(output,
                                                    'fidelity.json')))
