import configparser
import contextlib
import io
import json
import os

import fixtures
from cliff import app
from cliff import commandmanager
from oslotest import base

from cryptomine_scheduler.cli import simulate
from cryptomine_scheduler.simulator import __main__ as module_main

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
        self.assertEqual({'report.json', 'heatmap.png', 'sigma.png',
                          'cdf.png'}, set(os.listdir(folder)))
