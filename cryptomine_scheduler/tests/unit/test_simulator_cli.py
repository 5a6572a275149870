import argparse
import configparser
import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys

import fixtures
from cliff import app
from cliff import commandmanager
from oslotest import base

from cryptomine_scheduler.cli import simulate
from cryptomine_scheduler.placement.scoring import Accelerator
from cryptomine_scheduler.simulator import __main__ as module_main
from cryptomine_scheduler.simulator import command
from cryptomine_scheduler.simulator import comparison
from cryptomine_scheduler.simulator import engine
from cryptomine_scheduler.simulator import report
from cryptomine_scheduler.simulator import synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
SHORT = ['--instances', '30', '--hours', '2', '--policies',
         'nova-spread,load-aware']


class _App(app.App):
    """A cliff application with only the simulate command."""

    def __init__(self, stdout, stderr):
        manager = commandmanager.CommandManager('cryptomine.tests')
        manager.add_command('simulate', simulate.Simulate)
        super().__init__(description='test', version='0',
                         command_manager=manager, stdout=stdout,
                         stderr=stderr)


class TestSimulateCommand(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.folder = self.useFixture(fixtures.TempDir()).path

    def _run(self, *argv) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = _App(out, err).run(['simulate', *argv])
        return code, out.getvalue(), err.getvalue()

    def test_prints_the_table_and_writes_the_report(self):
        code, out, err = self._run(*SHORT, '--output', self.folder,
                                   '-f', 'json')
        self.assertEqual(0, code, err)
        rows = json.loads(out)
        self.assertEqual(['nova-spread', 'load-aware'],
                         [r['policy'] for r in rows])
        self.assertIn(os.path.join(self.folder, 'report.json'), err)
        self.assertTrue(os.path.isfile(os.path.join(self.folder,
                                                    'sigma.png')))

    def test_bad_options_fail_in_one_line(self):
        code, _, err = self._run('--trace-format', 'csv')
        self.assertEqual(1, code)
        self.assertIn('--trace-format csv needs --trace', err)
        # argparse's usage error, as for any cryptomine command.
        error = self.assertRaises(SystemExit, self._run, '--policies',
                                  'nova-spread,best')
        self.assertEqual(2, error.code)

    def test_registered_in_the_cryptomine_namespace(self):
        setup = configparser.ConfigParser()
        setup.read(os.path.join(ROOT, 'setup.cfg'))
        entries = setup['entry_points']['cryptomine.cli'].split('\n')
        self.assertIn('simulate = cryptomine_scheduler.cli.simulate:Simulate',
                      [e.strip() for e in entries])


class TestOptions(base.BaseTestCase):
    """Numbers out of range are usage errors naming the option."""

    def _refused(self, *argv) -> str:
        """What main says on refusing ``argv``, as argparse: status 2."""
        folder = self.useFixture(fixtures.TempDir()).path
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(err):
            error = self.assertRaises(SystemExit, module_main.main,
                                      [*argv, '--output', folder])
        self.assertEqual(2, error.code, err.getvalue())
        return err.getvalue()

    def test_numbers_out_of_range_are_refused(self):
        for argv, message in (
                # A negative slice simulated the last steps, 0 crashed.
                (['--steps', '-280'], "--steps: expected an integer above "
                 "0, not '-280'"),
                (['--steps', '0'], '--steps: expected an integer above 0'),
                (['--hours', '0'], '--hours: expected a number above 0'),
                (['--hours', 'nan'], "--hours: expected a number above 0, "
                 "not 'nan'"),
                (['--replan-interval', '-300'], '--replan-interval: '
                 'expected a number at least 0'),
                (['--window', 'inf'], '--window: expected a number above 0'),
                (['--instances', '0'], '--instances: expected an integer'),
                (['--hosts', '2.5'], '--hosts: expected an integer above 0'),
                (['--host-vcpus', '0'], '--host-vcpus: expected an integer'),
                (['--ram-allocation-ratio', '0'], '--ram-allocation-ratio: '
                 'expected a number above 0'),
                (['--target-load', '1.5'], '--target-load: expected a '
                 'number above 0 and at most 1'),
                (['--expected-load-percent', '101'], 'at most 100'),
                (['--migration-mb-per-s', '0'], '--migration-mb-per-s: '
                 'expected a number above 0'),
                (['--max-moves', '-1'], '--max-moves: expected an integer '
                 'at least 0'),
                (['--seed', '-1'], '--seed: expected an integer at least 0'),
                (['--memory-weight', '-1'], '--memory-weight: expected a '
                 'number at least 0'),
                (['--cold-migration', 'gpu,cpu'], "--cold-migration: "
                 "expected a comma-separated list of ['gpu', 'asic']")):
            with self.subTest(argv=argv):
                self.assertIn(message, self._refused(
                    '--instances', '30', '--policies', 'nova-spread', *argv))

    def test_weights_reach_the_weigher_and_the_planner(self):
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)
        chosen = command.settings(parser.parse_args(['--memory-weight',
                                                     '0.5']))
        self.assertEqual((1.0, 0.5), (chosen.weights.cpu,
                                      chosen.weights.memory))
        # The mining weights stay nova.conf's defaults.
        self.assertEqual(engine.DEFAULTS.weights.gpu_thermal,
                         chosen.weights.gpu_thermal)

    def test_power_budget_reaches_the_filter_and_the_table(self):
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)
        self.assertEqual(0.0, command.settings(parser.parse_args(
            [])).thresholds.max_chassis_power_w)
        chosen = command.settings(parser.parse_args(
            ['--max-chassis-power-w', '2000']))
        self.assertEqual(dataclasses.replace(
            engine.DEFAULTS.thresholds, max_chassis_power_w=2000.0),
            chosen.thresholds)
        # The synthetic mining day's GPU hosts have a BMC: the table gets
        # a column of the share of host-steps over the budget.
        scenario = synthetic.scenario(seed=0, instances=40, hours=2.0)
        result = comparison.compare(scenario.trace, scenario.fleet,
                                    ('nova-spread',), chosen)
        self.assertIn('over power budget %', report.rows(result)[0])
        self.assertNotIn('over power budget %', report.rows(
            comparison.compare(scenario.trace, scenario.fleet,
                               ('nova-spread',), engine.DEFAULTS))[0])

    def test_cold_migration_names_the_kinds_of_guest(self):
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)
        self.assertEqual(frozenset(), command.settings(
            parser.parse_args([])).cold_migration)
        chosen = command.settings(parser.parse_args(
            ['--cold-migration', 'asic, gpu']))
        self.assertEqual({Accelerator.ASIC, Accelerator.GPU},
                         chosen.cold_migration)

    def test_nothing_left_to_simulate(self):
        # The first instance starts at the second step.
        path = self.useFixture(fixtures.TempDir()).join('late.csv')
        with open(path, 'w') as f:
            f.write('timestamp,instance,vcpus,memory_mb,cpu_percent,rss_mb\n'
                    '300,late,1,1024,50,512\n0,early,1,1024,50,512\n')
        self.assertIn('no instance of the trace runs in the part kept',
                      self._refused('--trace-format', 'csv', '--trace', path,
                                    '--instances', '1', '--steps', '1'))


class TestModuleMain(base.BaseTestCase):

    def test_same_table_as_the_command(self):
        folder = self.useFixture(fixtures.TempDir()).path
        out = io.StringIO()
        with contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(0, module_main.main([*SHORT, '--output',
                                                  folder]))
        lines = out.getvalue().splitlines()
        self.assertEqual(['nova-spread', 'load-aware'],
                         [line.split()[0] for line in lines[1:]])
        self.assertEqual({'report.json', 'heatmap.png', 'gpu-heatmap.png',
                          'sigma.png', 'cdf.png'}, set(os.listdir(folder)))

    def test_no_eventlet_warning_in_the_output(self):
        # In a fresh interpreter, as the main job runs it: the warning
        # comes once, when oslo.messaging is first imported.
        folder = self.useFixture(fixtures.TempDir()).path
        done = subprocess.run(
            [sys.executable, '-m', 'cryptomine_scheduler.simulator', *SHORT,
             '--output', folder], capture_output=True, text=True,
            cwd=folder, check=False)
        self.assertEqual(0, done.returncode, done.stderr)
        self.assertIn('nova-spread', done.stdout)
        self.assertNotIn('Eventlet', done.stderr)
