"""The API's calls to the controller against a controller older than
the API."""

import fixtures
import oslo_messaging
from oslotest import base

from cryptomine_scheduler import rpcapi
from cryptomine_scheduler.api import controller as controller_mod
from cryptomine_scheduler.api import errors
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests.unit import test_controller

TOPIC = 'cryptomine_controller'


class OlderEndpoint:
    """A controller of RPC API 1.2, before ``get_collector_counters``."""

    target = oslo_messaging.Target(namespace=rpcapi.NAMESPACE, version='1.2')

    def get_ingest_stats(self, ctxt):
        return {'stored': 0}


class TestOlderController(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        conf = test_controller.controller_conf(
            self.useFixture(fixtures.TempDir()).path)
        self.transport = transport = oslo_messaging.get_rpc_transport(
            conf, url=test_controller.URL,
            allowed_remote_exmods=rpcapi.REMOTE_EXCEPTION_MODULES)
        self.addCleanup(transport.cleanup)
        server = oslo_messaging.get_rpc_server(
            transport, oslo_messaging.Target(topic=TOPIC, server='old'),
            [OlderEndpoint()], executor='threading')
        server.start()
        self.addCleanup(server.wait)
        self.addCleanup(server.stop)
        self.controller = self.reaching(TOPIC, 5)

    def reaching(self, topic: str, timeout: float
                 ) -> controller_mod.Controller:
        return controller_mod.Controller(rpcapi.ControllerClient(
            self.transport, topic, timeout=timeout), timeout, timeout)

    def test_no_collector_counters_from_a_controller_before_1_3(self):
        self.assertEqual({}, self.controller.collector_counters())
        self.assertEqual({}, self.controller.collector_counters('compute-1'))

    def test_no_never_sampled_hosts_from_a_controller_before_1_5(self):
        self.assertEqual([], self.controller.never_sampled())

    def test_newer_calls_are_unavailable(self):
        for call in (
                lambda: self.controller.device_history(
                    'g1', sample.DeviceKind.GPU, 0.0, 'temperature_c'),
                lambda: self.controller.instance_history(
                    'i1', 0.0, sample.InstanceMetric.CPU_PERCENT),
                lambda: self.controller.instance_device_history(
                    'i1', sample.DeviceKind.ASIC, 0.0, 'hashrate_5s_ghs'),
                lambda: self.controller.instance_migrations('i1', 0.0),
                lambda: self.controller.create_plan(
                    dry_run=True, execute=False, drain='h1', cold=False),
                lambda: self.controller.create_plan(
                    dry_run=False, execute=True, drain='h1', cold=False,
                    disable=True)):
            error = self.assertRaises(errors.Unavailable, call)
            self.assertEqual(503, error.code)
            self.assertTrue(str(error).startswith(
                'the controller is older than this call, upgrade it: '),
                error)

    def test_no_reply_is_a_gateway_timeout(self):
        error = self.assertRaises(errors.GatewayTimeout,
                                  self.reaching('nobody', 1).list_plans, 1)
        self.assertEqual((504, 'no controller replied within 1 s'),
                         (error.code, str(error)))
