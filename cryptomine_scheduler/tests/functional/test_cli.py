"""The ``cryptomine`` command line against cryptomine-api and a real
controller with stored history, nova faked at the re-planner's edge.

The API runs in the test's process behind keystonemiddleware's auth_token
(its test fixture validates the tokens the tests make) and the real
policy engine.  In one process, the cliff App's ``run(argv)`` reaches it
through keystoneauth, the API reaching a controller on the fake
transport: every command and output format, and the errors.  The console
scripts, ``cryptomine`` and OpenStackClient's ``openstack``, as
subprocesses, reach an API whose controller is on a private RabbitMQ.
"""

import argparse
import csv
import dataclasses
import importlib.metadata
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time

import fixtures
import oslo_messaging
import yaml
from oslotest import base

from cryptomine_scheduler import rpc
from cryptomine_scheduler.cli import app as app_mod
from cryptomine_scheduler.cli import hosts
from cryptomine_scheduler.cli import osc_plugin
from cryptomine_scheduler.control import service
from cryptomine_scheduler.db import plans
from cryptomine_scheduler.history import placements
from cryptomine_scheduler.placement import device_inventory
from cryptomine_scheduler.replan import executor
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests import api_server
from cryptomine_scheduler.tests import fake_identity
from cryptomine_scheduler.tests import fake_nova
from cryptomine_scheduler.tests import fleets
from cryptomine_scheduler.tests import rabbit
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.unit import test_controller
from cryptomine_scheduler.tests.unit import test_replan
from load_collector import publisher as publisher_mod

CONSOLE_SCRIPT = os.path.join(os.path.dirname(sys.executable), 'cryptomine')
OPENSTACK = os.path.join(os.path.dirname(sys.executable), 'openstack')
SERVERS = [test_replan.server_id(n) for n in range(6)]
#: The guest of ``asic1``'s miner, which loses three quarters of its
#: hashrate in the newest sample.
MINING_GUEST = test_replan.server_id(99)
FLEET = {'hot', 'cold1', 'cold2', 'gpu1', 'asic1', 'quiet1', 'gone1'}
FLEET_SAMPLES = 10 * len(FLEET)
NOTHING_TO_DO = re.compile(r'^nothing to do: plan [0-9a-f-]{36} found no '
                           r'move worth its cost \(objective [0-9.]+\)$')


def fleet_samples(nova: fake_nova.FakeNova, now: float) -> list:
    """Ten samples, one a second, of: the skewed cluster's hosts (``hot``
    carries its six servers and a collector that buffers, the others'
    collectors send no counters), a GPU host, an ASIC host (its miner's
    guest :data:`MINING_GUEST`), ``quiet1``
    silent for four minutes and ``gone1`` for fifteen (stale; beyond the
    summary window: a restarted controller summarises its last window)."""
    found = []
    for name in test_replan.HOSTS:
        guests = [s for s in nova.cluster().servers if s.host == name]
        found += [samples.make(
            host=name, seq=i, timestamp=now - 10 + i,
            cpu=10.0 * len(guests) + 2.0 + 0.5 * i,
            mem=100.0 * 4096 * len(guests) / test_replan.MEMORY_MB + 5.0,
            instances=[sample.InstanceLoad(s.uuid, 10.0, 4096.0)
                       for s in guests],
            collector=samples.COUNTERS if name == 'hot' else None)
            for i in range(10)]
    for i in range(10):
        found += [
            samples.make(host='gpu1', seq=i, timestamp=now - 10 + i,
                         cpu=30.0, gpus=[samples.gpu(0),
                                         samples.gpu(1, temp=75.0)],
                         sensors=sample.HostSensors(
                             inlet_temperature_c=27.0,
                             chassis_power_w=2300.0 + 20.0 * (i % 2),
                             chassis_power_cap_w=2600.0),
                         collector=sample.CollectorCounters(0, 0, 0, 0),
                         cpus=32),
            samples.make(host='asic1', seq=i, timestamp=now - 10 + i,
                         cpu=5.0, instances=[
                             sample.InstanceLoad(MINING_GUEST, 2.0, 2048.0)],
                         asics=[samples.asic(
                             1, hashrate=13500.0 if i < 9 else 3375.0,
                             errors=10 + i, instance_uuid=MINING_GUEST)]),
            samples.make(host='quiet1', seq=i, timestamp=now - 250 + i),
            samples.make(host='gone1', seq=i, timestamp=now - 900 + i)]
    return found


class TerminalIO(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


class AppLogging(fixtures.Fixture):
    """Puts back the logging that each App run configures (a root
    handler, the root level, quieted loggers, captured warnings)."""

    def _setUp(self):
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        quiet = {n: logging.getLogger(n).level
                 for n in app_mod.QUIET_LOGGERS}
        self.addCleanup(logging.captureWarnings, False)
        self.addCleanup(root.setLevel, level)
        self.addCleanup(setattr, root, 'handlers', handlers)
        for name, old in quiet.items():
            self.addCleanup(logging.getLogger(name).setLevel, old)


@dataclasses.dataclass
class Result:
    rc: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)

    @property
    def error(self) -> str:
        """The command's error: the last line of stderr (in one process
        the controller's own log lines come first)."""
        return self.err.strip().splitlines()[-1]


def api_options(url: str, token: str) -> list[str]:
    """keystoneauth's options for ``token`` at the API at ``url``, no
    keystone asked (``admin_token``: a token and an endpoint)."""
    return ['--os-auth-type', 'admin_token', '--os-endpoint', url,
            '--os-token', token]


class CleanEnvironment(fixtures.Fixture):
    """No ``$OS_*`` variable and no clouds.yaml of this machine's."""

    def _setUp(self):
        for name in [n for n in os.environ if n.startswith('OS_')]:
            self.useFixture(fixtures.EnvironmentVariable(name))
        home = self.useFixture(fixtures.TempHomeDir()).path
        self.clouds_yaml = os.path.join(home, 'clouds.yaml')
        self.useFixture(fixtures.EnvironmentVariable(
            'OS_CLIENT_CONFIG_FILE', self.clouds_yaml))


class RunsApp:
    """Runs the App in this process against the API of ``self.api``
    (:class:`~.api_server.ApiServer`) with an administrator's token."""

    def serve_api(self, conf, transport) -> None:
        self.useFixture(CleanEnvironment())
        self.api = self.useFixture(api_server.ApiServer(conf, transport))
        self.admin = api_options(self.api.url,
                                 self.api.token(api_server.ADMIN))

    def cli(self, *argv: str, stdin: str = '', tty: bool = False,
            options: list[str] | None = None) -> Result:
        stream = TerminalIO if tty else io.StringIO
        out, err = io.StringIO(), stream()
        self.useFixture(AppLogging())
        rc = app_mod.CryptomineApp(stdin=stream(stdin), stdout=out,
                                   stderr=err).run(
            [*(self.admin if options is None else options), *argv])
        return Result(rc, out.getvalue(), err.getvalue())

    def ok(self, *argv: str, **kwargs) -> Result:
        result = self.cli(*argv, **kwargs)
        self.assertEqual(0, result.rc, result.err)
        return result


class InProcessTestCase(RunsApp, test_replan.ReplanTestCase):
    """The App against a controller on the fake transport."""

    def setUp(self):
        super().setUp()
        self.serve_api(self.conf, self.rpc_transport)

    def start_controller(self):
        # A batch as large as the fleet is stored without waiting for
        # the batch timeout.
        self.conf.set_override('batch_size', FLEET_SAMPLES, 'controller')
        return super().start_controller()

    def record_load(self):
        """Publish the fleet: stored history, not only summaries."""
        batch = fleet_samples(self.nova, time.time())
        self.publish(*batch)
        self.stored(len(batch))


