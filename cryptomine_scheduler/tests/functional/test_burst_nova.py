"""The burst tier inside a real nova (API, conductor, scheduler,
placement, fake computes in the test process).

Boots: the plugin fills the operator's own hosts first and spills to the
cheapest burst host only when none of them can take a guest, and its
admission guard refuses a burst host that would leave a flavor's price
less than the margin.  Releases: the controller reads the cluster and
disables an empty burst host through openstacksdk, sends
``cryptomine.burst.releasable`` (captured on oslo.messaging's fake
driver), and uses a host the operator enables again; after a peak the
re-planner live-migrates the guests home and their burst host is
released; the status is asked through cryptomine-api and the command
line.
"""

# nova_base first (through test_replan_nova): it selects nova's
# concurrency mode.
from cryptomine_scheduler.tests.functional import test_replan_nova  # noqa: I001

import functools
import threading
import time

import fixtures
import oslo_messaging
from nova.tests import fixtures as nova_fixtures

from cryptomine_scheduler.placement import burst
from cryptomine_scheduler.replan import nova_inventory
from cryptomine_scheduler.replan import nova_migrator
from cryptomine_scheduler import rpc
from cryptomine_scheduler.control import service
from cryptomine_scheduler.tests import api_server
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.functional import nova_sdk
from cryptomine_scheduler.tests.functional import test_cli
from cryptomine_scheduler.tests.functional import test_nova_scheduling
from cryptomine_scheduler.tests.unit import test_controller

RELEASE_AFTER = 600


class BurstAggregates:
    """Burst hosts through their aggregates' properties."""

    def make_burst(self, host: str, cost: str | None) -> None:
        metadata = {'cryptomine:tier': 'burst'}
        if cost is not None:
            metadata['cryptomine:cost_per_hour'] = cost
        aggregate = self._create_aggregate(f'rented-{host}')
        self.admin_api.add_host_to_aggregate(aggregate, host)
        self.admin_api.post_aggregate_action(aggregate, {'set_metadata': {
            'metadata': metadata}})


class BurstBootTest(BurstAggregates, test_nova_scheduling.LoadAwareTestBase):
    """host1 and host2 the operator's own; host3 rented at 3 an hour,
    host4 at 1 (and busier)."""

    FLAVORS = dict(test_nova_scheduling.LoadAwareTestBase.FLAVORS,
                   thin=(4, 2048, 10, {'cryptomine:price_per_hour': '1.1'}),
                   rich=(4, 2048, 10, {'cryptomine:price_per_hour': '10'}))

    def setUp(self):
        super().setUp()
        self.make_burst('host3', '3.0')
        self.make_burst('host4', '1.0')

    def test_home_hosts_first_then_the_cheapest_burst_host(self):
        # Each 4-vCPU miner adds 25 % to a 16-vCPU host; the threshold
        # is 90 %: a home host takes two (35 -> 60 -> 85), not three.
        self.report({'host1': 35.0, 'host2': 35.0, 'host3': 5.0,
                     'host4': 10.0})
        placed = [self.host_of(self.boot_server('miner'))
                  for _ in range(6)]
        self.assertEqual(['host1', 'host1', 'host2', 'host2'],
                         sorted(placed[:4]))
        # Then the cheaper burst host, though the dearer one is idler.
        self.assertEqual(['host4', 'host4'], placed[4:])

    def test_guard_refuses_a_burst_host_below_the_margin(self):
        self.flags(overload_policy='hard', burst_min_margin=0.2,
                   group='cryptomine')
        self.report({'host1': 95.0, 'host2': 95.0, 'host3': 5.0,
                     'host4': 5.0})
        # Earning 1.1 an hour on a host costing 1 leaves 9 %; at 3, less.
        thin = self.wait_for_status(self.boot_server('thin', wait=False),
                                    'ERROR')
        self.assertIn('No valid host', thin['fault']['message'])
        # Earning 10 leaves 90 % on host4: the cheapest burst host.
        self.assertEqual('host4', self.host_of(self.boot_server('rich')))


class Notifications:
    """oslo.messaging's notification endpoint, keeping what it gets."""

    filter_rule = oslo_messaging.NotificationFilter(
        event_type=burst.EVENT_TYPE.replace('.', r'\.'))

    def __init__(self):
        self.received: list[tuple[str, dict]] = []
        self.arrived = threading.Event()

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self.received.append((publisher_id, payload))
        self.arrived.set()


