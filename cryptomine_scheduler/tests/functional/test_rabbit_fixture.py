"""The test broker starts even when the port it chose is taken."""

import socket

import fixtures
import kombu
from oslotest import base

from cryptomine_scheduler.tests import rabbit


class TestPortTaken(base.BaseTestCase):

    def test_a_taken_port_is_left_for_a_fresh_one(self):
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        free = rabbit._free_port
        # The epmd port is chosen first; the taken one goes to the
        # broker's listener in its first start, which fails.
        ports = iter([free(), taken.getsockname()[1]])
        self.useFixture(fixtures.MonkeyPatch(
            'cryptomine_scheduler.tests.rabbit._free_port',
            lambda: next(ports, None) or free()))
        broker = self.useFixture(rabbit.RabbitBroker())
        self.assertNotEqual(taken.getsockname()[1], broker.port)
        with kombu.Connection(broker.url.replace('rabbit://', 'amqp://'),
                              connect_timeout=30) as conn:
            conn.connect()
            self.assertTrue(conn.connected)