class TestHosts(InProcessTestCase):

    def test_list_in_every_format(self):
        rows = {r['Host']: r for r in self.ok('host', 'list',
                                               '-f', 'json').json()}
        self.assertEqual(FLEET, set(rows))
        hot = rows['hot']
        self.assertEqual(('cpu', 66.5, 42.5, None), (
            hot['Kind'], hot['CPU'], hot['Memory'], hot['GPU']))
        self.assertEqual(65.7, hot['Predicted CPU'])  # mean + 1 std
        self.assertEqual(30.0, hot['CPU Trend'])      # 0.5 %/s
        gpu = rows['gpu1']
        self.assertEqual(('gpu', 98.0, 14.0, 14.3), (
            gpu['Kind'], gpu['GPU'], gpu['GPU Thermal Headroom'],
            gpu['GPU Power Headroom']))
        self.assertEqual('asic', rows['asic1']['Kind'])
        # Its BMC's chassis power, predicted: mean 2310 W + 1 std 10 W.
        self.assertEqual((2320.0, None), (gpu['Chassis Power'],
                                          hot['Chassis Power']))
        # Free devices as the filter counts them; the miner's hashrate
        # fell to a quarter of its baseline in the newest sample.
        mining = ('Free GPUs', 'Free Miners', 'Hashrate Ratio')
        self.assertEqual({'hot': (None, None, None), 'gpu1': (2, None, None),
                          'asic1': (None, 0, 0.25)},
                         {h: tuple(rows[h][c] for c in mining)
                          for h in ('hot', 'gpu1', 'asic1')})
        self.assertEqual({'quiet1', 'gone1'},
                         {h for h, r in rows.items() if r['Stale']})
        self.assertGreater(rows['quiet1']['Age'], 240)
        self.assertEqual((2, 5), (hot['Dropped'], hot['Buffered']))
        self.assertEqual((None, None), (rows['cold1']['Dropped'],
                                        rows['cold1']['Buffered']))
        # The controller learns no placements here.
        self.assertEqual({None}, {r['Warming'] for r in rows.values()})

        as_yaml = yaml.safe_load(self.ok('host', 'list', '-f', 'yaml').out)
        self.assertEqual([(r['Host'], r['CPU']) for r in as_yaml],
                         [(h, rows[h]['CPU']) for h in sorted(rows)])
        as_csv = list(csv.DictReader(io.StringIO(
            self.ok('host', 'list', '-f', 'csv').out)))
        self.assertEqual(list(hosts.ListHosts.COLUMNS), list(as_csv[0]))
        self.assertEqual(sorted(FLEET), [r['Host'] for r in as_csv])
        self.assertEqual(('gpu', '14.0', 'False'), (
            as_csv[4]['Kind'], as_csv[4]['GPU Thermal Headroom'],
            as_csv[4]['Stale']))
        values = self.ok('host', 'list', '-f', 'value', '-c', 'Host',
                         '-c', 'Stale').out.splitlines()
        self.assertIn('quiet1 True', values)
        self.assertIn('hot False', values)
        self.assertEqual(('2', '5', '', ''), (
            as_csv[5]['Dropped'], as_csv[5]['Buffered'],
            as_csv[0]['Dropped'], as_csv[0]['Buffered']))
        table = self.ok('host', 'list').out
        self.assertIn('| Predicted CPU |', table)
        self.assertRegex(table, r'\| hot +\| cpu +\| +66\.5 \|')
        self.assertRegex(table, r'\| hot +\|.*\| False +\| 2 +\| 5 +\|')

    def test_free_devices_as_placement_counts_them(self):
        # nova has allocated 7 of gpu1's 8 GPUs, though its samples show
        # two idle boards: the filter goes by placement, and so do the
        # API and the command line.
        self.controller.count_devices(lambda: {
            'gpu1': device_inventory.HostDevices(
                gpu=device_inventory.DeviceCount(total=8, used=7))})
        listed = {r['Host']: r['Free GPUs'] for r in self.ok(
            'host', 'list', '-f', 'json').json()}
        self.assertEqual((1, None), (listed['gpu1'], listed['hot']))
        self.assertEqual(1, self.ok('host', 'show', 'gpu1', '-f', 'json')
                         .json()['Free GPUs'])

    def test_compute_hosts_without_load_data_listed(self):
        # placement has ghost1, whose collector reports under another
        # name (or none runs there).
        self.controller.count_devices(lambda: {
            name: device_inventory.HostDevices()
            for name in (*FLEET, 'ghost1')})
        rows = self.ok('host', 'list', '-f', 'json').json()
        self.assertEqual(sorted((*FLEET, 'ghost1')),
                         [r['Host'] for r in rows])
        ghost = next(r for r in rows if r['Host'] == 'ghost1')
        self.assertEqual({'Host': 'ghost1', 'Stale': True},
                         {k: v for k, v in ghost.items() if v is not None})
        # Sorted on a column it has no value in (cliff puts those
        # first when descending).
        self.assertEqual(
            ['ghost1', 'hot', 'gpu1', 'gone1', 'quiet1', 'cold1', 'cold2',
             'asic1'],
            self.ok('host', 'list', '-f', 'value', '-c', 'Host',
                    '--sort-column', 'predicted_cpu',
                    '--sort-descending').out.split())

    def test_kind_and_stale_filters(self):
        self.controller.count_devices(lambda: {
            name: device_inventory.HostDevices()
            for name in (*FLEET, 'ghost1')})

        def listed(*options):
            return self.ok('host', 'list', '-f', 'value', '-c', 'Host',
                           *options).out.split()
        self.assertEqual(['gpu1'], listed('--kind', 'gpu'))
        self.assertEqual(['asic1', 'cold1', 'cold2', 'gone1', 'hot',
                          'quiet1'], listed('--kind', 'cpu', '--kind', 'asic'))
        self.assertEqual(['ghost1', 'gone1', 'quiet1'], listed('--stale'))
        self.assertEqual(['gone1', 'quiet1'],
                         listed('--stale', '--kind', 'cpu'))
        self.assertEqual([], listed('--stale', '--kind', 'gpu'))
        # gone1's newest sample is 892 s old.
        self.assertEqual(['ghost1', 'gone1'],
                         listed('--stale', '--stale-after', '600'))

    def test_sort_and_load_options(self):
        by_cpu = self.ok('host', 'list', '-f', 'value', '-c', 'Host',
                         '--sort-column', 'predicted_cpu',
                         '--sort-descending').out.split()
        self.assertEqual(['hot', 'gpu1', 'gone1', 'quiet1', 'cold1', 'cold2',
                          'asic1'], by_cpu)
        self.assertFalse(any(r['Stale'] for r in self.ok(
            'host', 'list', '--stale-after', '1000', '-f', 'json').json()))

        def predicted(k):
            return next(r['Predicted CPU'] for r in self.ok(
                'host', 'list', '--risk-factor', k, '-f', 'json').json()
                if r['Host'] == 'hot')
        # Two more standard deviations of 0.5 * std(0..9) = 1.436.
        self.assertAlmostEqual(2.87, predicted('2') - predicted('0'),
                               delta=0.11)

    def test_show(self):
        shown = self.ok('host', 'show', 'hot', '-f', 'json').json()
        self.assertEqual(('hot', 'cpu', 10, False, 65.7), (
            shown['Host'], shown['Kind'], shown['Samples'], shown['Stale'],
            shown['Predicted CPU']))
        cpu = shown['Summaries']['cpu_percent']
        self.assertEqual((66.5, 64.25, 1.436), (cpu['last'], cpu['mean'],
                                                cpu['std']))
        self.assertNotIn('gpu_count', shown['Summaries'])
        history = shown['History']['cpu_percent']
        self.assertEqual(0, history['resolution_seconds'])
        self.assertEqual([62.0 + 0.5 * i for i in range(10)],
                         [v for _, v in history['points']])
        self.assertEqual(
            {'cpu_percent', 'mem_percent', 'load_1'}, set(shown['History']))
        self.assertEqual(SERVERS, [i['uuid'] for i in shown['Instances']])
        collector = shown['Collector']
        self.assertEqual((9, vars(samples.COUNTERS)), (
            collector.pop('seq'),
            {k: v for k, v in collector.items() if k != 'timestamp'}))
        self.assertIsNone(self.ok('host', 'show', 'cold1', '-f', 'json')
                          .json()['Collector'])
        self.assertEqual((10.0, 4096.0), (shown['Instances'][0]
                                          ['cpu_percent'],
                                          shown['Instances'][0]['rss_mb']))

        gpu = yaml.safe_load(self.ok('host', 'show', 'gpu1',
                                     '-f', 'yaml').out)
        self.assertEqual(14.0, gpu['GPU Thermal Headroom'])
        self.assertEqual(2.0, gpu['Summaries']['gpu_count']['last'])
        # Its BMC's chassis readings, predicted as the filter does (mean
        # 2310 W + 1 std 10 W), and what one of its free GPUs (300 of
        # 350 W) would add.
        self.assertEqual((27.0, 2320.0, 2600.0), (
            gpu['Predicted Inlet Temperature'],
            gpu['Predicted Chassis Power'], gpu['BMC Power Cap']))
        self.assertEqual(
            50.0, gpu['Summaries']['gpu_free_power_rise_w']['last'])
        self.assertEqual([], gpu['Instances'])
        asic = self.ok('host', 'show', 'asic1', '-f', 'json').json()
        self.assertEqual(60.0, asic['ASIC Errors Per Minute'])  # 1 a second
        self.assertEqual((None, 0, 0.25), (
            asic['Free GPUs'], asic['Free Miners'], asic['Hashrate Ratio']))
        self.assertEqual(2, gpu['Free GPUs'])
        self.assertEqual([(MINING_GUEST, 75.0)],
                         [(i['uuid'], i['device_lost_percent'])
                          for i in asic['Instances']])
        self.assertRegex(self.ok('host', 'show', 'asic1').out,
                         rf'uuid +cpu % +rss MiB +age s +device lost % *\|\n'
                         rf'.*{MINING_GUEST} +2\.0 +2048\.0 +[0-9.]+ +75\.0')

        table = self.ok('host', 'show', 'hot').out
        self.assertIn('cpu_percent: 10 samples, min 62 max 66.5 last 66.5 '
                      '▁▂▃▃▄▅▆▆▇█', table)
        self.assertIn(f'{SERVERS[0]}  10.0   4096.0', table)
        self.assertNotIn('device lost', table)  # no guest holds a device
        self.assertRegex(table, r'\| Collector +\| dropped 2, buffered 5, '
                                r'publish failures 3, source errors 1 +\|\n'
                                r'\| +\| from sample 9 at [0-9T:-]+Z +\|')

    def test_history_of_a_host_and_of_its_devices(self):
        cpu = self.ok('host', 'history', 'hot', '-f', 'json').json()
        self.assertEqual([62.0 + 0.5 * i for i in range(10)],
                         [row['cpu_percent'] for row in cpu])
        self.assertRegex(cpu[0]['Time'], r'^\d{4}-\d\d-\d\dT[\d:]{8}Z$')
        gpus = self.ok('host', 'history', 'gpu1', '--metric',
                       'gpu.temperature_c', '-f', 'json').json()
        self.assertEqual([{'GPU 0': 70.0, 'GPU 1': 75.0}] * 10,
                         [{k: v for k, v in row.items() if k != 'Time'}
                          for row in gpus])
        miners = self.ok('host', 'history', 'asic1', '--metric',
                         'asic.hashrate_5s_ghs', '-f', 'csv').out.splitlines()
        self.assertEqual(['"Time","miner 10.0.0.1:4028"', '13500.0', '3375.0'],
                         [miners[0], miners[1].split(',')[1],
                          miners[-1].split(',')[1]])
        # Nothing in the last 0 seconds; no such host.
        self.assertEqual([], self.ok('host', 'history', 'gpu1', '--metric',
                                     'gpu.power_w', '--since', '0', '-f',
                                     'json').json())
        missing = self.cli('host', 'history', 'nope')
        self.assertEqual((4, "unknown host 'nope': the controller has no "
                             'samples from it'),
                         (missing.rc, missing.error))

    def test_history_and_migrations_of_an_instance(self):
        guest = SERVERS[0]
        cpu = self.ok('instance', 'history', guest, '-f', 'json').json()
        self.assertEqual([('hot', 10.0)] * 10,
                         [(row['Host'], row['cpu_percent']) for row in cpu])
        self.assertRegex(cpu[0]['Time'], r'^\d{4}-\d\d-\d\dT[\d:]{8}Z$')
        rss = self.ok('instance', 'history', guest, '--metric', 'rss_mb',
                      '--since', '2h', '-f', 'csv').out.splitlines()
        self.assertEqual(['"Time","Host","rss_mb"', '"hot",4096.0'],
                         [rss[0], rss[1].split(',', 1)[1]])
        self.assertEqual(11, len(rss))
        self.assertEqual([], self.ok('instance', 'migrations', guest,
                                     '-f', 'json').json())
        # Moved by a rebalance: the move, in the table of its instance.
        plan = self.finished(self.client.create_plan(
            dry_run=False, execute=True, max_moves=1)['id'])
        action, = plan['actions']
        moved = self.ok('instance', 'migrations', action['instance'],
                        '-f', 'json').json()
        self.assertEqual(
            [(plan['id'], 'hot', action['destination'], 'live',
              'succeeded')],
            [(m['Plan'], m['From'], m['To'], m['How'], m['Status'])
             for m in moved])
        self.assertRegex(self.ok('instance', 'migrations',
                                 action['instance']).out,
                         rf'\| {plan["id"]} \| [0-9T:-]+Z \| [0-9T:-]+Z '
                         rf'\| hot +\| {action["destination"]} +\| live '
                         r'\| succeeded \|')
        miner = self.ok('instance', 'history', MINING_GUEST, '--metric',
                        'asic.hashrate_5s_ghs', '-f', 'csv').out.splitlines()
        self.assertEqual(['"Time","miner asic1/10.0.0.1:4028"', '13500.0',
                          '3375.0'],
                         [miner[0], miner[1].split(',')[1],
                          miner[-1].split(',')[1]])
        missing = self.cli('instance', 'history', 'nope')
        self.assertEqual((4, "unknown instance 'nope': the controller has "
                             'no samples of it'),
                         (missing.rc, missing.error))

    def test_show_the_history_of_gpus_and_miners(self):
        self.assertIsNone(self.ok('host', 'show', 'hot', '-f', 'json')
                          .json()['Device History'])  # no devices
        gpu = self.ok('host', 'show', 'gpu1', '-f', 'json').json()[
            'Device History']['gpu']
        self.assertEqual(('temperature_c', 0, {'0': [70.0] * 10,
                                               '1': [75.0] * 10}),
                         (gpu['metric'], gpu['resolution_seconds'],
                          {d: [v for _, v in points]
                           for d, points in gpu['devices'].items()}))
        table = self.ok('host', 'show', 'gpu1').out
        self.assertIn('GPU 1 temperature_c: 10 samples, min 75 max 75 '
                      'last 75 ▁▁▁▁▁▁▁▁▁▁', table)
        # The miner's hashrate fell to a quarter in its last sample.
        self.assertIn('miner 10.0.0.1:4028 hashrate_5s_ghs: 10 samples, '
                      'min 3375 max 13500 last 3375 █████████▁',
                      self.ok('host', 'show', 'asic1').out)

    def silent_hosts(self) -> dict:
        return {r['Host']: r for r in self.ok('host', 'list', '-f', 'json')
                .json() if r['Stale']}

    def test_silent_host_still_listed_after_a_restart(self):
        before = self.silent_hosts()
        self.controller.stop()
        self.controller = self.start_controller()  # rebuilds the summaries
        after = self.silent_hosts()
        self.assertEqual({'quiet1', 'gone1'}, set(after))
        for row in (before['gone1'], after['gone1']):
            self.assertGreater(row['Age'], 890)
        self.assertEqual(
            {k: v for k, v in before['gone1'].items() if k != 'Age'},
            {k: v for k, v in after['gone1'].items() if k != 'Age'})

    def test_show_the_guests_warming_up(self):
        # Without placements learnt from nova, nothing to say.
        self.assertIsNone(self.ok('host', 'show', 'gpu1', '-f', 'json')
                          .json()['Warming Guests'])
        book = self.controller.tracker.placements = placements.Placements(
            warmup=120.0, max_age=900.0)
        rig = '6f1a2b3c-0000-4000-8000-00000000000a'
        book.placed(rig, 'gpu1', 8, 16384, 95.0, 'rig2', None, gpus=2)
        book.placed('6f1a2b3c-0000-4000-8000-00000000000b', 'hot', 2, 2048,
                    None)
        shown = self.ok('host', 'show', 'gpu1', '-f', 'json').json()
        self.assertEqual([{'uuid': rig, 'vcpus': 8, 'memory_mb': 16384,
                           'expected_load_percent': 95.0, 'gpus': 2}],
                         shown['Warming Guests'])
        self.assertEqual({'gpu1': 1, 'hot': 1, 'cold1': 0}, {
            r['Host']: r['Warming']
            for r in self.ok('host', 'list', '-f', 'json').json()
            if r['Host'] in ('gpu1', 'hot', 'cold1')})
        self.assertRegex(self.ok('host', 'show', 'gpu1').out,
                         rf'uuid +vCPUs +memory MiB +expected % +GPUs *\|\n'
                         rf'.*{rig} +8 +16384 +95\.0 +2')
        self.assertEqual([], self.ok('host', 'show', 'cold1', '-f', 'json')
                         .json()['Warming Guests'])

    def test_show_host_without_summary(self):
        # gone1's raw samples purged (rolled up): a restarted controller
        # has no summary of it, only its rollups.
        self.conf.set_override('raw_retention', 600, 'controller')
        self.controller.maintain_once()
        self.controller.stop()
        self.controller = self.start_controller()
        self.assertNotIn('gone1', self.ok('host', 'list', '-f', 'value',
                                          '-c', 'Host').out.split())
        shown = self.ok('host', 'show', 'gone1', '-f', 'json').json()
        self.assertEqual({'Host': 'gone1', 'Stale': True, 'Collector': None,
                          'Instances': [], 'Warming Guests': None,
                          'Device History': None},
                         {k: v for k, v in shown.items() if k != 'History'})
        self.assertTrue(shown['History']['mem_percent']['points'])
        short = self.ok('host', 'show', 'gone1', '--since', '600',
                        '-f', 'json').json()
        self.assertEqual([], short['History']['mem_percent']['points'])

    def test_plot(self):
        path = os.path.join(self.state_dir, 'hot.png')
        result = self.ok('host', 'show', 'hot', '--plot', path,
                         '-f', 'value', '-c', 'Host')
        self.assertEqual('hot\n', result.out)
        self.assertIn(f'History plotted to {path}', result.err)
        with open(path, 'rb') as handle:
            self.assertEqual(b'\x89PNG\r\n\x1a\n', handle.read(8))
        refused = self.cli('host', 'show', 'hot', '--plot', path)
        self.assertEqual((1, f'cannot write plot {path}: it exists '
                             '(--force replaces it)'),
                         (refused.rc, refused.error))
        target = os.path.join(self.state_dir, 'elsewhere')
        link = os.path.join(self.state_dir, 'link.png')
        os.symlink(target, link)
        self.assertEqual(1, self.cli('host', 'show', 'hot', '--plot',
                                     link).rc)
        self.assertFalse(os.path.exists(target))
        with open(path, 'wb') as handle:
            handle.write(b'old')
        self.ok('host', 'show', 'hot', '--plot', path, '--force')
        with open(path, 'rb') as handle:
            self.assertEqual(b'\x89PNG', handle.read(4))
        missing = os.path.join(self.state_dir, 'no-such-dir', 'hot.png')
        result = self.cli('host', 'show', 'hot', '--plot', missing)
        self.assertEqual(1, result.rc)
        self.assertEqual(f'cannot write plot {missing}: No such file or '
                         f'directory', result.error)

    def test_unknown_host(self):
        result = self.cli('host', 'show', 'nope')
        self.assertEqual(4, result.rc)
        self.assertEqual('', result.out)
        self.assertEqual("unknown host 'nope': the controller has no "
                         "samples from it", result.error)


