import os
import subprocess
import sys

import fixtures
from oslotest import base

from cryptomine_scheduler import conf
from cryptomine_scheduler.conf import nova_api as nova_api_conf
from cryptomine_scheduler.conf import scheduler as scheduler_conf
from load_collector import conf as collector_conf

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
ETC = os.path.join(ROOT, 'etc', 'cryptomine')


def generate(args: list[str]) -> None:
    """Run a sample generator in a fresh interpreter: tests in this
    process change libraries' option defaults (nova's fixtures and the
    API's tests set oslo.policy's), which would leak into the sample."""
    subprocess.run([sys.executable, *args], check=True, capture_output=True,
                   timeout=300)


class TestConfigSample(base.BaseTestCase):

    SAMPLES = [
        ('cryptomine-config-generator.conf', 'cryptomine.conf.sample'),
        ('nova-scheduler-config-generator.conf',
         'nova-cryptomine.conf.sample'),
    ]

    def test_committed_samples_are_current(self):
        for generator_conf, sample in self.SAMPLES:
            out = os.path.join(self.useFixture(fixtures.TempDir()).path, 's')
            generate(['-m', 'oslo_config.generator', '--config-file',
                      os.path.join(ETC, generator_conf),
                      '--output-file', out])
            with open(out) as fresh, open(os.path.join(
                    ETC, sample)) as committed:
                self.assertEqual(
                    fresh.read(), committed.read(),
                    f'etc/cryptomine/{sample} is stale: run "tox -e '
                    'genconfig" and commit the result')

    def test_every_option_has_help(self):
        # keystoneauth's options come with keystoneauth's terse help.
        theirs = nova_api_conf.keystoneauth_opts()
        for group, opts in (conf.list_opts() + collector_conf.list_opts()
                            + scheduler_conf.list_opts()):
            for opt in opts:
                if opt in theirs:
                    continue
                with self.subTest(group=str(group), opt=opt.name):
                    self.assertGreater(len(opt.help or ''), 20)
