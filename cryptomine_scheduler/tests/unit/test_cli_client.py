"""The command line's controller client without a controller: where it
looks for the broker, a broker that refuses connections, and a
controller older than the client."""

import os
import socket

import fixtures
import oslo_messaging
from oslo_config import cfg
from oslotest import base

from cryptomine_scheduler import rpcapi
from cryptomine_scheduler.cli import client
from cryptomine_scheduler.cli import errors


class TestBrokerAddresses(base.BaseTestCase):

    def addresses(self, url: str) -> list[tuple[str, int]]:
        return client.broker_addresses(
            oslo_messaging.TransportURL.parse(cfg.ConfigOpts(), url))

    def test_every_host_default_port_5672(self):
        self.assertEqual([('h1', 5673), ('::1', 5672)], self.addresses(
            'rabbit://u:p@h1:5673,u:p@[::1]/vhost'))

    def test_localhost_where_none_is_named(self):
        self.assertEqual([('localhost', 5672)], self.addresses('rabbit://'))

    def test_other_transports_not_checked(self):
        self.assertEqual([], self.addresses('fake:/'))


class TestStoppedBroker(base.BaseTestCase):

    def test_refused_at_once(self):
        # A port bound but not listening refuses connections.
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'cryptomine.conf')
        with open(path, 'w') as handle:
            handle.write(f'[DEFAULT]\ntransport_url = rabbit://cryptomine:'
                         f's3cret@127.0.0.1:{port}/\n')
        controller = client.connect([path], 30.0, hint='--config-file')
        self.addCleanup(controller.close)
        error = self.assertRaises(errors.ControllerUnreachable,
                                  controller.list_plans, 1)
        self.assertEqual(3, error.exit_code)
        self.assertEqual(
            f'controller unreachable at rabbit://cryptomine:***@127.0.0.1:'
            f'{port}/ (topic cryptomine_controller): '
            f'cannot connect to the message broker: Connection refused',
            str(error))


class OlderEndpoint:
    """A controller of RPC API 1.2, before ``get_collector_counters``."""

    target = oslo_messaging.Target(namespace=rpcapi.NAMESPACE, version='1.2')

    def get_ingest_stats(self, ctxt):
        return {'stored': 0}


class TestOlderController(base.BaseTestCase):

    def test_no_collector_counters_from_a_controller_before_1_3(self):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'cryptomine.conf')
        with open(path, 'w') as handle:
            handle.write('[DEFAULT]\ntransport_url = fake:/\n')
        controller = client.connect([path], 30.0, hint='--config-file')
        self.addCleanup(controller.close)
        conf = client.load_conf([path], hint='--config-file')
        transport = oslo_messaging.get_rpc_transport(conf)
        self.addCleanup(transport.cleanup)
        server = oslo_messaging.get_rpc_server(
            transport, oslo_messaging.Target(
                topic=conf.messaging.controller_topic, server='old'),
            [OlderEndpoint()], executor='threading')
        server.start()
        self.addCleanup(server.wait)
        self.addCleanup(server.stop)
        self.assertEqual({}, controller.collector_counters())
        self.assertEqual({}, controller.collector_counters('compute-1'))
