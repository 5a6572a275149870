"""``cryptomine-host-key``, run in process with its output captured."""

import io
import os
from importlib import metadata

import fixtures
from oslotest import base

from cryptomine_scheduler.cmd import host_key
from cryptomine_scheduler.telemetry import signing
from cryptomine_scheduler.tests import samples


class TestHostKeyCommand(base.BaseTestCase):

    def run_command(self, conf_text: str, *hosts: str):
        """Exit status, stdout and stderr of the command reading a
        configuration file holding ``conf_text``."""
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'cryptomine.conf')
        with open(path, 'w') as f:
            f.write(conf_text)
        out, err = io.StringIO(), io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', out))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', err))
        status = host_key.main(['--config-file', path, *hosts])
        return status, out.getvalue(), err.getvalue()

    def key(self, host: str) -> str:
        return signing.derive_host_key(samples.SECRET, host).hex()

    def test_one_host_prints_its_key(self):
        status, out, _ = self.run_command(
            f'[messaging]\nmaster_secret = {samples.SECRET}\n', 'compute-7')
        self.assertEqual((0, self.key('compute-7') + '\n'), (status, out))
        # What the collector reads back from [messaging] host_key.
        self.assertEqual(signing.derive_host_key(samples.SECRET, 'compute-7'),
                         signing.parse_host_key(out.strip()))

    def test_several_hosts_print_host_and_key(self):
        status, out, _ = self.run_command(
            f'[messaging]\nmaster_secret = {samples.SECRET}\n',
            'compute-7', 'compute-8')
        self.assertEqual(0, status)
        self.assertEqual([f'compute-7 {self.key("compute-7")}',
                          f'compute-8 {self.key("compute-8")}'],
                         out.splitlines())

    def test_missing_or_short_master_secret_fails(self):
        for conf_text in ('[messaging]\nhost_key = 00\n',
                          '[messaging]\nmaster_secret = too-short\n'):
            status, out, err = self.run_command(conf_text, 'compute-7')
            self.assertEqual((2, ''), (status, out))
            self.assertIn('master_secret must be set (16+ characters)', err)

    def test_no_host_fails_with_usage(self):
        status, out, err = self.run_command(
            f'[messaging]\nmaster_secret = {samples.SECRET}\n')
        self.assertEqual((2, ''), (status, out))
        self.assertIn('usage: cryptomine-host-key', err)
        self.assertIn('name at least one HOST', err)

    def test_installed_as_console_script(self):
        (script,) = metadata.entry_points(group='console_scripts',
                                          name='cryptomine-host-key')
        self.assertIs(host_key.main, script.load())
