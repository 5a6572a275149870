"""The re-planner in a running controller: real database, RPC and tooz
lock; nova is faked at the edge (the nova functional tests use the real
one)."""

import dataclasses
import functools
import multiprocessing
import time
import uuid

import fixtures
from tooz import coordination

from cryptomine_scheduler import exception
from cryptomine_scheduler import rpc
from cryptomine_scheduler.control import service
from cryptomine_scheduler.db import models
from cryptomine_scheduler.db import plans
from cryptomine_scheduler.planning import heuristic
from cryptomine_scheduler.replan import cluster
from cryptomine_scheduler.replan import rounds as replan
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests import fake_nova
from cryptomine_scheduler.tests import fleets
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.unit import test_controller

HOSTS = {'hot': 16, 'cold1': 16, 'cold2': 16}
MEMORY_MB = 65536


def server_id(n: int) -> str:
    return str(uuid.UUID(int=n + 1))


def skewed_cluster() -> cluster.Cluster:
    """Six 2-vCPU, 4 GiB servers, all on ``hot``."""
    return cluster.Cluster(
        hosts=tuple(cluster.ComputeHost(name, vcpus, MEMORY_MB,
                                        cpu_allocation_ratio=4.0)
                    for name, vcpus in HOSTS.items()),
        servers=tuple(cluster.Server(uuid=server_id(n), name=f'vm{n}',
                                     host='hot', vcpus=2, memory_mb=4096)
                      for n in range(6)))


def hold_lock(url: str, held, release) -> None:
    """Another controller: hold the planning lock until told."""
    coordinator = coordination.get_coordinator(url, b'other-controller')
    coordinator.start()
    lock = coordinator.get_lock(b'cryptomine-replan')
    lock.acquire()
    held.set()
    release.wait(30)
    lock.release()
    coordinator.stop()


class ReplanTestCase(test_controller.ControllerTestCase):

    #: Whether the controller may disable hosts in :attr:`nova`.
    disables_hosts = False

    def setUp(self):
        self.nova = fake_nova.FakeNova(skewed_cluster())
        super().setUp()
        self.conf.set_override('migration_poll_interval', 0.05, 'replan')
        # These tests are about rounds, not about when a move pays: the
        # small skewed cluster moves at a low bar.
        self.conf.set_override('min_gain', fleets.LOW_BAR.limits.min_gain,
                               'replan')
        self.record_load()

    def start_controller(self):
        self.coordination_url = self.coordination()
        self.conf.set_override('coordination_url', self.coordination_url,
                               'replan')
        controller = service.ControllerService(
            self.conf, self.transport, self.rpc_transport,
            nova=self.nova_link())
        controller.start()
        self.addCleanup(self._stop, controller)
        return controller

    def nova_link(self) -> service.NovaLink:
        """How the controller reaches :attr:`nova`; with
        :attr:`disables_hosts`, it may disable hosts (and burst hosts are
        not looked at)."""
        if not self.disables_hosts:
            return service.NovaLink(self.nova.cluster, self.nova)
        self.conf.set_override('check_interval', 0, 'burst')
        return service.NovaLink(self.nova.cluster, self.nova,
                                disable_service=self.nova.disable)

    def coordination(self) -> str:
        """The tooz URL of the planning lock."""
        return f'file://{self.useFixture(fixtures.TempDir()).path}'

    def record_load(self):
        """Ten samples a host: each server busy 1.6 cores (10 % of its
        host), 4 GiB resident."""
        now = time.time()
        for name in HOSTS:
            guests = [s for s in self.nova.cluster().servers
                      if s.host == name]
            for i in range(10):
                self.controller.tracker.add(samples.make(
                    host=name, seq=i, timestamp=now - 10 + i,
                    cpu=10.0 * len(guests) + 2.0,
                    mem=100.0 * 4096 * len(guests) / MEMORY_MB + 5.0,
                    instances=[sample.InstanceLoad(s.uuid, 10.0, 4096.0)
                               for s in guests]))

    def record_move(self, instance: str, started: float, seconds: float,
                    status: str = 'succeeded', cold: bool = True,
                    cause: plans.ActionCause | None = None) -> None:
        """A move of another controller's round, ended as given."""
        store = plans.PlanStore(self.controller.store.engine)
        plan_id = str(uuid.uuid4())
        store.create(plan_id, trigger='operator', controller='other',
                     dry_run=False, status=plans.PlanStatus.SUCCEEDED,
                     planning_seconds=0.1, efficacy={}, pinned={},
                     moves=[heuristic.Move(instance, 'cold2', 'hot',
                                           4096.0, 0.1)],
                     cold=frozenset({instance} if cold else ()))
        with store.engine.begin() as conn:
            conn.execute(models.plan_actions.update().where(
                models.plan_actions.c.plan_id == plan_id).values(
                    status=status, started_at=started,
                    finished_at=started + seconds,
                    cause=cause and cause.value,
                    error=cause and f'ended as {cause.value}'))

    def finished(self, plan_id):
        waiting.wait_for(
            lambda: self.client.get_plan(plan_id)['finished_at'],
            waiting.PATIENCE)
        return self.client.get_plan(plan_id)


