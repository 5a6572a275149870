"""The experiment runner against a real nova, through openstacksdk.

nova (API, conductor, scheduler, placement, fake computes) runs in the
test process (:mod:`.nova_base`, :mod:`.nova_sdk`): the runner boots
real servers through nova's API, and whatever happens to the run,
nothing it created may be left.
"""

# nova_base first (through nova_sdk): it selects nova's concurrency mode.
from cryptomine_scheduler.tests.functional import nova_sdk  # noqa: I001

import base64
import os
import signal

import fixtures
import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from nova.tests import fixtures as nova_fixtures
from openstack import exceptions as os_exceptions

from cryptomine_scheduler.experiment import cloud
from cryptomine_scheduler.experiment import flavors
from cryptomine_scheduler.experiment import record as record_mod
from cryptomine_scheduler.experiment import runner as runner_mod
from cryptomine_scheduler.experiment import setup as setup_mod
from cryptomine_scheduler.experiment import userdata
from cryptomine_scheduler.experiment import workload
from cryptomine_scheduler.simulator import traces

MAPPING = flavors.parse({
    'flavors': {'tiny': {'vcpus': 1, 'ram_mb': 512, 'disk_gb': 1}},
    'rules': [{'flavor': 'tiny'}]}, 'mapping')
TRACE = traces.Trace(
    step=300.0, start=0.0, instances=('vm0', 'vm1', 'vm2', 'vm3'),
    vcpus=np.ones(4, dtype=np.int64), memory_mb=np.full(4, 512.0),
    accelerators=(None,) * 4, cpu=np.full((4, 2), 0.5),
    rss_mb=np.full((4, 2), 128.0))
IMAGE = nova_fixtures.GlanceFixture.image1['id']
FAST = runner_mod.Timing(poll=0.1, boot_timeout=60.0, delete_timeout=60.0)


def _public_key() -> str:
    return ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH,
        serialization.PublicFormat.OpenSSH).decode()


class RunnerTest(nova_sdk.NovaSDKTestCase):

    HOSTS = ('host1', 'host2')

    def setUp(self):
        super().setUp()
        self.conn = self.connect()
        self.path = self.useFixture(fixtures.TempDir()).join('record.json')
        self.record = record_mod.Record(name='cmx-test', setup=setup_mod.Setup(
            trace='trace.csv', trace_format='csv', mapping='mapping.yaml',
            compression=600.0, duration=0.5, warmup=0.0,
            image=IMAGE, network='none',
            public_key=_public_key()))
        self.saver = runner_mod.Saver(self.record, self.path)
        self.messages = []

    def runner(self, notify=None) -> runner_mod.Runner:
        return runner_mod.Runner(
            self.conn, self.saver, workload.guests(TRACE, MAPPING, 600.0),
            MAPPING, FAST, notify=notify or self.messages.append)

    def assertNothingLeft(self):
        self.assertEqual([], [s.name for s in self.conn.compute.servers(
            all_projects=True)])
        self.assertIsNone(self.conn.compute.find_flavor(
            'cmx-test-tiny', ignore_missing=True))
        self.assertIsNone(self.conn.compute.find_keypair(
            'cmx-test', ignore_missing=True))
        self.assertEqual([], record_mod.load(self.path).left())

    def test_run_boots_each_trace_vm_and_leaves_nothing(self):
        self.runner().run()
        found = record_mod.load(self.path)
        servers = found.servers()
        self.assertEqual([0, 1, 2, 3], [s.trace_index for s in servers])
        self.assertEqual({'ACTIVE'}, {s.status for s in servers})
        self.assertLessEqual({s.host for s in servers}, set(self.HOSTS))
        self.assertEqual({512.0}, {s.memory_mb for s in servers})
        self.assertGreaterEqual(found.ended_at, found.start_at + 0.5)
        self.assertEqual([], found.migrations)
        self.assertEqual(['flavor', 'keypair'] + ['server'] * 4,
                         [r.kind.value for r in found.resources])
        self.assertNothingLeft()

    def test_servers_get_the_player_and_their_schedule(self):
        booted = []

        def check(message):
            # While the run is on: what nova holds for the newest server.
            if message.startswith('booting'):
                server = self.record.servers()[-1]
                data = self.admin_api.api_get(
                    f'/servers/{server.id}').body['server']
                booted.append((data['metadata'],
                               data['OS-EXT-SRV-ATTR:user_data']))

        self.runner(notify=check).run()
        metadata, encoded = booted[0]
        self.assertEqual({cloud.METADATA_KEY: 'cmx-test'}, metadata)
        schedule = userdata.schedule_of(base64.b64decode(encoded).decode())
        self.assertEqual((0.5, [0.5, 0.5]), (schedule.step, schedule.cpu))
        self.assertEqual(self.record.start_at, schedule.start_at)

    def interrupt_mid_boot(self, signum: signal.Signals, raised: type):
        def interrupt(message):
            if len(self.record.servers()) == 2 and message.startswith(
                    'booting'):
                os.kill(os.getpid(), signum)

        self.assertRaises(raised, self.runner(notify=interrupt).run)
        found = record_mod.load(self.path)
        self.assertEqual(2, len(found.servers()))
        # Stopped before the end: no migration records were read.
        self.assertIsNone(found.migrations)
        self.assertNothingLeft()

    def test_sigterm_mid_boot_leaves_nothing(self):
        self.interrupt_mid_boot(signal.SIGTERM, runner_mod.Interrupted)

    def test_ctrl_c_mid_boot_leaves_nothing(self):
        self.interrupt_mid_boot(signal.SIGINT, KeyboardInterrupt)

    def test_error_mid_boot_leaves_nothing(self):
        # nova refuses the third server: over the project's quota.
        self.flags(instances=2, group='quota')
        self.assertRaises(os_exceptions.ForbiddenException,
                          self.runner().run)
        found = record_mod.load(self.path)
        # The refused one was recorded before it was asked for.
        self.assertEqual(3, len(found.servers()))
        self.assertNothingLeft()

    def test_cleanup_deletes_what_a_killed_run_created(self):
        self.runner().create()
        # Killed between recording a server and hearing its ID back.
        orphan = record_mod.Resource(record_mod.Kind.SERVER, 'cmx-test-0009')
        self.record.resources.append(orphan)
        self.saver()
        cloud.boot(self.conn, name=orphan.name, experiment='cmx-test',
                   flavor=self.record.resources[0].id,
                   image=self.record.setup.image, network='none',
                   user_data='#cloud-config\n', key_name=None)
        self.assertEqual(5, len(list(self.conn.compute.servers())))

        # As "cryptomine experiment cleanup RECORD" does.
        left = record_mod.load(self.path)
        runner_mod.teardown(self.conn, runner_mod.Saver(left, self.path),
                            FAST)
        self.assertNothingLeft()
