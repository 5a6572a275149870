"""Burst hosts: the rules of :mod:`.burst` and their history
(:mod:`.db.burst`), on a real SQLite store and tooz's file driver."""

import dataclasses
import time

import fixtures
import oslo_messaging
from oslotest import base

from cryptomine_scheduler import exception
from cryptomine_scheduler.control import service
from cryptomine_scheduler.db import burst as burst_db
from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.placement import burst
from cryptomine_scheduler.placement.tiers import Tier
from cryptomine_scheduler.replan import cluster
from cryptomine_scheduler.replan import rounds as replan
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.unit import test_controller

T0 = 1_800_000_000.0
HOUR = 3600.0
AFTER = 600.0


def host(name, cost=None, accepts_moves=True):
    return cluster.ComputeHost(name, 8, 16384, accepts_moves=accepts_moves,
                               burst_cost_per_hour=cost)


def server(uuid, on):
    return cluster.Server(uuid, uuid, on, 1, 1024)


class ObserveTest(base.BaseTestCase):

    def test_stays_held_and_empty(self):
        found = cluster.Cluster(
            hosts=(host('home1'), host('b1', 2.0), host('b2', 2.0),
                   host('free', None), host('nocost', 0.0),
                   host('off', 1.0, accepts_moves=False),
                   host('gone', 3.0)),
            servers=(server('i1', 'home1'), server('i2', 'b1'),
                     server('i3', 'unknown')))
        look = burst.observe(found, frozenset({'gone'}))
        self.assertEqual(
            {'i1': burst.Stay('home1', Tier.HOME, None),
             'i2': burst.Stay('b1', Tier.BURST, 2.0),
             'i3': burst.Stay('unknown', Tier.HOME, None)}, look.stays)
        # Released hosts are neither held nor empty; a disabled host is
        # held but never empty; a burst host without a cost costs 0.
        self.assertEqual({'b1': 2.0, 'b2': 2.0, 'nocost': 0.0, 'off': 1.0},
                         look.held)
        self.assertEqual({'b2': 2.0, 'nocost': 0.0}, look.empty)


class DueTest(base.BaseTestCase):

    def test_boundaries(self):
        empty = {'new': 1.0, 'old': 2.0, 'exact': 3.0, 'short': 4.0}
        since = {'old': T0 - AFTER - 1, 'exact': T0 - AFTER,
                 'short': T0 - AFTER + 1, 'busy': T0 - 2 * AFTER}
        empty_since, releases = burst.due(empty, since, T0, AFTER)
        # A host no longer empty is forgotten; a new one starts now.
        self.assertEqual({'new': T0, 'old': T0 - AFTER - 1,
                          'exact': T0 - AFTER, 'short': T0 - AFTER + 1},
                         empty_since)
        self.assertEqual(
            (burst.Release('exact', 3.0, T0 - AFTER),
             burst.Release('old', 2.0, T0 - AFTER - 1)), releases)

    def test_release_after_zero_releases_at_first_sight(self):
        self.assertEqual(
            ({'h': T0}, (burst.Release('h', 0.0, T0),)),
            burst.due({'h': 0.0}, {}, T0, 0))

    def test_reason_and_payload(self):
        release = burst.Release('b1', 2.5, 1_800_000_000.0)
        self.assertEqual('cryptomine: burst host releasable since '
                         '2027-01-15T08:00:00+00:00', release.reason)
        self.assertEqual({'host': 'b1', 'tier': 'burst',
                          'cost_per_hour': 2.5,
                          'empty_since': 1_800_000_000.0},
                         release.payload())