class TestPlans(InProcessTestCase):

    def test_create_shows_moves_and_efficacy(self):
        plan = self.ok('plan', 'create', '--dry-run', '-f', 'json').json()
        self.assertEqual(('planned', True, 'operator'), (
            plan['Status'], plan['Dry Run'], plan['Trigger']))
        actions = plan['Actions']
        self.assertEqual(len(actions), plan['Moves'])
        self.assertGreater(plan['Moves'], 1)
        self.assertEqual({'hot'}, {a['source'] for a in actions})
        self.assertEqual({'pending'}, {a['status'] for a in actions})
        self.assertEqual(4.0 * plan['Moves'], plan['GB To Move'])
        self.assertLess(plan['Objective']['after'],
                        plan['Objective']['before'])
        self.assertEqual({'before': 0, 'after': 0}, plan['Overloaded'])
        self.assertEqual([], self.nova.started)

        one = self.ok('plan', 'create', '--max-moves', '1',
                      '-f', 'json').json()
        self.assertEqual((False, 1, 'planned'), (
            one['Dry Run'], one['Moves'], one['Status']))
        table = self.ok('plan', 'create').out
        self.assertRegex(table, r'\| Objective +\| 0\.\d{4} -> 0\.\d{4} ')
        self.assertRegex(table, rf'\| 0 +{SERVERS[0]}  hot +cold\d +live +4 +'
                                r'0\.\d{4}  pending')

    def test_show_says_which_moves_are_cold(self):
        # A GPU guest that cold-migrates and a tenant that live-migrates,
        # as the re-planner records them.
        store = plans.PlanStore(self.controller.store.engine)
        store.create('plan-1', trigger='interval', controller='c1',
                     dry_run=True, status=plans.PlanStatus.PLANNED,
                     planning_seconds=0.1, efficacy={}, pinned={},
                     moves=[fake_nova.move(SERVERS[0], 'hot', 'cold1'),
                            fake_nova.move(SERVERS[1], 'hot', 'cold2')],
                     cold=frozenset({SERVERS[1]}))
        # nova found no free GPU for the second.
        store.action_finished('plan-1', 1, executor.ActionStatus.FAILED,
                              'NoValidHost: no GPU free',
                              plans.ActionCause.NOVA)
        shown = self.ok('plan', 'show', 'plan-1', '-f', 'json').json()
        self.assertEqual([(True, None), (False, 'nova')],
                         [(a['live'], a['cause']) for a in shown['Actions']])
        table = self.ok('plan', 'show', 'plan-1').out
        self.assertRegex(table, r'#  instance +from +to +how +GB +gain')
        self.assertRegex(table, rf'0  {SERVERS[0]}  hot +cold1  live  .*'
                                r'  pending +\|\n')
        self.assertRegex(table, rf'1  {SERVERS[1]}  hot +cold2  cold  .*'
                                r'  failed \(nova\): NoValidHost: no GPU '
                                r'free \|\n')

    def test_list_and_show(self):
        first = self.client.create_plan(dry_run=True, execute=False)
        second = self.client.create_plan(dry_run=False, execute=False,
                                         max_moves=1)
        listed = list(csv.DictReader(io.StringIO(
            self.ok('plan', 'list', '-f', 'csv').out)))
        self.assertEqual([second['id'], first['id']],
                         [r['ID'] for r in listed])
        self.assertEqual(('False', 'planned', '1', '4.0'), (
            listed[0]['Dry Run'], listed[0]['Status'], listed[0]['Moves'],
            listed[0]['GB To Move']))
        self.assertEqual(second['id'] + '\n', self.ok(
            'plan', 'list', '--limit', '1', '-f', 'value', '-c', 'ID').out)
        as_json = self.ok('plan', 'list', '-f', 'json').json()
        self.assertEqual(round(first['efficacy']['before']['objective'], 4),
                         as_json[1]['Objective Before'])
        self.assertEqual(2, len(yaml.safe_load(
            self.ok('plan', 'list', '-f', 'yaml').out)))
        self.assertIn(first['id'], self.ok('plan', 'list').out)

        shown = self.ok('plan', 'show', first['id'], '-f', 'json').json()
        self.assertEqual([(a['instance'], a['destination'])
                          for a in first['actions']],
                         [(a['instance'], a['destination'])
                          for a in shown['Actions']])
        self.assertEqual('planned\n', self.ok(
            'plan', 'show', first['id'], '-f', 'value', '-c', 'Status').out)
        self.assertIn(f'| ID               | {first["id"]}',
                      self.ok('plan', 'show', first['id']).out)

    def test_nothing_to_do(self):
        result = self.cli('plan', 'create', '--max-moves', '0')
        self.assertEqual(5, result.rc)
        self.assertEqual('', result.out)
        self.assertRegex(result.error, NOTHING_TO_DO)
        plan_id = result.error.split()[4]
        self.assertEqual('nothing-to-do', self.client.get_plan(
            plan_id)['status'])

    def test_not_found(self):
        for argv in (('plan', 'show', 'nope'), ('plan', 'abort', 'nope')):
            result = self.cli(*argv)
            self.assertEqual((4, "plan 'nope' not found"),
                             (result.rc, result.error))
        result = self.cli('plan', 'create', '--aggregate', 'gpu-pool')
        self.assertEqual((4, "no compute host in aggregate 'gpu-pool'"),
                         (result.rc, result.error))

    def test_abort_running_plan(self):
        self.conf.set_override('max_parallel', 1, 'replan')
        self.nova.release.clear()
        plan = self.client.create_plan(dry_run=False, execute=True)
        waiting.wait_for(lambda: self.nova.started, waiting.PATIENCE)
        result = self.ok('plan', 'abort', plan['id'], '-f', 'json')
        self.assertEqual('running', result.json()['Status'])
        self.assertIn(f'Plan {plan["id"]} aborted: no further move will '
                      f'start', result.err)
        self.addCleanup(self.nova.release.set)
        # The running live migration is aborted in nova, which rolls it
        # back; no other starts.
        done = self.finished(plan['id'])
        [(instance, _, _)] = self.nova.started
        self.assertEqual([instance], self.nova.aborted)
        self.assertEqual(('failed', [('failed', 'plan aborted on request')]), (
            done['status'], [(a['status'], a['error'])
                             for a in done['actions'][:1]]))
        again = self.cli('plan', 'abort', plan['id'])
        self.assertEqual((5, f'nothing to do: plan {plan["id"]} is not '
                             f'running (failed)'), (again.rc, again.error))

    def test_busy_while_a_round_runs(self):
        self.nova.release.clear()
        plan = self.client.create_plan(dry_run=False, execute=True)
        for argv in (('plan', 'create', '--dry-run'),
                     ('rebalance', '--yes')):
            result = self.cli(*argv)
            self.assertEqual((5, 'busy: another re-plan round is running'),
                             (result.rc, result.error))
        self.nova.release.set()
        self.assertEqual('succeeded', self.finished(plan['id'])['status'])


