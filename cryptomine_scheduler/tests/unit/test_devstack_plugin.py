"""The devstack plugin, run phase by phase under bash.

The devstack functions it calls are the stand-ins of
``tests/devstack/functions.sh``: ini files are really written, and what
would install or start something is logged.  The resulting files are read
back through nova's and our own option definitions.
"""

import getpass
import glob
import hashlib
import os
import shutil
import socket
import subprocess
import sys

import fixtures
from nova.conf import scheduler as nova_scheduler_conf
from oslo_config import cfg
from oslo_log import log as logging
from oslotest import base

from cryptomine_scheduler.conf import scheduler as scheduler_conf
from cryptomine_scheduler.control import service
from cryptomine_scheduler.telemetry import signing
from cryptomine_scheduler.telemetry import validation
from cryptomine_scheduler.tests import config as test_config
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests.functional import test_bus_permissions

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
FUNCTIONS = os.path.join(ROOT, 'cryptomine_scheduler', 'tests', 'devstack',
                         'functions.sh')
FILTER = 'cryptomine_scheduler.scheduler.filter.LoadAwareFilter'
WEIGHER = 'cryptomine_scheduler.scheduler.weigher.LoadAwareWeigher'
ALL_FILTERS = 'nova.scheduler.filters.all_filters'
ALL_WEIGHERS = 'nova.scheduler.weights.all_weighers'
# What devstack's lib/nova writes into nova.conf before post-config.
DEVSTACK_FILTERS = ('ComputeFilter,AvailabilityZoneFilter,'
                    'ComputeCapabilitiesFilter,ImagePropertiesFilter,'
                    'ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter')
DEVSTACK_NOVA_CONF = f"""[DEFAULT]
transport_url = rabbit://stackrabbit:rabbit-pw@10.0.0.1:5672/

[filter_scheduler]
enabled_filters = {DEVSTACK_FILTERS}
"""
STACK = ('stack install', 'stack post-config', 'stack extra')
ALL_IN_ONE = 'key,mysql,rabbit,n-api,n-cond,n-sch,n-cpu,cm-controller'
CONTROLLER = 'key,mysql,rabbit,n-api,n-cond,n-sch,cm-controller'
COMPUTE = 'n-cpu,q-agt'
DEVSTACK_URL = 'rabbit://stackrabbit:rabbit-pw@10.0.0.1:5672/'
ACCOUNTS = ['create_service_user cryptomine',
            'get_or_create_service cryptomine load-placement Load-aware '
            'placement of cryptomine-scheduler',
            'get_or_create_endpoint load-placement RegionOne '
            'http://10.0.0.1:9787']


def bus_url(role: str, service_password: str = 'service-pw') -> str:
    """The transport URL of ``role``'s bus user as devstack derives it."""
    password = hashlib.sha256(f'cryptomine-rabbit:{role}:'
                              f'{service_password}'.encode()).hexdigest()
    return f'rabbit://cryptomine-{role}:{password}@10.0.0.1:5672/cryptomine'


def read_ini(path: str) -> dict:
    """``{section: {option: [values]}}`` as oslo.config parses it."""
    sections: dict = {}
    cfg.ConfigParser(path, sections).parse()
    return sections


def read_ini_text(text: str, folder: str) -> dict:
    """:func:`read_ini` of ``text``."""
    path = os.path.join(folder, 'expected.ini')
    with open(path, 'w') as f:
        f.write(text)
    return read_ini(path)