class TestPlans(ReplanTestCase):

    def test_dry_run_records_moves_and_moves_nothing(self):
        plan = self.client.create_plan(dry_run=True, execute=False)
        self.assertEqual('planned', plan['status'])
        self.assertTrue(plan['dry_run'])
        self.assertEqual('operator', plan['trigger'])
        self.assertGreater(len(plan['actions']), 0)
        self.assertTrue(all(a['status'] == 'pending'
                            for a in plan['actions']))
        self.assertEqual({'hot'}, {a['source'] for a in plan['actions']})
        e = plan['efficacy']
        self.assertLess(e['after']['sigma'], e['before']['sigma'])
        self.assertEqual(len(plan['actions']), e['moves'])
        self.assertEqual([], self.nova.started)
        self.assertEqual([plan['id']],
                         [p['id'] for p in self.client.list_plans()])
        self.assertNotIn('actions', self.client.list_plans()[0])

    def test_rebalance_moves_what_the_plan_said(self):
        plan = self.client.create_plan(dry_run=False, execute=True)
        done = self.finished(plan['id'])
        self.assertEqual('succeeded', done['status'])
        for action in done['actions']:
            self.assertEqual('succeeded', action['status'])
            self.assertLessEqual(action['started_at'], action['finished_at'])
            self.assertEqual(action['destination'],
                             self.nova.host_of(action['instance']))
        self.assertEqual(
            [(a['instance'], a['destination'], True)
             for a in done['actions']], self.nova.started)
        registry = self.controller.metrics.registry
        self.assertEqual(len(done['actions']), registry.get_sample_value(
            'cryptomine_migrations_total',
            {'status': 'succeeded', 'how': 'live', 'cause': ''}))
        self.assertEqual(1, registry.get_sample_value(
            'cryptomine_plans_total', {'status': 'running'}))

    def test_each_instance_s_migrations(self):
        start = time.time() - 1
        self.client.create_plan(dry_run=True, execute=False)
        done = self.finished(self.client.create_plan(
            dry_run=False, execute=True)['id'])
        for action in done['actions']:
            self.assertEqual([{
                'plan_id': done['id'], 'source': 'hot',
                'destination': action['destination'], 'live': True,
                'status': 'succeeded', 'cause': None, 'error': None,
                'started_at': action['started_at'],
                'finished_at': action['finished_at']}],
                self.client.get_instance_migrations(action['instance'],
                                                    start))
            # Started before the period asked about: not listed.
            self.assertEqual([], self.client.get_instance_migrations(
                action['instance'], action['started_at'] + 1e-3))
        unmoved = {server_id(n) for n in range(6)} - {
            a['instance'] for a in done['actions']}
        self.assertTrue(unmoved)
        self.assertEqual([], self.client.get_instance_migrations(
            unmoved.pop(), start))

    def test_moved_instances_cool_down(self):
        first = self.finished(self.client.create_plan(
            dry_run=False, execute=True)['id'])
        moved = {a['instance'] for a in first['actions']}
        second = self.client.create_plan(dry_run=True, execute=False)
        self.assertEqual(len(moved), second['pinned']['moved recently'])
        self.assertFalse(moved & {a['instance'] for a in second['actions']})

    def test_injected_failure_is_recorded_and_stops_the_round(self):
        self.conf.set_override('max_failures', 1, 'replan')
        self.nova.failing = {s.uuid for s in self.nova.cluster().servers}
        self.conf.set_override('max_parallel', 1, 'replan')
        done = self.finished(self.client.create_plan(
            dry_run=False, execute=True)['id'])
        statuses = [a['status'] for a in done['actions']]
        self.assertEqual('failed', statuses[0])
        self.assertEqual(('injected failure', 'nova'),
                         (done['actions'][0]['error'],
                          done['actions'][0]['cause']))
        self.assertTrue(set(statuses[1:]) <= {'aborted', 'skipped'})
        self.assertEqual('failed', done['status'])
        self.assertEqual(1, len(self.nova.started))
        self.assertEqual(1, self.controller.metrics.registry.get_sample_value(
            'cryptomine_migrations_total',
            {'status': 'failed', 'how': 'live', 'cause': 'nova'}))

    def test_abort_stops_starting_moves_and_aborts_the_running_one(self):
        self.conf.set_override('max_parallel', 1, 'replan')
        self.nova.release.clear()  # the first migration runs until aborted
        plan = self.client.create_plan(dry_run=False, execute=True)
        waiting.wait_for(lambda: self.nova.started, waiting.PATIENCE)
        self.client.abort_plan(plan['id'])
        done = self.finished(plan['id'])
        first, *rest = done['actions']
        self.assertEqual([self.nova.started[0][0]], self.nova.aborted)
        self.assertEqual(('failed', 'plan aborted on request',
                          'abort-requested'),
                         (first['status'], first['error'], first['cause']))
        self.assertEqual([('aborted', 'round-stopped')] * len(rest),
                         [(a['status'], a['cause']) for a in rest])
        self.assertEqual('failed', done['status'])

    def test_one_round_at_a_time_in_this_controller(self):
        self.nova.release.clear()
        plan = self.client.create_plan(dry_run=False, execute=True)
        self.assertRaises(rpc.ReplanBusy, self.client.create_plan,
                          dry_run=True, execute=False)
        self.nova.release.set()
        self.finished(plan['id'])
        self.client.create_plan(dry_run=True, execute=False)

    def test_another_controller_holding_the_lock_blocks_planning(self):
        ctx = multiprocessing.get_context('spawn')
        held, release = ctx.Event(), ctx.Event()
        other = ctx.Process(target=hold_lock,
                            args=(self.coordination_url, held, release))
        other.start()
        self.addCleanup(other.join, 10)
        self.addCleanup(release.set)
        self.assertTrue(held.wait(30))
        self.assertRaises(rpc.ReplanBusy, self.client.create_plan,
                          dry_run=True, execute=False)
        release.set()
        other.join(10)
        self.assertEqual('planned', self.client.create_plan(
            dry_run=True, execute=False)['status'])

    def test_errors(self):
        self.assertRaises(rpc.PlanNotFound, self.client.get_plan, 'nope')
        self.assertRaises(rpc.PlanNotFound, self.client.abort_plan, 'nope')
        self.assertRaises(rpc.UnknownAggregate, self.client.create_plan,
                          dry_run=True, execute=False, aggregate='gpu-pool')

    def test_balanced_fleet_has_nothing_to_do(self):
        plan = self.client.create_plan(dry_run=True, execute=False,
                                       max_moves=0)
        self.assertEqual('nothing-to-do', plan['status'])
        self.assertIsNotNone(plan['finished_at'])