class TestRebalance(InProcessTestCase):

    disables_hosts = True

    def test_on_a_terminal_asks_and_draws_a_bar(self):
        result = self.cli('rebalance', '--poll-interval', '0.05',
                          '-f', 'json', stdin='y\n', tty=True)
        self.assertEqual(0, result.rc, result.err)
        self.assertIn('Plan and migrate instances now? [y/N] ', result.err)
        done = result.json()
        moves = len(done['Actions'])
        self.assertEqual('succeeded', done['Status'])
        self.assertIn(f'\r[{"#" * 30}] {moves}/{moves} moves done, '
                      f'0 running, 0 failed\n', result.err)
        for action in done['Actions']:
            self.assertEqual('succeeded', action['status'])
            self.assertEqual(action['destination'],
                             self.nova.host_of(action['instance']))

    def test_declined_on_a_terminal(self):
        result = self.cli('rebalance', '--max-moves', '2',
                          '--aggregate', 'any', stdin='n\n', tty=True)
        self.assertEqual(1, result.rc)
        self.assertEqual('Plan and migrate instances in aggregate any now (at '
                         'most 2 moves)? [y/N] rebalance cancelled\n',
                         result.err)
        self.assertEqual([], self.client.list_plans())

    def test_drain_empties_a_host(self):
        result = self.cli('rebalance', '--drain', 'hot', '--cold',
                          stdin='n\n', tty=True)
        self.assertEqual('Disable nova-compute on hot, then plan and migrate '
                         'instances off hot now (cold where they cannot move '
                         'live)? [y/N] rebalance cancelled\n', result.err)
        result = self.cli('rebalance', '--drain', 'hot', '--keep-enabled',
                          stdin='n\n', tty=True)
        self.assertEqual('Plan and migrate instances off hot now? [y/N] '
                         'rebalance cancelled\n', result.err)
        self.assertEqual(({}, []), (self.nova.disabled,
                                    self.client.list_plans()))
        result = self.cli('rebalance', '--drain', 'hot', '--yes',
                          '--poll-interval', '0.05', '-f', 'json')
        self.assertEqual(0, result.rc, result.err)
        done = result.json()
        self.assertEqual(('drain', 'succeeded'),
                         (done['Trigger'], done['Status']))
        self.assertEqual(set(SERVERS),
                         {a['instance'] for a in done['Actions']})
        self.assertEqual({'hot'}, {a['source'] for a in done['Actions']})
        self.assertFalse({self.nova.host_of(s) for s in SERVERS} & {'hot'})
        self.assertEqual({'hot': f'cryptomine: drained by plan {done["ID"]}'},
                         self.nova.disabled)
        enable = ('enable it after the maintenance with "openstack compute '
                  'service set --enable hot nova-compute"')
        self.assertIn(f'nova-compute on hot disabled by this drain: '
                      f'{enable}\n', result.err)
        # Again: nothing left to move, the host disabled already.
        result = self.cli('rebalance', '--drain', 'hot', '--yes')
        self.assertEqual(5, result.rc)
        self.assertIn(f'nova-compute on hot was disabled already: {enable}',
                      result.err)
        for option in ('--cold', '--keep-enabled'):
            result = self.cli('rebalance', option, '--yes')
            self.assertEqual(
                (1, f'{option} is for a drain: give --drain HOST too'),
                (result.rc, result.error))
        result = self.cli('plan', 'create', '--drain', 'hot')
        self.assertEqual(5, result.rc)
        self.assertRegex(result.error, r'^nothing to do: plan [-0-9a-f]+ can '
                                       r'move no instance off the host$')
        result = self.cli('plan', 'create', '--drain', 'nope')
        self.assertEqual((4, "no compute host 'nope' in nova"),
                         (result.rc, result.error))

    def test_needs_yes_off_a_terminal(self):
        result = self.cli('rebalance')
        self.assertEqual(1, result.rc)
        self.assertEqual('refusing to rebalance: stdin is not a terminal '
                         'to confirm on (pass --yes)', result.error)
        self.assertEqual([], self.client.list_plans())

    def test_plain_progress_lines_and_failures(self):
        self.conf.set_override('max_parallel', 1, 'replan')
        self.conf.set_override('max_failures', 1, 'replan')
        self.nova.failing = set(SERVERS)
        result = self.cli('rebalance', '--yes', '--poll-interval', '0.05',
                          '-f', 'value', '-c', 'Status')
        self.assertEqual(1, result.rc)
        self.assertEqual('failed\n', result.out)
        first = self.client.list_plans()[0]['id']
        moves = self.client.get_plan(first)['actions']
        self.assertIn(f'Plan {first}: {len(moves)} moves\n', result.err)
        self.assertIn(f'move 1/{len(moves)} {moves[0]["instance"]} hot -> '
                      f'{moves[0]["destination"]}: failed (nova): '
                      f'injected failure\n', result.err)
        self.assertNotIn('\r', result.err)

    def test_ctrl_c_while_planning_aborts_the_new_plan(self):
        cluster = self.nova.cluster

        def interrupting_cluster():
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C mid-planning
            return cluster()
        self.nova.cluster = interrupting_cluster
        self.controller.stop()
        self.controller = self.start_controller()
        self.conf.set_override('max_parallel', 1, 'replan')
        self.nova.release.clear()
        result = self.cli('rebalance', '--yes', '-f', 'value', '-c', 'ID')
        self.assertEqual(130, result.rc, result.err)
        plan_id = result.out.strip()
        self.assertIn(f'Interrupted: plan {plan_id} aborted, no further '
                      f'move will start', result.err)
        self.nova.release.set()
        statuses = [a['status'] for a in self.finished(plan_id)['actions']]
        self.assertLessEqual(len(self.nova.started), 1)
        self.assertEqual(['aborted'] * (len(statuses) - 1),
                         statuses[1:])

    def test_nothing_to_do(self):
        result = self.cli('rebalance', '--yes', '--max-moves', '0')
        self.assertEqual(5, result.rc)
        self.assertRegex(result.error, NOTHING_TO_DO)
        self.assertEqual([], self.nova.started)