class BurstReleaseTest(BurstAggregates, test_cli.RunsApp,
                       test_replan_nova.ServersMixin,
                       nova_sdk.NovaSDKTestCase):
    """The controller's looks at the burst tier, made by the test at
    times of its clock; nova and the API are real."""

    HOSTS = ('home1', 'burst1', 'burst2')

    def setUp(self):
        super().setUp()
        self.make_burst('burst1', '2.0')
        self.make_burst('burst2', None)  # a burst host without a cost
        self.now = time.time()
        conf = test_controller.controller_conf(
            self.useFixture(fixtures.TempDir()).path)
        conf.set_override('check_interval', 0, 'burst')
        conf.set_override('release_after', RELEASE_AFTER, 'burst')
        transport = oslo_messaging.get_notification_transport(
            conf, url='fake:/')
        rpc_transport = oslo_messaging.get_rpc_transport(
            conf, url='fake:/',
            allowed_remote_exmods=rpc.REMOTE_EXCEPTION_MODULES)
        self.notifications = Notifications()
        listener = oslo_messaging.get_notification_listener(
            transport, [oslo_messaging.Target(topic='notifications')],
            [self.notifications], executor='threading')
        listener.start()
        self.addCleanup(listener.wait)
        self.addCleanup(listener.stop)
        self.conn = self.connect()
        self.controller = service.ControllerService(
            conf, transport, rpc_transport, clock=lambda: self.now,
            nova=service.NovaLink(
                functools.partial(nova_inventory.read_cluster, self.conn),
                nova_migrator.OpenStackMigrator(self.conn),
                disable_service=functools.partial(
                    nova_inventory.disable_compute, self.conn)))
        self.controller.start()
        self.addCleanup(self.controller.stop)
        self.serve_api(conf, rpc_transport)

    # Samples of every host: each server busy a share of its host.
    record = test_replan_nova.ControllerRoundTest.record

    def look(self, after: float) -> tuple[burst.Release, ...]:
        """Look ``after`` seconds after the test started."""
        self.now = self.start + after
        return self.controller.sweeper.sweep()

    def service_of(self, host: str) -> dict:
        [found] = self.admin_api.get_services(binary='nova-compute',
                                              host=host)
        return found

    def test_empty_burst_host_released_then_enabled_again(self):
        self.start = self.now
        [guest] = self.boot_on('burst1')
        self.assertEqual((), self.look(0))
        self.assertEqual((), self.look(RELEASE_AFTER - 1))
        [release] = self.look(RELEASE_AFTER)

        # burst2 (empty) is released, burst1 (busy) is not.
        self.assertEqual(burst.Release('burst2', 0.0, self.start), release)
        self.assertEqual(('disabled', burst.reason(self.start)),
                         self._status('burst2'))
        self.assertEqual(('enabled', None), self._status('burst1'))
        self.assertTrue(self.notifications.arrived.wait(waiting.PATIENCE))
        self.assertEqual(
            [(f'cryptomine-controller.{self.controller.conf.host}',
              {'host': 'burst2', 'tier': 'burst', 'cost_per_hour': 0.0,
               'empty_since': self.start})],
            self.notifications.received)
        # nova places nothing on a released host.
        refused = self.boot_on_failing('burst2')
        self.assertIn('No valid host', refused['fault']['message'])

        # The operator enables it again: it is used again, and released
        # again only once empty for release_after from then.
        self.admin_api.put_service(self.service_of('burst2')['id'],
                                   {'status': 'enabled'})
        self.assertEqual((), self.look(RELEASE_AFTER + 10))
        [back] = self.boot_on('burst2')
        self.assertEqual((), self.look(RELEASE_AFTER + 20))
        self.delete_server(back)
        self.delete_server(refused)
        self.assertEqual((), self.look(RELEASE_AFTER + 30))
        self.assertEqual((), self.look(2 * RELEASE_AFTER + 29))
        [again] = self.look(2 * RELEASE_AFTER + 30)
        self.assertEqual(burst.Release('burst2', 0.0,
                                       self.start + RELEASE_AFTER + 30),
                         again)
        self.assertEqual(
            [(self.start + RELEASE_AFTER + 10, burst.RE_ENABLED),
             (None, None)],
            [(r['ended_at'], r['ended'])
             for r in self.controller.burst.releases()])
        self.assertEqual(
            [('burst1', 'burst', 2.0, self.start, None)],
            [(s['host'], s['tier'], s['cost_per_hour'], s['start'],
              s['end']) for s in self.controller.burst.stays(guest['id'])])

    def test_after_the_peak_guests_come_home_and_the_host_is_released(
            self):
        self.start = self.now
        servers = self.boot_on('burst1', 'medium', count=2)
        self.assertEqual((), self.look(0))
        # The peak is over: home has room.
        self.record(servers, 10.0)
        plan = self.controller.replanner.create(
            trigger='operator', dry_run=False, execute=True)
        self.controller.replanner.wait(120)
        plan = self.controller.replanner.plans.get(plan['id'])
        self.assertEqual('succeeded', plan['status'])
        self.assertEqual({'home1'}, {
            s.host for s in nova_inventory.read_servers(self.conn)})
        self.assertEqual((), self.look(RELEASE_AFTER / 2))
        # burst2 was never used; burst1 is empty since the look after
        # the move.
        self.assertEqual(['burst2'], [
            r.host for r in self.look(RELEASE_AFTER)])
        self.assertEqual((), self.look(RELEASE_AFTER / 2 + RELEASE_AFTER - 1))
        self.assertEqual(['burst1'], [
            r.host for r in self.look(RELEASE_AFTER / 2 + RELEASE_AFTER)])
        self.assertEqual(('disabled', burst.reason(
            self.start + RELEASE_AFTER / 2)), self._status('burst1'))
        waiting.wait_for(lambda: len(self.notifications.received) == 2,
                         waiting.PATIENCE)
        self.assertEqual(['burst2', 'burst1'], [
            payload['host'] for _, payload in self.notifications.received])
        # Each guest's stays: on burst1 until the look after the move.
        for server in servers:
            self.assertEqual(
                [('burst1', 'burst', self.start, self.start
                  + RELEASE_AFTER / 2),
                 ('home1', 'home', self.start + RELEASE_AFTER / 2, None)],
                [(s['host'], s['tier'], s['start'], s['end'])
                 for s in self.controller.burst.stays(server['id'])])

    def _status(self, host: str) -> tuple[str, str | None]:
        found = self.service_of(host)
        return found['status'], found['disabled_reason']

    def boot_on_failing(self, host: str) -> dict:
        body = self._build_server(
            flavor_id=self.flavors['small'], networks='none',
            image_uuid=nova_fixtures.GlanceFixture.image1['id'], host=host)
        server = self.admin_api.post_server({'server': body})
        return self.wait_for_status(server, 'ERROR')

    def test_status_through_the_api_and_the_command_line(self):
        self.start = self.now
        self.boot_on('burst1', count=2)
        self.boot_on('home1')
        self.look(0)
        self.look(RELEASE_AFTER)  # burst2 released
        self.now = self.start + 2 * RELEASE_AFTER
        reader = self.api.session(self.api.token(api_server.READER))
        answer = reader.get(f'{self.api.url}/v1/burst',
                            params={'since': repr(self.start)})
        self.assertEqual(200, answer.status_code, answer.text)
        status = answer.json()['burst']
        # burst1 held 20 min at 2 an hour, burst2 10 min at 0; two
        # instances on burst1 for 20 min.
        hours = RELEASE_AFTER / 3600
        for expected, name in ((2.0, 'cost_per_hour'), (4 * hours, 'cost'),
                               (3 * hours, 'burst_host_hours'),
                               (4 * hours, 'burst_instance_hours')):
            self.assertAlmostEqual(expected, status[name], 6, name)
        self.assertEqual(
            {'burst1': ('burst', 2, None), 'burst2': ('burst', 0,
                                                      self.start),
             'home1': ('home', 1, None)},
            {h['host']: (h['tier'], h['instances'], h['empty_since'])
             for h in status['hosts']})

        shown = self.ok('burst', 'status', '--since', '86400', '-f',
                        'json').json()
        self.assertEqual(['burst2'], shown['Releasable'])
        self.assertEqual({'burst': {'hosts': 2, 'instances': 2},
                          'home': {'hosts': 1, 'instances': 1}},
                         shown['Tiers'])
        self.assertEqual(2.0, shown['Cost Per Hour'])
        table = self.ok('burst', 'status').out
        self.assertIn('burst2  burst  0.00', table)