class TestWithoutNova(test_controller.ControllerTestCase):

    def test_unavailable(self):
        self.assertRaises(rpc.ReplanUnavailable, self.client.create_plan,
                          dry_run=True, execute=False)


class TestRestartAndInterval(ReplanTestCase):

    def test_round_left_running_by_a_crash_is_closed_at_start(self):
        planned = self.client.create_plan(dry_run=True, execute=False)
        self.controller.stop()
        # What a controller killed mid-round leaves: a running plan.
        store = plans.PlanStore(self.controller.store.engine)
        moves = [fake_nova.move(server_id(0), 'hot', 'cold1'),
                 fake_nova.move(server_id(1), 'hot', 'cold2')]
        crashed, elsewhere = str(uuid.uuid4()), str(uuid.uuid4())
        for plan_id, controller in ((crashed, self.conf.host),
                                    (elsewhere, 'other-controller')):
            store.create(plan_id, trigger='operator', controller=controller,
                         dry_run=False, status=plans.PlanStatus.RUNNING,
                         planning_seconds=0.1, efficacy={}, pinned={},
                         moves=moves)
            store.action_started(plan_id, 0)
        self.controller = self.start_controller()
        done = self.client.get_plan(crashed)
        self.assertEqual('aborted', done['status'])
        self.assertEqual('controller stopped during the round',
                         done['error'])
        # The migration in flight may have happened: it cools down.
        self.assertEqual([('failed', 'controller-stopped'),
                          ('aborted', 'controller-stopped')],
                         [(a['status'], a['cause'])
                          for a in done['actions']])
        self.assertIn(server_id(0), store.last_moved(0.0))
        # Another controller's round is its own business.
        self.assertEqual('running', self.client.get_plan(elsewhere)['status'])
        self.assertEqual('planned',
                         self.client.get_plan(planned['id'])['status'])

    def test_periodic_dry_run(self):
        self.controller.stop()
        self.conf.set_override('interval', 1, 'replan')
        self.conf.set_override('dry_run', True, 'replan')
        self.controller = self.start_controller()
        self.record_load()
        found = waiting.wait_for(lambda: self.client.list_plans(),
                                 waiting.PATIENCE)
        self.assertEqual('interval', found[0]['trigger'])
        self.assertTrue(found[0]['dry_run'])
        self.assertEqual([], self.nova.started)


    def test_periodic_rounds_keep_to_the_daily_budget(self):
        # A move started before the last 24 h does not count; one since
        # (an operator's) does.
        store = plans.PlanStore(self.controller.store.engine)
        for started in (time.time() - 86_500, time.time() - 3_600):
            plan_id = str(uuid.uuid4())
            store.create(plan_id, trigger='operator', controller='other',
                         dry_run=False, status=plans.PlanStatus.SUCCEEDED,
                         planning_seconds=0.1, efficacy={}, pinned={},
                         moves=[heuristic.Move(server_id(5), 'hot', 'cold1',
                                               4096.0, 0.1)])
            with store.engine.begin() as conn:
                conn.execute(models.plan_actions.update().where(
                    models.plan_actions.c.plan_id == plan_id).values(
                        status='succeeded', started_at=started))
        self.controller.stop()
        self.conf.set_override('interval', 1, 'replan')
        self.conf.set_override('max_moves_per_day', 3, 'replan')
        self.controller = self.start_controller()
        self.record_load()

        def rounds():
            found = sorted((self.client.get_plan(p['id'])
                            for p in self.client.list_plans()
                            if p['trigger'] == 'interval'),
                           key=lambda p: p['created_at'])
            moving = [k for k, p in enumerate(found) if p['actions']]
            return found if moving and len(found) > moving[0] + 1 else None

        found = waiting.wait_for(rounds, waiting.PATIENCE)
        # The round that moved planned what was left of the day's three;
        # none after it moved anything.
        [moved] = [p for p in found if p['actions']]
        self.assertEqual(2, len(moved['actions']))
        self.assertEqual(2, len(self.nova.started))