class Cloud:
    """A cluster the test changes, and nova's disabling of services."""

    def __init__(self, *hosts):
        self.found = cluster.Cluster(hosts=hosts, servers=())
        self.disabled: list[tuple[str, str]] = []
        self.fail = False

    def set(self, *servers, **hosts):
        """Place ``servers``; replace hosts by name."""
        self.found = cluster.Cluster(
            hosts=tuple(hosts.get(h.name, h) for h in self.found.hosts),
            servers=servers)

    def disable(self, name: str, reason: str) -> None:
        if self.fail:
            raise RuntimeError('nova said no')
        self.disabled.append((name, reason))
        self.set(*self.found.servers, **{name: dataclasses.replace(
            self.host(name), accepts_moves=False)})

    def enable(self, name: str) -> None:
        self.set(*self.found.servers, **{name: dataclasses.replace(
            self.host(name), accepts_moves=True)})

    def host(self, name: str) -> cluster.ComputeHost:
        return next(h for h in self.found.hosts if h.name == name)


class SweeperTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.url = self.database_url()
        self.now = T0
        self.cloud = Cloud(host('home1'), host('b1', 2.0), host('b2', 2.0))
        self.sent: list[dict] = []
        self.sweeper = self.new_sweeper()

    def database_url(self) -> str:
        return f'sqlite:///{self.dir}/history.sqlite'

    def clock(self) -> float:
        return self.now

    def open_store(self) -> burst_db.BurstStore:
        history = store_mod.HistoryStore.open(self.url)
        self.addCleanup(history.close)
        return burst_db.BurstStore(history.engine, self.clock)

    def new_sweeper(self, lock=None, release=True) -> burst.Sweeper:
        self.store = self.open_store()
        return burst.Sweeper(
            self.store, lock or replan.PlanningLock(None, 'c1'),
            lambda: self.cloud.found, self.cloud.disable, self.sent.append,
            'c1', AFTER, release, self.clock)

    def sweep_at(self, at: float):
        self.now = at
        return self.sweeper.sweep()


class SweeperTest(SweeperTestCase):

    def test_empty_host_released_after_release_after(self):
        self.cloud.set(server('i1', 'b2'))
        self.assertEqual((), self.sweep_at(T0))
        self.assertEqual((), self.sweep_at(T0 + AFTER - 1))
        [release] = self.sweep_at(T0 + AFTER)
        self.assertEqual(burst.Release('b1', 2.0, T0), release)
        self.assertEqual([('b1', burst.reason(T0))], self.cloud.disabled)
        self.assertEqual([release.payload()], self.sent)
        self.assertEqual((), self.sweep_at(T0 + 2 * AFTER))
        [row] = self.store.releases()
        self.assertEqual(
            {'host': 'b1', 'cost_per_hour': 2.0, 'empty_since': T0,
             'released_at': T0 + AFTER, 'controller': 'c1',
             'reason': burst.reason(T0), 'ended_at': None, 'ended': None},
            {k: v for k, v in row.items() if k != 'id'})

    def test_occupied_host_starts_again(self):
        self.sweep_at(T0)
        self.cloud.set(server('i1', 'b1'), server('i2', 'b2'))
        self.sweep_at(T0 + AFTER / 2)
        self.cloud.set()
        self.assertEqual((), self.sweep_at(T0 + AFTER))
        self.assertEqual({'b1': T0 + AFTER, 'b2': T0 + AFTER},
                         self.store.empty_since())

    def test_re_enabled_host_counts_from_re_enabling(self):
        self.sweep_at(T0)
        self.assertEqual(2, len(self.sweep_at(T0 + AFTER)))
        self.cloud.enable('b1')
        self.assertEqual((), self.sweep_at(T0 + 2 * AFTER))
        self.assertEqual((), self.sweep_at(T0 + 3 * AFTER - 1))
        [again] = self.sweep_at(T0 + 3 * AFTER)
        self.assertEqual(burst.Release('b1', 2.0, T0 + 2 * AFTER), again)
        self.assertEqual(
            [('b1', T0 + 2 * AFTER, burst.RE_ENABLED), ('b2', None, None),
             ('b1', None, None)],
            [(r['host'], r['ended_at'], r['ended'])
             for r in self.store.releases()])

    def test_removed_host_ends_its_release(self):
        self.sweep_at(T0)
        self.sweep_at(T0 + AFTER)
        self.cloud.found = cluster.Cluster(hosts=(host('home1'),),
                                           servers=())
        self.sweep_at(T0 + AFTER + 1)
        self.assertEqual([burst.REMOVED] * 2,
                         [r['ended'] for r in self.store.releases()])

    def test_failed_disable_is_retried(self):
        self.cloud.fail = True
        self.sweep_at(T0)
        self.assertEqual((), self.sweep_at(T0 + AFTER))
        self.assertEqual([], self.sent)
        self.assertEqual([], self.store.releases())
        self.cloud.fail = False
        self.assertEqual(2, len(self.sweep_at(T0 + AFTER + 1)))

    def test_release_off_records_only(self):
        self.sweeper = self.new_sweeper(release=False)
        self.sweep_at(T0)
        self.assertEqual((), self.sweep_at(T0 + AFTER))
        self.assertEqual([], self.cloud.disabled)
        self.assertEqual({'b1': T0, 'b2': T0}, self.store.empty_since())

    def test_one_controller_looks_at_a_time(self):
        url = f'file://{self.dir}/coordination'
        mine, theirs = (replan.PlanningLock(url, name, burst.LOCK_NAME)
                        for name in ('c1', 'c2'))
        for lock in (mine, theirs):
            lock.start()
            self.addCleanup(lock.stop)
        self.sweeper = self.new_sweeper(mine)
        self.assertTrue(theirs.acquire())
        self.assertIsNone(self.sweep_at(T0))
        theirs.release()
        self.assertEqual((), self.sweep_at(T0))