class TestErrors(InProcessTestCase):

    def test_no_controller_answers(self):
        conf = test_controller.controller_conf(self.state_dir)
        conf.set_override('operator_topic', 'nobody', 'messaging')
        conf.set_override('rpc_timeout', 1, 'api')
        quiet = self.useFixture(api_server.ApiServer(
            conf, self.rpc_transport, tokens=self.api.tokens))
        result = self.cli('host', 'list', options=api_options(
            quiet.url, quiet.token(api_server.ADMIN)))
        self.assertEqual((3, 'controller unreachable: no controller '
                             'replied within 1 s'),
                         (result.rc, result.error))

    def test_api_unreachable(self):
        url = f'http://127.0.0.1:{free_port()}'
        result = self.cli('host', 'list', options=api_options(url, 'x'))
        self.assertEqual(3, result.rc)
        self.assertTrue(result.error.startswith(
            f'API unreachable at {url}: Unable to establish connection to '
            f'{url}/v1/hosts'), result.error)

    def test_reader_reads_but_moves_nothing(self):
        reader = api_options(self.api.url,
                             self.api.token(api_server.READER))
        self.assertEqual(FLEET, {r['Host'] for r in self.ok(
            'host', 'list', '-f', 'json', options=reader).json()})
        self.assertEqual(SERVERS, [i['uuid'] for i in self.ok(
            'host', 'show', 'hot', '-f', 'json', options=reader
        ).json()['Instances']])
        self.assertEqual([], self.ok('plan', 'list', '-f', 'json',
                                     options=reader).json())
        for argv, rule in ((('plan', 'create', '--dry-run'), 'create'),
                           (('rebalance', '--yes'), 'execute'),
                           (('plan', 'abort', 'any'), 'abort')):
            result = self.cli(*argv, options=reader)
            self.assertEqual(
                (1, f'forbidden: policy does not allow cryptomine:plan:'
                    f'{rule} to be performed'), (result.rc, result.error))
        self.assertEqual([], self.client.list_plans())
        self.assertEqual([], self.nova.started)

    def test_endpoint_override(self):
        elsewhere = api_options(f'http://127.0.0.1:{free_port()}',
                                self.api.token(api_server.READER))
        result = self.ok('--os-load-placement-endpoint-override',
                         self.api.url, 'plan', 'list', '-f', 'json',
                         options=elsewhere)
        self.assertEqual([], result.json())

    def test_os_options_and_no_endpoint_in_the_catalog(self):
        registered = self.useFixture(fake_identity.Identity(
            self.api, api_server.READER))
        self.assertEqual(FLEET, {r['Host'] for r in self.ok(
            'host', 'list', '-f', 'json',
            options=registered.options()).json()})
        unregistered = self.useFixture(fake_identity.Identity(
            self.api, api_server.READER, registered=False))
        result = self.cli('host', 'list', options=unregistered.options())
        self.assertEqual(
            (1, 'no load-placement endpoint in the service catalog (is '
                'cryptomine-api registered in keystone? or name it with '
                '--os-load-placement-endpoint-override)'),
            (result.rc, result.error))

    def test_token_refused(self):
        result = self.cli('host', 'list',
                          options=api_options(self.api.url, 'forged'))
        self.assertEqual((1, 'not authenticated: The request you have made '
                             'requires authentication.'),
                         (result.rc, result.error))

    def test_unknown_command(self):
        result = self.cli('hots', 'list')
        self.assertEqual(2, result.rc)
        self.assertIn("'hots list' is not a cryptomine command", result.out)

    def test_openstack_client_plugin_entry_points(self):
        parser = osc_plugin.build_option_parser(argparse.ArgumentParser())
        options = parser.parse_args(['--os-cryptomine-api-version', '1'])
        self.assertEqual('1', getattr(options, osc_plugin.API_VERSION_OPTION))
        self.assertIn(options.os_cryptomine_api_version,
                      osc_plugin.API_VERSIONS)

        def commands(group):
            return {ep.name: ep.value for ep
                    in importlib.metadata.entry_points(group=group)}
        ours = commands('cryptomine.cli')
        osc = {name.removeprefix('cryptomine_'): value
               for name, value in commands('openstack.cryptomine.v1').items()}
        self.assertLessEqual({'host_list', 'host_show', 'plan_create',
                              'plan_list', 'plan_show', 'plan_abort',
                              'rebalance', 'burst_status', 'experiment_run',
                              'experiment_cleanup', 'experiment_report'},
                             set(osc))
        self.assertEqual(osc, {n: ours[n] for n in osc})
        self.assertEqual(['cryptomine_scheduler.cli.osc_plugin'], [
            ep.value for ep in importlib.metadata.entry_points(
                group='openstack.cli.extension', name=osc_plugin.API_NAME)])