class TestTenantBudgets(ReplanTestCase):
    """Passthrough guests of two tenants, moved only cold: each tenant's
    day of cold downtime and of migrations."""

    def setUp(self):
        super().setUp()
        self.controller.stop()
        self.nova = fake_nova.FakeNova(dataclasses.replace(
            skewed_cluster(), servers=tuple(
                dataclasses.replace(s, live_migratable=False,
                                    project='acme' if n < 3 else 'other')
                for n, s in enumerate(skewed_cluster().servers))))
        self.conf.set_override('allow_cold_migration', True, 'replan')
        self.conf.set_override('cold_downtime_per_tenant', 600, 'replan')
        self.controller = self.start_controller()
        self.record_load()

    def test_the_week_s_succeeded_cold_migrations_are_learned(self):
        now = time.time()
        self.record_move(server_id(0), now - 8 * replan.DAY, 50.0)
        self.record_move(server_id(1), now - 2 * replan.DAY, 70.0)
        self.record_move(server_id(2), now - replan.DAY, 90.0)
        self.record_move(server_id(3), now - 600, 30.0, 'failed')
        self.record_move(server_id(4), now - 600, 20.0, cold=False)
        store = plans.PlanStore(self.controller.store.engine)
        self.assertEqual([70.0, 90.0], sorted(
            store.cold_migration_seconds(now - replan.WEEK)))

    def planned_tenants(self) -> tuple[set[str], dict]:
        plan = self.client.create_plan(dry_run=True, execute=False)
        tenants = {s.uuid: s.project for s in self.nova.cluster().servers}
        return ({tenants[a['instance']] for a in plan['actions']},
                plan['pinned'])

    def test_a_tenant_past_its_day_of_downtime_is_not_moved_cold(self):
        now = time.time()
        # acme: 400 s a day ago (not counted) and 300 + 300 s since.
        self.record_move(server_id(0), now - 86_500, 400.0)
        self.record_move(server_id(1), now - 7_200, 300.0)
        self.record_move(server_id(2), now - 3_600, 300.0)
        # other: 500 s, within its 600.
        self.record_move(server_id(3), now - 3_600, 500.0)
        moved, pinned = self.planned_tenants()
        self.assertEqual({'other'}, moved)
        self.assertEqual(3, pinned["tenant's cold-migration downtime spent"])

    def test_a_tenant_past_its_day_of_migrations_is_not_moved(self):
        self.conf.set_override('max_moves_per_tenant', 2, 'replan')
        now = time.time()
        # acme: one move a day ago (not counted) and two since, short
        # enough to leave its downtime; other: one.
        self.record_move(server_id(0), now - 86_500, 10.0)
        self.record_move(server_id(1), now - 7_200, 10.0)
        self.record_move(server_id(1), now - 3_600, 10.0)
        self.record_move(server_id(3), now - 3_600, 10.0)
        moved, pinned = self.planned_tenants()
        self.assertEqual({'other'}, moved)
        self.assertEqual(3, pinned["tenant's migrations of the day spent"])

    def test_cold_moves_pay_for_the_downtime_recorded_here(self):
        # Two days ago, cold migrations that stopped their guests for
        # longer than the cooldown (outside the day's budgets): once
        # three are recorded, no move here recovers as much.
        self.conf.set_override('cold_downtime_per_tenant', 0, 'replan')
        long_ago = time.time() - 2 * replan.DAY
        for n in range(2):
            self.record_move(server_id(n), long_ago + n, 4000.0)
        moved, _ = self.planned_tenants()
        self.assertTrue(moved)  # 120 s expected
        self.record_move(server_id(2), long_ago + 2, 4000.0)
        moved, _ = self.planned_tenants()
        self.assertEqual(set(), moved)

    def test_cold_moves_are_counted_as_cold(self):
        done = self.finished(self.client.create_plan(
            dry_run=False, execute=True)['id'])
        self.assertTrue(done['actions'])
        self.assertEqual({False}, {live for _, _, live in self.nova.started})
        counted = {how: self.controller.metrics.registry.get_sample_value(
            'cryptomine_migrations_total',
            {'status': 'succeeded', 'how': how, 'cause': ''})
            for how in ('live', 'cold')}
        self.assertEqual({'live': 0, 'cold': len(done['actions'])},
                         counted)

    def test_within_the_budget_both_tenants_move(self):
        self.record_move(server_id(1), time.time() - 3_600, 599.0)
        moved, pinned = self.planned_tenants()
        self.assertEqual({'acme', 'other'}, moved)
        self.assertNotIn("tenant's cold-migration downtime spent", pinned)


