"""The nova migrator against an API that does not answer (nova's own
API is exercised in the functional tests)."""

import socket
import threading

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from openstack import connection
from oslotest import base

from cryptomine_scheduler.db.plans import ActionCause
from cryptomine_scheduler.planning import heuristic
from cryptomine_scheduler.replan import executor
from cryptomine_scheduler.replan import nova_migrator
from cryptomine_scheduler.replan.executor import ActionStatus
from cryptomine_scheduler.tests import recorders

C = ActionCause


class UnreachableNovaTest(base.BaseTestCase):
    """nova's API refusing connections is an error the executor handles,
    not one that ends the round."""

    def setUp(self):
        super().setUp()
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(('127.0.0.1', 0))
            url = f'http://127.0.0.1:{probe.getsockname()[1]}'
        session = ks_session.Session(auth=token_endpoint.Token(url, 'x'))
        self.migrator = nova_migrator.OpenStackMigrator(connection.Connection(
            session=session, compute_endpoint_override=url))

    def test_start_fails_as_unavailable(self):
        error = self.assertRaises(executor.MigrationError,
                                  self.migrator.start, 'a-server', 'cold1',
                                  live=True)
        self.assertTrue(error.unavailable)

    def test_round_records_nova_unavailable(self):
        recorder = recorders.ListRecorder(lambda: 0.0)
        outcome = executor.Executor(
            self.migrator, recorder,
            executor.Limits(max_failures=1, poll_interval=0.01)).run(
                'plan-1', [heuristic.Move('a', 'hot', 'cold1', 1024.0, 0.1),
                           heuristic.Move('b', 'hot', 'cold2', 1024.0, 0.1)],
                frozenset(), threading.Event())
        self.assertEqual((ActionStatus.FAILED, ActionStatus.ABORTED),
                         outcome.statuses)
        # Not the guest's failure: it does not count against it.
        self.assertEqual([C.NOVA_UNAVAILABLE, C.FAILURE_LIMIT],
                         [cause for _, _, cause in
                          recorder.finished().values()])
