import os

import fixtures
from oslo_config import generator
from oslotest import base

from cryptomine_scheduler import conf
from load_collector import conf as collector_conf

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
ETC = os.path.join(ROOT, 'etc', 'cryptomine')


class TestConfigSample(base.BaseTestCase):

    def test_committed_sample_is_current(self):
        out = os.path.join(self.useFixture(fixtures.TempDir()).path, 's')
        generator.main(['--config-file',
                        os.path.join(ETC, 'cryptomine-config-generator.conf'),
                        '--output-file', out])
        with open(out) as fresh, open(os.path.join(
                ETC, 'cryptomine.conf.sample')) as committed:
            self.assertEqual(
                fresh.read(), committed.read(),
                'etc/cryptomine/cryptomine.conf.sample is stale: run '
                '"tox -e genconfig" and commit the result')

    def test_every_option_has_help(self):
        for group, opts in conf.list_opts() + collector_conf.list_opts():
            for opt in opts:
                with self.subTest(group=str(group), opt=opt.name):
                    self.assertGreater(len(opt.help or ''), 20)