class DrainTestCase(ReplanTestCase):
    """An operator empties one host of a balanced fleet: two guests on
    each host, those on ``cold1`` passthrough ones (no live migration)
    when ``passthrough`` is set."""

    passthrough = False
    disables_hosts = True

    def setUp(self):
        super().setUp()
        self.controller.stop()
        hosts = sorted(HOSTS)
        self.nova = fake_nova.FakeNova(dataclasses.replace(
            skewed_cluster(), servers=tuple(
                dataclasses.replace(
                    s, host=hosts[n % 3], live_migratable=not (
                        self.passthrough and hosts[n % 3] == 'cold1'))
                for n, s in enumerate(skewed_cluster().servers))))
        self.controller = self.start_controller()
        self.record_load()

    def on(self, host: str) -> set[str]:
        return {s.uuid for s in self.nova.cluster().servers
                if s.host == host}

    def drained(self, **scope) -> dict:
        return self.finished(self.client.create_plan(
            dry_run=False, execute=True, drain='cold1', **scope)['id'])


class TestDrain(DrainTestCase):

    def test_a_drain_moves_the_host_s_guests_and_nothing_else(self):
        self.assertEqual('nothing-to-do', self.client.create_plan(
            dry_run=True, execute=False)['status'])
        leaving = self.on('cold1')
        # One of them moved a minute ago: a drain moves it all the same.
        self.record_move(min(leaving), time.time() - 60, 30.0, cold=False)
        staying = {h: self.on(h) for h in ('hot', 'cold2')}
        done = self.drained()
        self.assertEqual(('drain', 'succeeded'),
                         (done['trigger'], done['status']))
        self.assertEqual(leaving, {a['instance'] for a in done['actions']})
        # Its efficacy and gains are the fleet's balance, which the drain
        # makes worse: not the cost it put on staying.
        e = done['efficacy']
        self.assertLess(e['before']['objective'], e['after']['objective'])
        self.assertLess(e['after']['objective'], 1.0)
        self.assertLess(sum(a['gain'] for a in done['actions']), 0.0)
        self.assertEqual({'cold1'}, {a['source'] for a in done['actions']})
        self.assertEqual(set(), self.on('cold1'))
        # The two guests went one to each host, and no other guest moved.
        self.assertEqual({'hot', 'cold2'},
                         {a['destination'] for a in done['actions']})
        for host, before in staying.items():
            self.assertLessEqual(before, self.on(host))

    def test_a_drain_carried_out_disables_the_host_in_nova(self):
        self.nova.release.clear()
        plan = self.client.create_plan(dry_run=False, execute=True,
                                       drain='cold1', disable=True)
        reason = f'cryptomine: drained by plan {plan["id"]}'
        self.assertEqual((True, {'cold1': reason}),
                         (plan['disabled_host'], self.nova.disabled))
        self.nova.release.set()
        self.assertEqual('succeeded', self.finished(plan['id'])['status'])
        self.assertEqual(set(), self.on('cold1'))
        # Drained again, empty and disabled already: its reason stays.
        again = self.client.create_plan(dry_run=False, execute=True,
                                        drain='cold1', disable=True)
        self.assertEqual(('nothing-to-do', False, {'cold1': reason}),
                         (again['status'], again['disabled_host'],
                          self.nova.disabled))

    def test_nothing_moves_off_a_host_nova_does_not_disable(self):
        self.nova.disable_error = RuntimeError(
            'Policy does not allow os_compute_api:os-services:update')
        error = self.assertRaises(
            exception.NovaUnavailable, self.client.create_plan,
            dry_run=False, execute=True, drain='cold1', disable=True)
        self.assertIn('disabling nova-compute on cold1 failed, so nothing '
                      'moved: Policy does not allow', str(error))
        self.assertEqual(([], []),
                         (self.client.list_plans(), self.nova.started))
        # Kept enabled, the drain goes on.
        done = self.drained()
        self.assertEqual(('succeeded', {}),
                         (done['status'], self.nova.disabled))

    def test_errors(self):
        for max_moves in (None, 1):
            self.assertRaises(exception.UnknownHost, self.client.create_plan,
                              dry_run=True, execute=False, drain='nope',
                              max_moves=max_moves)
        self.assertRaises(exception.UnknownHost, self.client.create_plan,
                          dry_run=False, execute=True, drain='nope',
                          disable=True)
        self.assertRaises(exception.BadArgument, self.client.create_plan,
                          dry_run=True, execute=False, cold=True)
        for scope in ({'dry_run': True, 'execute': False, 'drain': 'cold1'},
                      {'dry_run': False, 'execute': True}):
            self.assertRaises(exception.BadArgument, self.client.create_plan,
                              disable=True, **scope)
        self.assertEqual({}, self.nova.disabled)


