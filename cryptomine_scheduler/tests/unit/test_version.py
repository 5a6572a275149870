import subprocess
import sys
from importlib import metadata
from unittest import mock

from oslotest import base
from pbr import version as pbr_version

from cryptomine_scheduler import version


class TestVersion(base.BaseTestCase):

    def test_what_pip_reports(self):
        # pip show prints the installed metadata's version.
        self.assertEqual(metadata.version('cryptomine-scheduler'),
                         version.version_string())

    def test_keeps_the_development_suffix(self):
        # pbr's version_string() would print 0.0.1 for 0.0.1.dev108.
        self.assertEqual(
            pbr_version.VersionInfo('cryptomine-scheduler').release_string(),
            version.version_string())

    def test_a_source_tree_asks_pbr(self):
        with mock.patch.object(metadata, 'version',
                               side_effect=metadata.PackageNotFoundError), \
                mock.patch.object(pbr_version.VersionInfo, 'release_string',
                                  return_value='9.9.9.dev1'):
            self.assertEqual('9.9.9.dev1', version.version_string())


class TestCommandsPrintIt(base.BaseTestCase):

    def test_version_option_of_every_command(self):
        expected = metadata.version('cryptomine-scheduler')
        for module in ('cryptomine_scheduler.cli.app',
                       'cryptomine_scheduler.cmd.controller',
                       'load_collector.launch'):
            with self.subTest(module=module):
                done = subprocess.run(
                    [sys.executable, '-m', module, '--version'],
                    capture_output=True, text=True, timeout=300)
                self.assertEqual(0, done.returncode, done.stderr)
                printed = (done.stdout + done.stderr).split()
                self.assertEqual(expected, printed[-1])
