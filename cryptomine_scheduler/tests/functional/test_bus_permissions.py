"""The message bus with least privilege: each role's RabbitMQ user, with
the permissions of the security guide, may do its part and nothing else,
as the broker itself decides."""

import time

import fixtures
import oslo_messaging
from oslotest import base

from cryptomine_scheduler import rpc
from cryptomine_scheduler.control import service
from cryptomine_scheduler.tests import fake_nova
from cryptomine_scheduler.tests import rabbit
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.unit import test_controller
from cryptomine_scheduler.tests.unit import test_replan
from load_collector import publisher as publisher_mod

#: Per role: configure, write and read patterns of exchange and queue
#: names, and the routing keys it may publish on cryptomine's exchange
#: (doc/security.md and devstack/lib/cryptomine set the same).
ROLES = {
    'collector': (
        (r'^(cryptomine|cryptomine_samples\.info)$',
         r'^(cryptomine|cryptomine_samples\.info)$', r'^cryptomine$'),
        r'^cryptomine_samples\.info$'),
    'nova': ((r'^(cryptomine|reply_.*)$', r'^cryptomine$', r'^reply_.*$'),
             r'^cryptomine_controller$'),
    'api': ((r'^(cryptomine|reply_.*)$', r'^cryptomine$', r'^reply_.*$'),
            r'^cryptomine_operator(\..+)?$'),
    'controller': (('.*', '.*', '.*'), None),
}
EXCHANGE = 'cryptomine'


class BusPermissionsTest(base.BaseTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.broker = rabbit.RabbitBroker()
        cls.broker.setUp()
        cls.urls = {
            role: cls.broker.add_user(
                f'cryptomine-{role}', f'{role}-secret', permissions,
                None if topics is None else {EXCHANGE: (topics, '.*')})
            for role, (permissions, topics) in ROLES.items()}

    @classmethod
    def tearDownClass(cls):
        cls.broker.cleanUp()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.conf = test_controller.controller_conf(
            self.useFixture(fixtures.TempDir()).path)
        self.conf.set_override('transport_url', self.urls['controller'])
        self.conf.set_override('batch_size', 1, 'controller')
        notifications = oslo_messaging.get_notification_transport(self.conf)
        self.addCleanup(notifications.cleanup)
        transport = self.transport('controller')
        self.nova = fake_nova.FakeNova(test_replan.skewed_cluster())
        self.controller = service.ControllerService(
            self.conf, notifications, transport,
            nova=service.NovaLink(self.nova.cluster, self.nova))
        self.controller.start()
        self.addCleanup(self.controller.stop)

    def transport(self, role: str) -> oslo_messaging.Transport:
        found = oslo_messaging.get_rpc_transport(
            self.conf, url=self.urls[role],
            allowed_remote_exmods=rpc.REMOTE_EXCEPTION_MODULES)
        self.addCleanup(found.cleanup)
        return found

    def client(self, role: str, topic: str) -> rpc.ControllerClient:
        return rpc.ControllerClient(self.transport(role), topic, timeout=10)

    def assertRefused(self, call, *args, **kwargs):
        """``call`` fails because the broker refuses it."""
        error = self.assertRaises(oslo_messaging.MessageDeliveryFailure,
                                  call, *args, **kwargs)
        self.assertIn('ACCESS_REFUSED', str(error))

    def test_collector_publishes_samples_only(self):
        notifications = oslo_messaging.get_notification_transport(
            self.conf, url=self.urls['collector'])
        self.addCleanup(notifications.cleanup)
        publisher = publisher_mod.SamplePublisher(
            notifications, self.conf.messaging.sample_topic, 'test', 0)
        publisher.publish(samples.payload(samples.make(
            host='compute-1', seq=0, timestamp=time.time())))
        waiting.wait_for(lambda: self.controller.totals.stored == 1,
                         waiting.PATIENCE)

        transport = self.transport('collector')
        for topic in (self.conf.messaging.controller_topic,
                      self.conf.messaging.operator_topic):
            client = rpc.ControllerClient(transport, topic, timeout=10)
            self.assertRefused(client.get_load_snapshot)
            self.assertRefused(client.create_plan, dry_run=False,
                               execute=True)
            # A cast needs no reply queue: the topic itself is refused.
            caster = oslo_messaging.get_rpc_client(
                transport, oslo_messaging.Target(
                    topic=topic, namespace=rpc.NAMESPACE, version='1.1'))
            self.assertRefused(caster.cast, {}, 'create_plan',
                               dry_run=False, execute=True)
        self.assertEqual([], self.controller.replanner.plans.list(10))

    def test_nova_reads_the_snapshot_only(self):
        self.controller.tracker.add(samples.make(
            host='compute-1', seq=0, timestamp=time.time()))
        reads = self.client('nova', self.conf.messaging.controller_topic)
        self.assertEqual({'compute-1'}, set(reads.get_load_snapshot().hosts))
        self.assertRaises(oslo_messaging.NoSuchMethod, reads.create_plan,
                          dry_run=False, execute=True)
        self.assertRefused(
            self.client('nova', self.conf.messaging.operator_topic)
            .create_plan, dry_run=False, execute=True)
        self.assertEqual([], self.controller.replanner.plans.list(10))

    def test_api_plans_and_aborts(self):
        operator = self.client('api', self.conf.messaging.operator_topic)
        plan = operator.create_plan(dry_run=True, execute=False)
        self.assertEqual([plan['id']], [
            p['id'] for p in self.controller.replanner.plans.list(10)])
        # Sent to the controller that made the plan: topic.host.
        self.assertEqual(plan['id'], operator.abort_plan(plan['id'])['id'])
        self.assertRefused(self.client(
            'api', self.conf.messaging.sample_topic).get_ingest_stats)