class TestDrainPassthrough(DrainTestCase):

    passthrough = True

    def test_guests_that_cannot_live_migrate_leave_only_cold(self):
        # A window of a minute, twelve hours from now.
        hour = (time.gmtime().tm_hour + 12) % 24
        self.conf.set_override('cold_migration_windows',
                               [f'* {hour:02d}:00-{hour:02d}:01'], 'replan')
        plan = self.client.create_plan(dry_run=True, execute=False,
                                       drain='cold1')
        self.assertEqual(('nothing-to-do', {'not live-migratable': 2}),
                         (plan['status'], plan['pinned']))
        # Allowed, but outside every window: still not now.
        self.conf.set_override('allow_cold_migration', True, 'replan')
        plan = self.client.create_plan(dry_run=True, execute=False,
                                       drain='cold1')
        self.assertEqual({'cold migration outside its windows': 2},
                         plan['pinned'])
        done = self.drained(cold=True)
        self.assertEqual('succeeded', done['status'])
        self.assertEqual({False}, {live for _, _, live in self.nova.started})
        self.assertEqual(set(), self.on('cold1'))


class TestCopyFactors(ReplanTestCase):
    """The live migrations recorded here price each guest's next one."""

    def record_live_move(self, instance: str, started: float,
                         seconds: float, status: str = 'succeeded',
                         cause: plans.ActionCause | None = None) -> None:
        self.record_move(instance, started, seconds, status, cold=False,
                         cause=cause)

    def test_the_week_s_completed_and_timed_out_live_migrations(self):
        now = time.time()
        self.record_live_move(server_id(0), now - 8 * replan.DAY, 10.0)
        self.record_live_move(server_id(1), now - 600, 12.0)
        self.record_live_move(server_id(2), now - 600, 3600.0, 'failed',
                              plans.ActionCause.TIMED_OUT)
        self.record_live_move(server_id(3), now - 600, 5.0, 'failed',
                              plans.ActionCause.NOVA)
        self.record_move(server_id(4), now - 600, 30.0)  # cold
        store = plans.PlanStore(self.controller.store.engine)
        self.assertEqual(
            {(server_id(1), 4096.0, 12.0, True),
             (server_id(2), 4096.0, 3600.0, False)},
            set(store.live_migrations(now - replan.WEEK)))

    def planned(self) -> set[str]:
        plan = self.client.create_plan(dry_run=True, execute=False)
        return {a['instance'] for a in plan['actions']}

    def test_a_guest_nova_could_not_move_live_is_not_tried_again(self):
        moved = self.planned()
        stuck = min(moved)
        # A day ago: three guests of its size moved live in 10 s, and its
        # own migration was aborted at the timeout.
        day_ago = time.time() - replan.DAY
        peers = [server_id(n) for n in range(6)
                 if server_id(n) != stuck][:3]
        for n, peer in enumerate(peers):
            self.record_live_move(peer, day_ago + n, 10.0)
        self.record_live_move(stuck, day_ago, 1800.0, 'failed',
                              plans.ActionCause.TIMED_OUT)
        again = self.planned()
        self.assertTrue(again)
        self.assertNotIn(stuck, again)


