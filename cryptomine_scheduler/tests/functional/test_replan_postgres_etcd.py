"""The re-planner with its plans on PostgreSQL and its planning lock in
etcd (tooz's etcd3gw driver); nova is faked at the edge."""

import collections
import multiprocessing
import os
import signal
import time
import uuid

from tooz import coordination

from cryptomine_scheduler import rpc
from cryptomine_scheduler.db import plans
from cryptomine_scheduler.db import store
from cryptomine_scheduler.replan import rounds as replan
from cryptomine_scheduler.tests import etcd
from cryptomine_scheduler.tests import fake_nova
from cryptomine_scheduler.tests import postgres
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.unit import test_replan

DOOMED = 'doomed-controller'


def doomed_leader(url: str, db_url: str, plan_id: str, moves,
                  ready) -> None:
    """A controller that takes the planning lock, records a running
    round with its first move started, and hangs until killed."""
    coordinator = coordination.get_coordinator(url, DOOMED.encode())
    coordinator.start(start_heart=True)
    coordinator.get_lock(replan.LOCK_NAME).acquire()
    store_ = plans.PlanStore(store.create_engine(db_url))
    store_.create(plan_id, trigger='operator', controller=DOOMED,
                  dry_run=False, status=plans.PlanStatus.RUNNING,
                  planning_seconds=0.1, efficacy={}, pinned={}, moves=moves)
    store_.action_started(plan_id, 0)
    ready.set()
    time.sleep(3600)


class OnPostgresAndEtcd(test_replan.ReplanTestCase):

    #: Seconds the planning lock outlives its holder.
    LOCK_TIMEOUT = 30

    def start_controller(self):
        if not hasattr(self, 'postgres'):
            self.postgres = self.useFixture(postgres.PostgresCluster())
            self.etcd = self.useFixture(etcd.EtcdServer(self.LOCK_TIMEOUT))
            self.conf.set_override('connection', self.postgres.url,
                                   'database')
        return super().start_controller()

    def coordination(self) -> str:
        return self.etcd.url


class TestPlansOnPostgresAndEtcd(OnPostgresAndEtcd, test_replan.TestPlans):
    """Every round test, on PostgreSQL and etcd."""


class TestRestartOnPostgresAndEtcd(OnPostgresAndEtcd,
                                   test_replan.TestRestartAndInterval):
    """A crash's round closed at start, and the periodic round."""


class TestCopyFactorsOnPostgresAndEtcd(OnPostgresAndEtcd,
                                       test_replan.TestCopyFactors):
    """The recorded live migrations a guest's copy factor reads."""


class TestFailuresOnPostgresAndEtcd(OnPostgresAndEtcd,
                                    test_replan.TestFailuresPerInstance):
    """Each instance's failed migrations, counted in PostgreSQL."""


class TestFailOver(OnPostgresAndEtcd):

    LOCK_TIMEOUT = 3

    def busy_reason(self) -> str | None:
        """Why planning is refused now (None: a dry run was planned)."""
        try:
            self.client.create_plan(dry_run=True, execute=False)
        except rpc.ReplanBusy as busy:
            return str(busy)
        return None

    def test_leader_killed_mid_round_another_takes_over(self):
        self.nova.release.clear()
        moved, pending = test_replan.server_id(0), test_replan.server_id(1)
        orphan = str(uuid.uuid4())
        context = multiprocessing.get_context('spawn')
        ready = context.Event()
        leader = context.Process(target=doomed_leader, args=(
            self.coordination_url, self.postgres.url, orphan,
            [fake_nova.move(moved, 'hot', 'cold1'),
             fake_nova.move(pending, 'hot', 'cold2')], ready))
        leader.start()
        self.addCleanup(leader.join, 30)
        self.addCleanup(leader.kill)
        self.assertTrue(ready.wait(waiting.PATIENCE))
        # nova runs the migration the leader asked for.
        self.nova.start(moved, 'cold1', True)
        self.assertIn('another re-plan round is running', self.busy_reason())

        os.kill(leader.pid, signal.SIGKILL)
        leader.join()
        # Its lease gone, the lock is free, but not the hosts: no round
        # while the dead round's migration runs.
        reason = waiting.wait_for(
            lambda: (r := self.busy_reason()) and 'still has migrations'
            in r and r, timeout=waiting.PATIENCE, interval=0.5)
        self.assertIn(orphan, reason)
        self.assertEqual('running', self.client.get_plan(orphan)['status'])

        self.nova.release.set()
        plan = self.client.create_plan(dry_run=False, execute=True)
        done = self.finished(plan['id'])
        closed = self.client.get_plan(orphan)
        self.assertEqual('partial', closed['status'])
        self.assertEqual([('succeeded', None),
                          ('aborted', 'controller-stopped')],
                         [(a['status'], a['cause'])
                          for a in closed['actions']])
        self.assertEqual('cold1', self.nova.host_of(moved))
        self.assertEqual('succeeded', done['status'])
        self.assertNotIn(moved, {a['instance'] for a in done['actions']})
        # No instance was asked to move twice.
        started = collections.Counter(i for i, _, _ in self.nova.started)
        self.assertEqual({1}, set(started.values()))
