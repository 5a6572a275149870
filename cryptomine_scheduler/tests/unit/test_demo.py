"""``cryptomine-demo`` builds its configuration from nothing on disk."""

import os

import fixtures
from oslotest import base

from cryptomine_scheduler.cmd import demo


class TestDemoConf(base.BaseTestCase):

    def test_ignores_the_machines_configuration_files(self):
        # A deployment's cryptomine.conf where oslo.config looks by
        # default (~/.cryptomine/, like /etc/cryptomine/): the demo must
        # not serve its metrics port nor store into its database.
        home = self.useFixture(fixtures.TempDir()).path
        os.mkdir(os.path.join(home, '.cryptomine'))
        with open(os.path.join(home, '.cryptomine', 'cryptomine.conf'),
                  'w') as f:
            f.write('[prometheus]\nmetrics_port = 9180\n'
                    '[database]\nconnection = '
                    'postgresql+psycopg2://cryptomine:pw@db-host/cryptomine\n'
                    '[collector]\nsources = host\n')
        self.useFixture(fixtures.EnvironmentVariable('HOME', home))
        state = self.useFixture(fixtures.TempDir()).path

        conf = demo.build_conf(state, 1.0)

        self.assertEqual([], conf.config_file)
        self.assertEqual(0, conf.prometheus.metrics_port)
        self.assertEqual(f'sqlite:///{state}/cryptomine.sqlite',
                         conf.database.connection)
        self.assertEqual(1.0, conf.collector.interval)
