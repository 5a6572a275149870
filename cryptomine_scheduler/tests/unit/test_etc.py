"""The deployment files of ``etc/``: logging config and systemd units."""

import configparser
import os
import subprocess
import sys

import fixtures
from oslotest import base

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
ETC = os.path.join(ROOT, 'etc')
LOG_FILE = '/var/log/cryptomine/cryptomine.log'
# Logs through oslo.log as a service does, with the log file moved away
# in between as logrotate does.
SERVICE = """
import os, sys
from oslo_config import cfg
from oslo_log import log
conf = cfg.ConfigOpts()
log.register_options(conf)
conf(['--config-file', sys.argv[1]], default_config_files=[])
log.setup(conf, 'cryptomine')
log.getLogger('cryptomine_scheduler.control.service').info('before rotation')
os.rename(sys.argv[2], sys.argv[2] + '.1')
log.getLogger('load_collector.daemon').info('after rotation')
log.getLogger('load_collector.daemon').debug('a debug line')
"""


class TestLoggingConfig(base.BaseTestCase):

    def test_file_reopened_after_rotation(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        log_file = os.path.join(tmp, 'cryptomine.log')
        with open(os.path.join(ETC, 'cryptomine', 'logging.conf')) as f:
            text = f.read()
        self.assertEqual(1, text.count(LOG_FILE))
        logging_conf = os.path.join(tmp, 'logging.conf')
        with open(logging_conf, 'w') as f:
            f.write(text.replace(LOG_FILE, log_file))
        service_conf = os.path.join(tmp, 'cryptomine.conf')
        with open(service_conf, 'w') as f:
            f.write(f'[DEFAULT]\nlog_config_append = {logging_conf}\n')

        result = subprocess.run(
            [sys.executable, '-c', SERVICE, service_conf, log_file],
            capture_output=True, text=True, timeout=60)

        self.assertEqual(0, result.returncode, result.stderr)
        with open(log_file + '.1') as f:
            rotated = f.read()
        with open(log_file) as f:
            current = f.read()
        self.assertIn(
            'INFO cryptomine_scheduler.control.service before rotation',
            rotated)
        self.assertIn('INFO load_collector.daemon after rotation', current)
        self.assertNotIn('debug line', rotated + current)


class TestSystemdUnits(base.BaseTestCase):

    def console_scripts(self) -> set[str]:
        setup = configparser.ConfigParser(interpolation=None)
        setup.read(os.path.join(ROOT, 'setup.cfg'))
        return {line.split('=')[0].strip() for line in
                setup['entry_points']['console_scripts'].splitlines()
                if line.strip()}

    def test_units_start_the_services(self):
        scripts = self.console_scripts()
        for name in ('cryptomine-collector', 'cryptomine-controller'):
            with self.subTest(unit=name):
                unit = configparser.ConfigParser(interpolation=None,
                                                 strict=True)
                unit.optionxform = str  # systemd keys are case-sensitive
                unit.read(os.path.join(ETC, 'systemd', f'{name}.service'))
                service = unit['Service']
                program, *args = service['ExecStart'].split()
                self.assertEqual(name, os.path.basename(program))
                self.assertIn(name, scripts)
                self.assertEqual(
                    ['--config-file', '/etc/cryptomine/cryptomine.conf'],
                    args)
                # Restarted on any exit systemctl did not ask for; SIGHUP
                # reloads; SIGTERM to the main process alone.
                self.assertEqual('always', service['Restart'])
                self.assertEqual('/bin/kill -HUP $MAINPID',
                                 service['ExecReload'])
                self.assertEqual('mixed', service['KillMode'])
                self.assertEqual('cryptomine', service['User'])
                self.assertEqual('multi-user.target',
                                 unit['Install']['WantedBy'])