class HistoryTest(SweeperTestCase):

    def test_stays_follow_moves_and_survive_a_restart(self):
        self.cloud.set(server('i1', 'home1'))
        self.sweep_at(T0)
        self.cloud.set(server('i1', 'b1'), server('i2', 'b1'))
        self.sweep_at(T0 + HOUR)
        # A new controller (or this one restarted) carries on.
        self.sweeper = self.new_sweeper()
        self.cloud.set(server('i1', 'home1'))
        self.sweep_at(T0 + 3 * HOUR)
        self.assertEqual(
            [('home1', 'home', None, T0, T0 + HOUR),
             ('b1', 'burst', 2.0, T0 + HOUR, T0 + 3 * HOUR),
             ('home1', 'home', None, T0 + 3 * HOUR, None)],
            [(s['host'], s['tier'], s['cost_per_hour'], s['start'],
              s['end']) for s in self.store.stays('i1')])
        self.assertEqual(
            [('b1', T0 + HOUR, T0 + 3 * HOUR)],
            [(s['host'], s['start'], s['end'])
             for s in self.store.stays('i2')])

    def test_a_changed_cost_starts_a_new_stay(self):
        self.cloud.set(server('i1', 'b1'))
        self.sweep_at(T0)
        self.cloud.set(server('i1', 'b1'), b1=host('b1', 3.0))
        self.sweep_at(T0 + HOUR)
        self.assertEqual([(2.0, T0 + HOUR), (3.0, None)],
                         [(s['cost_per_hour'], s['end'])
                          for s in self.store.stays('i1')])

    def test_status_now_and_over_a_period(self):
        # b3: a burst host whose aggregates give no cost.
        self.cloud = Cloud(*self.cloud.found.hosts, host('b3', 0.0))
        self.sweeper = self.new_sweeper(release=False)
        self.cloud.set(server('i1', 'home1'), server('i2', 'b1'),
                       server('i3', 'b1'))
        self.sweep_at(T0)
        self.sweep_at(T0 + 2 * HOUR)
        status = self.store.status(T0 + HOUR, T0 + 2 * HOUR)
        self.assertEqual(
            (burst_db.HostStatus('b1', 'burst', 2.0, 2),
             burst_db.HostStatus('b2', 'burst', 2.0, 0, empty_since=T0),
             burst_db.HostStatus('b3', 'burst', 0.0, 0, empty_since=T0),
             burst_db.HostStatus('home1', 'home', None, 1)),
            status.hosts)
        # Over the hour: three burst hosts held, two of them at 2 an
        # hour (equal costs add up), two instances on burst.
        self.assertEqual((4.0, 4.0, 3.0, 2.0),
                         (status.cost_per_hour, status.cost,
                          status.burst_host_hours,
                          status.burst_instance_hours))
        self.sweeper = self.new_sweeper()
        self.sweep_at(T0 + 3 * HOUR)  # b2 and b3 released
        status = self.store.status(T0, T0 + 4 * HOUR)
        self.assertEqual(
            [('b2', T0, T0 + 3 * HOUR), ('b3', T0, T0 + 3 * HOUR)],
            [(h.host, h.empty_since, h.released_at) for h in status.hosts
             if h.released_at is not None])
        # b1 held 4 h at 2, b2 3 h at 2, b3 3 h at 0; i2 and i3 4 h each.
        self.assertEqual((2.0, 14.0, 10.0, 8.0),
                         (status.cost_per_hour, status.cost,
                          status.burst_host_hours,
                          status.burst_instance_hours))
        self.assertEqual(
            burst_db.Totals(hosts_held=1, cost_per_hour=2.0,
                            burst_host_hours=10.0, cost=14.0,
                            burst_instance_hours=8.0, releasable=2,
                            releases=2),
            self.store.totals(T0 + 4 * HOUR))