class TestWithoutNova(RunsApp, test_controller.ControllerTestCase):

    def test_replanner_not_configured(self):
        self.serve_api(self.conf, self.rpc_transport)
        for argv in (('plan', 'create'), ('rebalance', '--yes')):
            result = self.cli(*argv)
            self.assertEqual((1, 'unavailable: this controller has no nova '
                                 'API configured ([nova_api])'),
                             (result.rc, result.error))

    def test_burst_status_of_an_empty_history(self):
        self.serve_api(self.conf, self.rpc_transport)
        shown = self.ok('burst', 'status', '-f', 'json').json()
        self.assertEqual(({}, [], [], 0.0, 0.0), (
            shown['Tiers'], shown['Releasable'], shown['Hosts'],
            shown['Cost Per Hour'], shown['Burst Host Hours']))
        table = self.ok('burst', 'status', '--since', '3600').out
        self.assertRegex(table, r'\| Tiers +\| none +\|')


class TestWithoutCredentials(base.BaseTestCase):
    """No cloud, no ``--os-*`` option, no ``$OS_*`` variable."""

    def test_commands_say_what_is_missing(self):
        self.useFixture(CleanEnvironment())
        for argv in (('host', 'list'), ('plan', 'create', '--dry-run')):
            self.useFixture(AppLogging())
            out, err = io.StringIO(), io.StringIO()
            rc = app_mod.CryptomineApp(stdout=out, stderr=err).run(
                list(argv))
            self.assertEqual((1, ''), (rc, out.getvalue()))
            self.assertRegex(err.getvalue(), r'^no credentials: .*auth[-_]url'
                             r'.* \(name a cloud of clouds\.yaml with '
                             r'--os-cloud or \$OS_CLOUD, or give the '
                             r'--os-\* options\)\n$')