class DevstackPluginTest(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.dest = os.path.join(self.tmp, 'opt', 'stack')
        self.nova_conf = os.path.join(self.tmp, 'nova', 'nova.conf')
        self.nova_cpu_conf = os.path.join(self.tmp, 'nova', 'nova-cpu.conf')
        self.conf_dir = os.path.join(self.tmp, 'cryptomine')
        self.conf_path = os.path.join(self.conf_dir, 'cryptomine.conf')
        self.data_dir = os.path.join(self.dest, 'data', 'cryptomine')
        self.log = os.path.join(self.tmp, 'calls.log')
        os.makedirs(os.path.dirname(self.nova_conf))
        with open(self.nova_conf, 'w') as f:
            f.write(DEVSTACK_NOVA_CONF)
        self.bin_dir = os.path.join(self.dest, 'data', 'venv', 'bin')

    def devstack(self, services, *phases, check=True, **local_conf):
        """Source settings, then plugin.sh once per phase; return bash."""
        script = ('set -eu -o pipefail\nsource "$1"\nsource devstack/settings'
                  '\n' + ''.join(f'source devstack/plugin.sh {phase}\n'
                                 for phase in phases))
        env = {
            'PATH': os.environ['PATH'],
            'HARNESS_LOG': self.log, 'HARNESS_PYTHON': sys.executable,
            'ENABLED_SERVICES': services, 'STACK_USER': getpass.getuser(),
            'DEST': self.dest, 'DATA_DIR': os.path.join(self.dest, 'data'),
            'NOVA_CONF': self.nova_conf, 'NOVA_CPU_CONF': self.nova_cpu_conf,
            'CRYPTOMINE_CONF_DIR': self.conf_dir,
            'ENABLE_DEBUG_LOG_LEVEL': 'True',
            'SERVICE_PASSWORD': 'service-pw', 'SERVICE_PROJECT_NAME':
            'service', 'SERVICE_DOMAIN_NAME': 'Default',
            'REGION_NAME': 'RegionOne', 'SERVICE_HOST': '10.0.0.1',
            'SERVICE_PROTOCOL': 'http', 'SERVICE_LISTEN_ADDRESS': '0.0.0.0',
            'KEYSTONE_SERVICE_URI': 'http://10.0.0.1/identity',
            'RABBIT_HOST': '10.0.0.1', 'RABBIT_PASSWORD': 'rabbit-pw',
            'DATABASE_HOST': '10.0.0.1', 'DATABASE_PASSWORD': 'db-pw',
            **local_conf}
        result = subprocess.run(['bash', '-c', script, 'harness', FUNCTIONS],
                                cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=120)
        if check:
            self.assertEqual(0, result.returncode, result.stderr)
        return result

    def calls(self) -> list[str]:
        """What would have run, but RabbitMQ's commands."""
        return [c for c in self.all_calls()
                if not c.startswith('rabbitmqctl ')]

    def all_calls(self) -> list[str]:
        with open(self.log) as f:
            return f.read().splitlines()

    def bus_users(self) -> dict:
        """``{role: (permissions, topics)}`` as :data:`test_bus_permissions.
        ROLES` has them, from the rabbitmqctl commands run."""
        found = {}
        for call in self.all_calls():
            words = call.split()
            if words[1] == 'set_permissions':
                self.assertEqual(['-p', 'cryptomine'], words[2:4])
                role = words[4].removeprefix('cryptomine-')
                found[role] = (tuple(words[5:8]), None)
            elif words[1] == 'set_topic_permissions':
                self.assertEqual(['-p', 'cryptomine'], words[2:4])
                role = words[4].removeprefix('cryptomine-')
                self.assertEqual(['cryptomine', '.*'], [words[5], words[7]])
                found[role] = (found[role][0], words[6])
        return found

    def api_conf(self) -> dict:
        return read_ini(os.path.join(self.conf_dir, 'cryptomine-api.conf'))

    def process(self, service_name: str) -> str:
        """The logged start of ``cm-X``, which runs ``cryptomine-X``."""
        program = service_name.replace('cm-', 'cryptomine-')
        return (f'run_process {service_name} {self.bin_dir}/{program} '
                f'--config-file {self.conf_path}')

    def api_process(self) -> str:
        return (f'run_process cm-api {self.bin_dir}/cryptomine-api '
                f'--config-file {self.conf_dir}/cryptomine-api.conf')

    def cryptomine_conf(self) -> cfg.ConfigOpts:
        """cryptomine.conf as the services read it."""
        conf = cfg.ConfigOpts()
        test_config.register_all_opts(conf)
        logging.register_options(conf)
        conf(['--config-file', self.conf_path], default_config_files=[])
        return conf

    def nova_scheduler(self) -> cfg.ConfigOpts:
        """nova.conf as nova-scheduler and our plugin read it."""
        conf = cfg.ConfigOpts()
        nova_scheduler_conf.register_opts(conf)
        scheduler_conf.register_opts(conf)
        conf(['--config-file', self.nova_conf], default_config_files=[])
        return conf

    def assert_nova_conf_untouched(self):
        with open(self.nova_conf) as f:
            self.assertEqual(DEVSTACK_NOVA_CONF, f.read())


class TestStack(DevstackPluginTest):

    def test_all_in_one(self):
        self.devstack(ALL_IN_ONE, *STACK)

        self.assertEqual([f'setup_develop {ROOT} controller,api,cli',
                          'recreate_database cryptomine', *ACCOUNTS,
                          self.process('cm-controller'),
                          self.process('cm-collector'),
                          self.api_process()], self.calls())
        self.assertEqual(test_bus_permissions.ROLES, self.bus_users())
        conf = self.cryptomine_conf()
        # The collector shares the controller's file, and bus user.
        self.assertEqual(bus_url('controller'), conf.transport_url)
        self.assertEqual('mysql+pymysql://root:db-pw@10.0.0.1/cryptomine'
                         '?charset=utf8', conf.database.connection)
        self.assertEqual(self.data_dir, conf.state_path)
        self.assertTrue(conf.debug)
        # Controller and collector share the file: the master secret only.
        self.assertRegex(conf.messaging.master_secret, '^[0-9a-f]{64}$')
        self.assertIsNone(conf.messaging.host_key)
        service.validation_policy(conf)  # the controller would start
        self.assertEqual(10.0, conf.collector.interval)
        self.assertEqual(0, conf.prometheus.metrics_port)
        self.assertEqual(0o600, os.stat(self.conf_path).st_mode & 0o777)
        raw = read_ini(self.conf_path)
        self.assertEqual(
            [bus_url('controller')],
            raw['oslo_messaging_notifications']['transport_url'])
        api = self.api_conf()
        self.assertEqual([bus_url('api')], api['DEFAULT']['transport_url'])
        self.assertEqual(['9787'], api['api']['bind_port'])
        self.assertEqual(['cryptomine'],
                         api['keystone_authtoken']['username'])
        self.assertEqual(
            {'interval': ['600'], 'dry_run': ['False'],
             'coordination_url': [f'file://{self.data_dir}/coordination']},
            raw['replan'])
        self.assertEqual(
            {'auth_type': ['password'],
             'auth_url': ['http://10.0.0.1/identity'],
             'username': ['nova'], 'password': ['service-pw'],
             'project_name': ['service'], 'user_domain_name': ['Default'],
             'project_domain_name': ['Default'],
             'region_name': ['RegionOne']},
            raw['nova_api'])

        nova = self.nova_scheduler()
        self.assertEqual([ALL_FILTERS, FILTER],
                         nova.filter_scheduler.available_filters)
        self.assertEqual(DEVSTACK_FILTERS.split(',') + ['LoadAwareFilter'],
                         nova.filter_scheduler.enabled_filters)
        self.assertEqual([ALL_WEIGHERS, WEIGHER],
                         nova.filter_scheduler.weight_classes)
        self.assertEqual(bus_url('nova'),
                         nova.cryptomine.controller_transport_url)
        self.assertEqual('pass', nova.cryptomine.missing_data_policy)
        self.assertEqual(90.0, nova.cryptomine.max_cpu_percent)
        self.assertEqual(1.0, nova.cryptomine.weight_multiplier)
        self.assertTrue(conf.nova_notifications.enabled)
        self.assertEqual(['versioned_notifications',
                          'cryptomine_notifications'],
                         read_ini(self.nova_conf)['notifications']
                         ['versioned_notifications_topics'][0].split(','))

    def test_controller_node(self):
        self.devstack(CONTROLLER, *STACK)

        self.assertEqual([f'setup_develop {ROOT} controller,api,cli',
                          'recreate_database cryptomine', *ACCOUNTS,
                          self.process('cm-controller'),
                          self.api_process()], self.calls())
        raw = read_ini(self.conf_path)
        self.assertIn('database', raw)
        self.assertNotIn('collector', raw)
        self.assertEqual(['master_secret'], list(raw['messaging']))
        self.assertIn(FILTER,
                      self.nova_scheduler().filter_scheduler.available_filters)

    def test_compute_node(self):
        with open(self.nova_cpu_conf, 'w') as f:
            f.write('[DEFAULT]\nhost = compute-7\n')
        self.devstack(COMPUTE, *STACK)

        self.assertEqual([f'setup_develop {ROOT}',
                          self.process('cm-collector')], self.calls())
        conf = self.cryptomine_conf()
        self.assertEqual('compute-7', conf.collector.host)
        self.assertEqual(bus_url('collector'), conf.transport_url)
        self.assertEqual([bus_url('collector')], read_ini(self.conf_path)[
            'oslo_messaging_notifications']['transport_url'])
        # RabbitMQ runs on the controller node: no user made here.
        self.assertEqual({}, self.bus_users())
        raw = read_ini(self.conf_path)
        self.assertEqual(['host_key'], list(raw['messaging']))
        for controller_only in ('database', 'replan', 'nova_api',
                                'prometheus'):
            self.assertNotIn(controller_only, raw)
        # nova-compute sends versioned notifications to the controller's
        # topic too; nothing else of nova.conf changes.
        nova = read_ini(self.nova_conf)
        self.assertEqual(
            {'notification_format': ['both'],
             'versioned_notifications_topics':
                 ['versioned_notifications,cryptomine_notifications']},
            nova.pop('notifications'))
        self.assertEqual(read_ini_text(DEVSTACK_NOVA_CONF, self.dest), nova)

    def compute_node_payload(self, claimed_host=None) -> dict:
        """A sample signed with the compute node's key, for its own host
        or ``claimed_host``."""
        conf = self.cryptomine_conf()
        key = signing.parse_host_key(conf.messaging.host_key)
        s = samples.make(host=claimed_host or conf.collector.host)
        return signing.envelope(s.to_wire(), key)

    def test_controller_node_accepts_the_compute_node_key(self):
        self.devstack(CONTROLLER, *STACK)
        policy = service.validation_policy(self.cryptomine_conf())
        self.devstack(COMPUTE, *STACK)
        # Without nova-cpu.conf, the machine's name, as nova-compute's.
        self.assertEqual(socket.gethostname(),
                         self.cryptomine_conf().collector.host)
        now = samples.make().timestamp
        validation.validate(self.compute_node_payload(), policy, now)

        other_host = self.compute_node_payload(claimed_host='compute-8')
        self.devstack(COMPUTE, *STACK, SERVICE_PASSWORD='another-pw')
        other_secret = self.compute_node_payload()
        for payload in (other_host, other_secret):
            err = self.assertRaises(validation.Rejected, validation.validate,
                                    payload, policy, now)
            self.assertEqual(validation.Reason.BAD_SIGNATURE, err.reason)

    def test_operator_scheduler_settings_kept(self):
        with open(self.nova_conf, 'w') as f:
            f.write('[filter_scheduler]\n'
                    'available_filters = my.filters.RackFilter\n'
                    'enabled_filters = ComputeFilter, RackFilter\n'
                    'weight_classes = my.weights.RackWeigher\n')
        # post-config twice: the second run adds nothing.
        self.devstack(CONTROLLER, 'stack post-config', 'stack post-config')

        nova = self.nova_scheduler().filter_scheduler
        self.assertEqual(['my.filters.RackFilter', FILTER],
                         nova.available_filters)
        self.assertEqual(['ComputeFilter', 'RackFilter', 'LoadAwareFilter'],
                         nova.enabled_filters)
        self.assertEqual(['my.weights.RackWeigher', WEIGHER],
                         nova.weight_classes)

    def test_nova_defaults_when_nova_conf_leaves_them_unset(self):
        with open(self.nova_conf, 'w') as f:
            f.write('[DEFAULT]\ndebug = True\n')
        self.devstack(CONTROLLER, 'stack post-config')

        nova = self.nova_scheduler().filter_scheduler
        defaults = cfg.ConfigOpts()
        nova_scheduler_conf.register_opts(defaults)
        defaults([], default_config_files=[])
        self.assertEqual([ALL_FILTERS, FILTER], nova.available_filters)
        self.assertEqual(
            defaults.filter_scheduler.enabled_filters + ['LoadAwareFilter'],
            nova.enabled_filters)
        self.assertEqual([ALL_WEIGHERS, WEIGHER], nova.weight_classes)

    def test_local_conf_overrides(self):
        self.devstack(
            ALL_IN_ONE, *STACK,
            CRYPTOMINE_MASTER_SECRET='0123456789abcdef-from-local-conf',
            CRYPTOMINE_REPLAN_INTERVAL='600', CRYPTOMINE_REPLAN_DRY_RUN='yes',
            CRYPTOMINE_METRICS_PORT='9180', CRYPTOMINE_RISK_FACTOR='1.5',
            CRYPTOMINE_MINERS='10.20.0.11,10.20.0.12:4029',
            CRYPTOMINE_MISSING_DATA_POLICY='reject',
            CRYPTOMINE_NOVA_USER='admin')

        conf = self.cryptomine_conf()
        self.assertEqual('0123456789abcdef-from-local-conf',
                         conf.messaging.master_secret)
        self.assertEqual(9180, conf.prometheus.metrics_port)
        self.assertEqual(1.5, conf.cryptomine.risk_factor)
        self.assertEqual(['10.20.0.11', '10.20.0.12:4029'],
                         conf.collector.miners)
        raw = read_ini(self.conf_path)
        self.assertEqual(['600'], raw['replan']['interval'])
        self.assertEqual(['True'], raw['replan']['dry_run'])
        self.assertEqual(['admin'], raw['nova_api']['username'])
        nova = self.nova_scheduler().cryptomine
        self.assertEqual('reject', nova.missing_data_policy)
        self.assertEqual(1.5, nova.risk_factor)

    def test_scheduler_integration_can_be_turned_off(self):
        self.devstack(ALL_IN_ONE, *STACK,
                      CRYPTOMINE_ENABLE_SCHEDULER='False')
        self.assert_nova_conf_untouched()

    def test_collector_can_be_disabled(self):
        self.devstack(ALL_IN_ONE, *STACK, DISABLED_SERVICES='cm-collector')
        self.assertEqual([f'setup_develop {ROOT} controller,api,cli',
                          'recreate_database cryptomine', *ACCOUNTS,
                          self.process('cm-controller'),
                          self.api_process()], self.calls())

    def test_short_secret_stops_the_stack(self):
        result = self.devstack(ALL_IN_ONE, *STACK, check=False,
                               CRYPTOMINE_MASTER_SECRET='too-short')
        self.assertNotEqual(0, result.returncode)
        self.assertIn('16 characters', result.stderr)
        self.assertNotIn('run_process', ''.join(self.calls()))

    def test_no_message_bus_stops_the_stack(self):
        result = self.devstack(COMPUTE, *STACK, check=False, RABBIT_HOST='')
        self.assertNotEqual(0, result.returncode)
        self.assertIn('RABBIT_HOST', result.stderr)


class TestUnstackAndClean(DevstackPluginTest):

    def test_unstack_stops_and_clean_removes_state(self):
        self.devstack(ALL_IN_ONE, *STACK)
        self.assertTrue(os.path.exists(self.conf_path))
        self.assertTrue(os.path.isdir(self.data_dir))

        self.devstack(ALL_IN_ONE, 'unstack', 'clean')
        self.assertEqual(['stop_process cm-controller',
                          'stop_process cm-collector',
                          'stop_process cm-api'], self.calls()[-3:])
        self.assertFalse(os.path.exists(self.conf_dir))
        self.assertFalse(os.path.exists(self.data_dir))


class TestShellcheck(base.BaseTestCase):

    PATTERNS = ('devstack/*.sh', 'devstack/settings', 'devstack/lib/*',
                'tools/*.sh', 'cryptomine_scheduler/tests/devstack/*.sh')

    def test_shell_scripts_are_clean(self):
        if shutil.which('shellcheck') is None:
            self.skipTest('shellcheck is not installed (tools/run-tests.sh '
                          'installs it)')
        scripts = sorted(path for pattern in self.PATTERNS
                         for path in glob.glob(pattern, root_dir=ROOT))
        self.assertIn('devstack/lib/cryptomine', scripts)
        result = subprocess.run(
            ['shellcheck', '--external-sources', '--shell=bash', *scripts],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
        self.assertEqual(0, result.returncode, result.stdout)