class TestFailuresPerInstance(ReplanTestCase):
    """An instance whose migrations nova failed twice in a day is left
    alone; failures that say nothing of it do not count."""

    def test_twice_failed_in_a_day_is_not_planned(self):
        now = time.time()
        # Each failed an hour or more ago: past the cooldown.
        failed = functools.partial(self.record_move, status='failed',
                                   cold=False)
        nova = plans.ActionCause.NOVA
        for n in range(2):
            failed(server_id(0), now - 7_200 + n, 60.0, cause=nova)
        # Once today, and once yesterday.
        failed(server_id(1), now - 7_200, 60.0, cause=nova)
        failed(server_id(1), now - 90_000, 60.0, cause=nova)
        # Failures that were not its own.
        for n, cause in enumerate(plans.ActionCause):
            if cause is not nova:
                failed(server_id(2), now - 7_200 + n, 60.0, cause=cause)
        store = plans.PlanStore(self.controller.store.engine)
        self.assertEqual({server_id(0): 2, server_id(1): 1},
                         store.failures_by_instance(now - replan.DAY))
        plan = self.client.create_plan(dry_run=True, execute=False)
        self.assertEqual(1, plan['pinned']['its migrations failed today'])
        moved = {a['instance'] for a in plan['actions']}
        self.assertNotIn(server_id(0), moved)
        # The bar is the operator's.
        self.conf.set_override('max_failures_per_instance', 3, 'replan')
        plan = self.client.create_plan(dry_run=True, execute=False)
        self.assertNotIn('its migrations failed today', plan['pinned'])
        self.assertIn(server_id(0), {a['instance'] for a in plan['actions']})