class TestHelp(base.BaseTestCase):
    """``cryptomine`` as a process: the help of a command, wherever
    --help is on the line, needs no controller."""

    def help(self, *argv: str) -> str:
        done = subprocess.run([CONSOLE_SCRIPT, *argv],
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=waiting.PATIENCE)
        self.assertEqual((0, ''), (done.returncode, done.stderr), argv)
        return done.stdout

    def test_command_help(self):
        for argv, command, option in (
                (('host', 'list', '--help'), 'host list', '--risk-factor K'),
                (('host', 'list', '-f', 'json', '-h'), 'host list',
                 '--stale-after SECONDS'),
                (('host', 'show', 'hot', '--help'), 'host show',
                 '--plot FILE.png'),
                (('host', 'history', '--help'), 'host history',
                 'gpu.temperature_c'),
                (('plan', 'create', '--help'), 'plan create', '--dry-run'),
                (('--help', 'rebalance'), 'rebalance',
                 '--poll-interval SECONDS'),
                (('simulate', '--help'), 'simulate', '--trace-format'),
                (('help', 'plan', 'list'), 'plan list', '--limit N'),
                (('burst', 'status', '--help'), 'burst status',
                 '--since DURATION'),
                (('instance', 'history', '--help'), 'instance history',
                 'asic.hashrate_5s_ghs'),
                (('instance', 'migrations', '--help'),
                 'instance migrations', 'default 1d')):
            out = self.help(*argv)
            self.assertTrue(out.startswith(f'usage: cryptomine {command} '),
                            (argv, out))
            self.assertIn(option, out)

    def test_application_help_lists_the_commands(self):
        out = self.help('--help')
        self.assertTrue(out.startswith('usage: cryptomine [--version]'), out)
        self.assertIn('--os-cloud <name>', out)
        for command in ('host list', 'host history', 'plan create',
                        'rebalance', 'simulate', 'burst status',
                        'instance history', 'instance migrations'):
            self.assertRegex(out, rf'\n  {command} +[A-Z]')


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class TestConsoleScript(base.BaseTestCase):
    """``cryptomine`` and ``openstack`` as processes, against the API
    and a controller on RabbitMQ."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.broker = rabbit.RabbitBroker()
        cls.broker.setUp()

    @classmethod
    def tearDownClass(cls):
        cls.broker.cleanUp()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        conf = test_controller.controller_conf(self.dir)
        conf.set_override('transport_url', self.broker.url)
        conf.set_override('batch_size', FLEET_SAMPLES, 'controller')
        conf.set_override('migration_poll_interval', 0.05, 'replan')
        conf.set_override('max_parallel', 1, 'replan')
        # The small skewed cluster moves at a low bar, as in test_replan.
        conf.set_override('min_gain', fleets.LOW_BAR.limits.min_gain,
                          'replan')
        notifications = oslo_messaging.get_notification_transport(conf)
        self.addCleanup(notifications.cleanup)
        transport = oslo_messaging.get_rpc_transport(
            conf, allowed_remote_exmods=rpc.REMOTE_EXCEPTION_MODULES)
        self.addCleanup(transport.cleanup)
        self.nova = fake_nova.FakeNova(test_replan.skewed_cluster())
        self.controller = service.ControllerService(
            conf, notifications, transport,
            nova=service.NovaLink(self.nova.cluster, self.nova))
        self.controller.start()
        self.addCleanup(self.controller.stop)
        publisher = publisher_mod.SamplePublisher(
            notifications, conf.messaging.sample_topic, 'test', 0)
        for s in fleet_samples(self.nova, time.time()):
            publisher.publish(samples.payload(s))
        waiting.wait_for(
            lambda: self.controller.totals.stored >= FLEET_SAMPLES,
            waiting.PATIENCE)
        self.conf, self.transport = conf, transport
        self.environment = self.useFixture(CleanEnvironment())
        self.api = self.useFixture(api_server.ApiServer(conf, transport))
        self.admin = api_options(self.api.url,
                                 self.api.token(api_server.ADMIN))

    def command(self, *argv: str, options: list[str] | None = None
                ) -> list[str]:
        return [CONSOLE_SCRIPT, *(options or self.admin), *argv]

    def cli(self, *argv: str, options: list[str] | None = None,
            program: str = CONSOLE_SCRIPT) -> Result:
        done = subprocess.run(
            [program, *(options or self.admin), *argv],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=waiting.PATIENCE)
        return Result(done.returncode, done.stdout, done.stderr)

    def openstack(self, *argv: str, options: list[str] | None = None
                  ) -> Result:
        """``openstack cryptomine ARGV``."""
        return self.cli('cryptomine', *argv, options=options,
                        program=OPENSTACK)

    def plan(self, plan_id: str) -> dict:
        return self.controller.replanner.plans.get(plan_id)

    def test_hosts(self):
        rows = {r['Host']: r for r in self.cli('host', 'list',
                                               '-f', 'json').json()}
        self.assertEqual(FLEET, set(rows))
        self.assertEqual((66.5, 65.7), (rows['hot']['CPU'],
                                        rows['hot']['Predicted CPU']))
        path = os.path.join(self.dir, 'hot.png')
        result = self.cli('host', 'show', 'hot', '--plot', path,
                          '-f', 'yaml')
        self.assertEqual(0, result.rc, result.err)
        self.assertEqual(f'History plotted to {path}\n', result.err)
        shown = yaml.safe_load(result.out)
        self.assertEqual(SERVERS, [i['uuid'] for i in shown['Instances']])
        collector = shown['Collector']
        self.assertEqual((9, vars(samples.COUNTERS)), (
            collector.pop('seq'),
            {k: v for k, v in collector.items() if k != 'timestamp'}))
        self.assertEqual(10, len(shown['History']['cpu_percent']['points']))
        with open(path, 'rb') as handle:
            self.assertEqual(b'\x89PNG', handle.read(4))

    def test_plan_and_rebalance(self):
        planned = self.cli('plan', 'create', '--dry-run', '-f', 'yaml')
        self.assertEqual((0, ''), (planned.rc, planned.err))
        dry = yaml.safe_load(planned.out)
        self.assertEqual(('planned', True), (dry['Status'], dry['Dry Run']))

        result = self.cli('rebalance', '--yes', '--poll-interval', '0.1',
                          '-f', 'value', '-c', 'ID', '-c', 'Status')
        self.assertEqual(0, result.rc, result.err)
        plan_id, status = result.out.split()
        self.assertEqual('succeeded', status)
        actions = self.plan(plan_id)['actions']
        lines = result.err.splitlines()
        self.assertEqual(f'Plan {plan_id}: {len(actions)} moves', lines[0])
        for k, a in enumerate(actions, 1):
            self.assertIn(f'move {k}/{len(actions)} {a["instance"]} hot -> '
                          f'{a["destination"]}: succeeded', lines)
            self.assertEqual(a['destination'],
                             self.nova.host_of(a['instance']))

        listed = self.cli('plan', 'list', '-f', 'csv', '-c', 'ID',
                          '-c', 'Status')
        self.assertEqual(['"ID","Status"', f'"{plan_id}","succeeded"',
                          f'"{dry["ID"]}","planned"'],
                         listed.out.splitlines())
        shown = yaml.safe_load(self.cli('plan', 'show', plan_id,
                                        '-f', 'yaml').out)
        self.assertEqual({'succeeded'}, {a['status']
                                         for a in shown['Actions']})

    def test_ctrl_c_aborts_and_reports_what_runs(self):
        self.nova.release.clear()
        process = subprocess.Popen(
            self.command('rebalance', '--yes', '--poll-interval', '0.1'),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.addCleanup(process.kill)
        waiting.wait_for(lambda: self.nova.started, waiting.PATIENCE)
        time.sleep(1.0)  # watching the running move
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=waiting.PATIENCE)
        self.assertEqual(130, process.returncode, err)
        instance, destination, _ = self.nova.started[0]
        plan_id = re.search(r'Interrupted: plan (\S+) aborted, no further '
                            r'move will start; 1 still running:', err)[1]
        self.assertIn(f'  {instance} hot -> {destination}\n', err)
        self.assertIn('running', out)
        self.addCleanup(self.nova.release.set)
        # The running live migration is aborted in nova too.
        self.controller.replanner.wait(10)
        done = self.plan(plan_id)
        self.assertEqual([instance], self.nova.aborted)
        self.assertEqual('failed', done['status'])
        self.assertEqual(['failed'] + ['aborted'] * (
            len(done['actions']) - 1), [a['status'] for a in done['actions']])

    def test_exit_codes(self):
        conf = test_controller.controller_conf(self.dir)
        conf.set_override('operator_topic', 'nobody', 'messaging')
        conf.set_override('rpc_timeout', 1, 'api')
        quiet_api = self.useFixture(api_server.ApiServer(
            conf, self.transport, tokens=self.api.tokens))
        quiet = api_options(quiet_api.url,
                            quiet_api.token(api_server.ADMIN))
        down = api_options(f'http://127.0.0.1:{free_port()}', 'x')
        cases = [
            (0, ('host', 'list', '-f', 'value', '-c', 'Host'), None),
            (2, ('host', 'list', '--no-such-option'), None),
            (2, ('hots', 'list'), None),
            (2, ('burst', 'status', '--since', 'soon'), None),
            (3, ('host', 'list'), quiet),
            (3, ('plan', 'list'), down),
            (3, ('plan', 'create'), down),
            (4, ('host', 'show', 'nope'), None),
            (4, ('plan', 'show', 'nope'), None),
            (5, ('plan', 'create', '--max-moves', '0'), None)]
        processes = [subprocess.Popen(
            self.command(*argv, options=options), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _, argv, options in cases]
        results = [(p.wait(60), *p.communicate()) for p in processes]
        self.assertEqual([rc for rc, _, _ in cases],
                         [rc for rc, _, _ in results], results)
        errors = [err.strip() for _, _, err in results]
        self.assertIn('unrecognized arguments: --no-such-option', errors[1])
        self.assertIn("argument --since: 'soon' is not a duration",
                      errors[3])
        self.assertEqual('controller unreachable: no controller replied '
                         'within 1 s', errors[4])
        for error in errors[5:7]:
            self.assertRegex(error, r'^API unreachable at http://127\.0\.0\.1'
                             r':\d+: Unable to establish connection to ')
        self.assertEqual(["unknown host 'nope': the controller has no "
                          "samples from it", "plan 'nope' not found"],
                         errors[7:9])
        self.assertRegex(errors[9], NOTHING_TO_DO)

    def test_openstack_client(self):
        rows = {r['Host']: r for r in self.openstack(
            'host', 'list', '-f', 'json').json()}
        self.assertEqual(FLEET, set(rows))
        self.assertEqual(65.7, rows['hot']['Predicted CPU'])
        shown = self.openstack('host', 'show', 'hot', '-f', 'json').json()
        self.assertEqual(SERVERS, [i['uuid'] for i in shown['Instances']])

        reader = api_options(self.api.url,
                             self.api.token(api_server.READER))
        refused = self.openstack('plan', 'create', '--dry-run',
                                 options=reader)
        self.assertEqual(1, refused.rc)
        self.assertIn('forbidden: policy does not allow cryptomine:plan:'
                      'create to be performed', refused.err)

        planned = self.openstack('plan', 'create', '--dry-run', '-f', 'json')
        self.assertEqual(0, planned.rc, planned.err)
        dry = planned.json()
        self.assertEqual(('planned', True), (dry['Status'], dry['Dry Run']))
        result = self.openstack('rebalance', '--yes', '--poll-interval',
                                '0.1', '-f', 'value', '-c', 'Status')
        self.assertEqual((0, 'succeeded\n'), (result.rc, result.out),
                         result.err)
        self.assertEqual(['planned', 'succeeded'], sorted(
            r['Status'] for r in self.openstack(
                'plan', 'list', '-f', 'json', options=reader).json()))
        missing = self.openstack('plan', 'show', 'nope')
        self.assertEqual((1, "plan 'nope' not found"),
                         (missing.rc, missing.error))

        # The experiment commands, with OpenStackClient's options.
        usage = self.openstack('experiment', 'run', '--help')
        self.assertEqual(0, usage.rc, usage.err)
        self.assertIn('--compression', usage.out)
        # OpenStackClient exits 1 on any command error.
        missing = self.openstack('experiment', 'cleanup', 'nowhere.json')
        self.assertEqual((1, 'nowhere.json: No such file or directory'),
                         (missing.rc, missing.err.strip()))

        # --os-cryptomine-endpoint overrides the endpoint.
        elsewhere = self.admin[:3] + ['http://127.0.0.1:9/'] + self.admin[4:]
        overridden = self.cli(
            '--os-cryptomine-endpoint', self.api.url, 'cryptomine', 'plan',
            'list', '-f', 'value', '-c', 'Status', options=elsewhere,
            program=OPENSTACK)
        self.assertEqual(0, overridden.rc, overridden.err)

    def test_cloud_of_clouds_yaml_and_the_catalog(self):
        identity = self.useFixture(fake_identity.Identity(
            self.api, api_server.ADMIN))
        with open(self.environment.clouds_yaml, 'w') as handle:
            yaml.safe_dump({'clouds': {'test': identity.cloud()}}, handle)
        cloud = ['--os-cloud', 'test']
        rows = self.cli('host', 'list', '-f', 'json', options=cloud)
        self.assertEqual(0, rows.rc, rows.err)
        self.assertEqual(FLEET, {r['Host'] for r in rows.json()})
        shown = self.openstack('host', 'show', 'hot', '-f', 'value', '-c',
                               'Predicted CPU', options=cloud)
        self.assertEqual((0, '65.7\n'), (shown.rc, shown.out), shown.err)

        wrong = yaml.safe_dump({'clouds': {'test': dict(
            identity.cloud(), auth=dict(identity.cloud()['auth'],
                                        password='wrong'))}})
        with open(self.environment.clouds_yaml, 'w') as handle:
            handle.write(wrong)
        refused = self.cli('host', 'list', options=cloud)
        self.assertEqual(1, refused.rc)
        self.assertIn('keystone: The request you have made requires '
                      'authentication.', refused.error)