class StatusOverRpcTest(test_controller.ControllerTestCase):
    """``get_burst_status`` on the operator topic."""

    def test_status_and_a_bad_since(self):
        now = time.time()
        self.controller.burst.record(
            now - HOUR, {'i1': burst.Stay('b1', Tier.BURST, 2.0)},
            {'b1': 2.0}, {})
        status = self.client.get_burst_status(now - HOUR)
        self.assertEqual(
            [{'host': 'b1', 'tier': 'burst', 'cost_per_hour': 2.0,
              'instances': 1, 'empty_since': None, 'released_at': None}],
            status['hosts'])
        self.assertEqual(2.0, status['cost_per_hour'])
        for since in ('yesterday', float('nan'), None):
            self.assertRaises(exception.BadArgument,
                              self.client.get_burst_status, since)


class PeriodicLookTest(test_controller.ControllerTestCase):
    """The controller looks every ``check_interval`` and announces a
    release on its bus (oslo.messaging's fake driver)."""

    def start_controller(self):
        self.cloud = Cloud(host('home1'), host('b1', 1.5))
        self.conf.set_override('check_interval', 1, 'burst')
        self.conf.set_override('release_after', 0, 'burst')
        self.conf.set_override('notification_topics', ['provisioning'],
                               'burst')
        self.received = []
        listener = oslo_messaging.get_notification_listener(
            self.transport, [oslo_messaging.Target(topic='provisioning')],
            [self], executor='threading')
        listener.start()
        self.addCleanup(listener.wait)
        self.addCleanup(listener.stop)
        controller = service.ControllerService(
            self.conf, self.transport, self.rpc_transport,
            nova=service.NovaLink(lambda: self.cloud.found,
                                  disable_service=self.cloud.disable))
        controller.start()
        self.addCleanup(self._stop, controller)
        return controller

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self.received.append((event_type, payload['host']))

    def test_empty_burst_host_released_and_announced(self):
        waiting.wait_for(lambda: self.received, waiting.PATIENCE)
        self.assertEqual([(burst.EVENT_TYPE, 'b1')], self.received)
        [(name, reason)] = self.cloud.disabled
        self.assertEqual('b1', name)
        self.assertTrue(reason.startswith(burst.REASON_PREFIX))
        self.assertEqual(['b1'], [
            r['host'] for r in self.controller.burst.releases()])