class TestLockAndOwnership(ReplanTestCase):

    def test_coordination_backend_error_does_not_jam_planning(self):
        lock = self.controller.replanner._lock._lock
        real_acquire = lock.acquire
        calls = []

        def failing_once(*args, **kwargs):
            calls.append(args)
            if len(calls) == 1:
                raise coordination.ToozConnectionError('backend down')
            return real_acquire(*args, **kwargs)

        self.useFixture(fixtures.MonkeyPatch(
            f'{type(lock).__module__}.{type(lock).__qualname__}.acquire',
            lambda _self, *a, **k: failing_once(*a, **k)))
        self.assertRaises(rpc.ReplanBusy, self.client.create_plan,
                          dry_run=True, execute=False)
        self.assertEqual('planned', self.client.create_plan(
            dry_run=True, execute=False)['status'])

    def test_abort_of_a_round_owned_elsewhere_is_refused(self):
        store = plans.PlanStore(self.controller.store.engine)
        theirs = str(uuid.uuid4())
        store.create(theirs, trigger='operator', controller='other',
                     dry_run=False, status=plans.PlanStatus.RUNNING,
                     planning_seconds=0.1, efficacy={}, pinned={},
                     moves=[fake_nova.move(server_id(0), 'hot', 'cold1')])
        self.assertRaises(rpc.NotRunningHere,
                          self.controller.replanner.abort, theirs)

    def test_nova_failure_is_one_clear_error(self):
        def broken():
            raise ConnectionError('keystone: connection refused')

        self.controller.replanner._cluster_source = broken
        error = self.assertRaises(rpc.NovaUnavailable,
                                  self.client.create_plan,
                                  dry_run=True, execute=False)
        self.assertIn('connection refused', str(error))
