"""The re-planner's nova side against a real nova, through openstacksdk.

nova (API, conductor, scheduler, placement, fake computes) runs in the
test process with nova's functional fixtures (:mod:`.nova_base`); the
inventory and the executor reach it through openstacksdk
(:mod:`.nova_sdk`).  Only the fake virt driver is made to fail.
"""

# nova_base first (through nova_sdk): it selects nova's concurrency mode.
from cryptomine_scheduler.tests.functional import nova_sdk  # noqa: I001

import dataclasses
import functools
import threading
import time

import fixtures
import numpy as np
import oslo_messaging
from nova import exception as nova_exception
from nova.compute import manager as compute_manager
from nova.tests import fixtures as nova_fixtures
from nova.virt import fake as fake_virt
from oslo_serialization import jsonutils

from cryptomine_scheduler.replan import cluster
from cryptomine_scheduler.replan import executor
from cryptomine_scheduler.replan import nova_inventory
from cryptomine_scheduler.replan import nova_migrator
from cryptomine_scheduler import rpc
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.control import service
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.db.plans import ActionCause
from cryptomine_scheduler.replan.executor import ActionStatus
from cryptomine_scheduler.planning import efficacy
from cryptomine_scheduler.planning import heuristic
from cryptomine_scheduler.planning import inputs
from cryptomine_scheduler.tests import api_server
from cryptomine_scheduler.tests import fleets
from cryptomine_scheduler.tests import recorders
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.functional import nova_base
from cryptomine_scheduler.tests.functional import test_cli
from cryptomine_scheduler.tests.unit import test_controller

S = ActionStatus
C = ActionCause
#: One PCI device on every host, and the alias a flavor asks for it by.
PCI_DEVICE = {'vendor_id': '8086', 'product_id': '1572'}
PCI_ALIAS = dict(PCI_DEVICE, name='miner-nic', device_type='type-PCI')


def with_pci_device(get_available_resource):
    """The fake driver's resources plus one PCI device."""
    def wrapper(driver, nodename):
        resources = get_available_resource(driver, nodename)
        resources['pci_passthrough_devices'] = jsonutils.dumps([dict(
            PCI_DEVICE, address='0000:81:00.0', status='available',
            dev_type='type-PCI', parent_addr=None, numa_node=None,
            label='miner-nic')])
        return resources
    return wrapper


class ServersMixin:
    """Booting on a chosen host, and where servers are."""

    def boot_on(self, host: str, flavor: str = 'small', name=None,
                az=None, group=None, count: int = 1) -> list[dict]:
        """Boot ``count`` servers on ``host`` in one request (nova's
        scheduler checks the host) and wait until they are ACTIVE."""
        body = self._build_server(
            name=name, flavor_id=self.flavors[flavor],
            image_uuid=nova_fixtures.GlanceFixture.image1['id'],
            networks='none', az=az, host=host)
        body.update(min_count=count, max_count=count,
                    return_reservation_id=True)
        request = {'server': body}
        if group is not None:
            request['os:scheduler_hints'] = {'group': group}
        reservation = self.admin_api.post_server(request)['reservation_id']
        return [self.wait_for_status(server)
                for server in self.admin_api.get_servers(
                    search_opts={'reservation_id': reservation})]


class InventoryTest(ServersMixin, nova_sdk.NovaSDKTestCase):
    """Hosts, servers and server groups as nova shows them."""

    HOSTS = ('cpu1', 'gpu1', 'off1', 'down1')
    HOST_RESOURCES = {'gpu1': {'vcpus': 8, 'memory_mb': 16384}}
    #: Allocation ratios each host's inventory starts with.
    RATIOS = {'cpu1': (4.0, 1.5), 'gpu1': (1.0, 1.0)}
    FLAVORS = dict(nova_base.NovaSchedulingTestCase.FLAVORS,
                   nic=(1, 1024, 10, {'pci_passthrough:alias':
                                      f"{PCI_ALIAS['name']}:1"}),
                   # A rig of four GPUs that only the operator's count
                   # names (as for a custom resource class).
                   rig=(4, 8192, 20, {nova_base.ACCELERATOR_SPEC: 'gpu',
                                      'cryptomine:devices': '4'}))

    def _setup_services(self):
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.fake.FakeDriver.get_available_resource',
            with_pci_device(fake_virt.FakeDriver.get_available_resource)))
        self.flags(device_spec=[jsonutils.dumps(PCI_DEVICE)],
                   alias=[jsonutils.dumps(PCI_ALIAS)], group='pci')
        self.flags(reserved_host_cpus=1, reserved_host_memory_mb=1024)
        super()._setup_services()

    def start_host(self, host: str, **resources):
        cpu, ram = self.RATIOS.get(host, (2.0, 1.0))
        self.flags(initial_cpu_allocation_ratio=cpu,
                   initial_ram_allocation_ratio=ram)
        return super().start_host(host, **resources)

    def test_reads_hosts_servers_and_groups(self):
        api = self.admin_api
        gpu_row = self._create_aggregate('gpu-row', availability_zone='az2')
        api.add_host_to_aggregate(gpu_row, 'gpu1')
        api.post_aggregate_action(gpu_row, {'set_metadata': {'metadata': {
            'cryptomine:accelerator': 'gpu, cpu',
            'cryptomine_max_chassis_power_w': '3000'}}})
        fast = self._create_aggregate('fast')
        api.add_host_to_aggregate(fast, 'gpu1')
        api.post_aggregate_action(fast, {'set_metadata': {'metadata': {
            'cryptomine_max_chassis_power_w': '2500',
            'cryptomine_min_gpu_thermal_headroom_c': '8'}}})
        services = {s['host']: s['id'] for s in api.get_services(
            binary='nova-compute')}
        api.put_service(services['off1'], {'status': 'disabled',
                                           'disabled_reason': 'repair'})
        api.put_service(services['down1'], {'forced_down': True})

        [web] = self.boot_on('cpu1', name='web')
        api.post_server_action(web['id'], {'lock': None})
        [miner] = self.boot_on('gpu1', 'rig', name='miner', az='az2')
        [nic] = self.boot_on('cpu1', 'nic', name='nic')
        group = api.post_server_groups({'name': 'spread',
                                        'policy': 'anti-affinity'})
        [member] = self.boot_on('cpu1', name='member', group=group['id'])
        self._stop_server(nic)

        found = nova_inventory.read_cluster(self.connect())

        self.assertEqual((
            cluster.ComputeHost(
                name='cpu1', vcpus=15, memory_mb=31744,
                cpu_allocation_ratio=4.0, ram_allocation_ratio=1.5),
            cluster.ComputeHost(
                name='down1', vcpus=15, memory_mb=31744,
                cpu_allocation_ratio=2.0, accepts_moves=False),
            cluster.ComputeHost(
                name='gpu1', vcpus=7, memory_mb=15360,
                availability_zone='az2',
                aggregates=frozenset({'gpu-row', 'fast'}),
                accelerators=frozenset({scoring.Accelerator.GPU,
                                        scoring.Accelerator.CPU}),
                threshold_values=(
                    ('cryptomine_max_chassis_power_w', '2500'),
                    ('cryptomine_max_chassis_power_w', '3000'),
                    ('cryptomine_min_gpu_thermal_headroom_c', '8'))),
            cluster.ComputeHost(
                name='off1', vcpus=15, memory_mb=31744,
                cpu_allocation_ratio=2.0, accepts_moves=False),
        ), found.hosts)
        # The strictest of its aggregates' budgets, as the filter reads
        # them from nova's host state.
        limits = found.hosts[2].thresholds(fleets.MODEL.thresholds)
        self.assertEqual((2500.0, 8.0), (limits.max_chassis_power_w,
                                         limits.min_gpu_thermal_headroom_c))
        servers = {s.name: s for s in found.servers}
        project = self.api.get_server(web['id'])['tenant_id']
        self.assertEqual(cluster.Server(
            uuid=web['id'], name='web', host='cpu1', vcpus=1,
            memory_mb=2048, locked=True, devices=0, project=project),
            servers['web'])
        self.assertEqual(cluster.Server(
            uuid=miner['id'], name='miner', host='gpu1', vcpus=4,
            memory_mb=8192, accelerator=scoring.Accelerator.GPU,
            devices=4, project=project), servers['miner'])
        self.assertEqual(cluster.Server(
            uuid=nic['id'], name='nic', host='cpu1', vcpus=1,
            memory_mb=1024, status='SHUTOFF', devices=0,
            live_migratable=False, project=project), servers['nic'])
        self.assertEqual((cluster.ServerGroup(
            id=group['id'], name='spread',
            policy=cluster.GroupPolicy.ANTI_AFFINITY,
            members=frozenset({member['id']})),), found.groups)

    def test_inventories_are_read_again_when_placement_changes_them(self):
        conn = self.connect()
        asked = self.useFixture(fixtures.MockPatchObject(
            conn.placement, 'resource_provider_inventories',
            wraps=conn.placement.resource_provider_inventories)).mock
        providers = {p.name: p.id for p in conn.placement.resource_providers()}
        cache = nova_inventory.InventoryCache()

        def read() -> tuple[dict[str, int], list[str]]:
            asked.reset_mock()
            hosts = nova_inventory.read_hosts(conn, inventory_cache=cache)
            return ({h.name: h.vcpus for h in hosts},
                    sorted(c.args[0] for c in asked.call_args_list))

        first = read()
        self.assertEqual(sorted(providers.values()), first[1])
        self.assertEqual((first[0], []), read())
        # The operator reserves two more of cpu1's CPUs in placement.
        url = f"/resource_providers/{providers['cpu1']}/inventories/VCPU"
        vcpu = self.placement.get(url).body
        self.placement.put(url, dict(vcpu, reserved=vcpu['reserved'] + 2))
        self.assertEqual((dict(first[0], cpu1=first[0]['cpu1'] - 2),
                          [providers['cpu1']]), read())
        # A boot allocates on gpu1: its generation moves, its inventory
        # is read again (and has not changed).
        self.boot_on('gpu1')
        self.assertEqual((dict(first[0], cpu1=first[0]['cpu1'] - 2),
                          [providers['gpu1']]), read())

    def test_asks_no_compute_its_uptime(self):
        # nova's hypervisor detail view from microversion 2.88 on asks
        # each nova-compute its uptime over RPC.
        asked = self.useFixture(fixtures.MockPatch(
            'nova.compute.api.HostAPI.get_host_uptime',
            return_value='up 1 day')).mock
        conn = self.connect()

        hosts = nova_inventory.read_hosts(conn)

        self.assertEqual(sorted(self.HOSTS), [h.name for h in hosts])
        self.assertEqual(0, asked.call_count)
        list(conn.compute.hypervisors(details=True, microversion='2.88'))
        self.assertEqual(len(self.HOSTS), asked.call_count)

    def test_reads_every_page_of_server_groups(self):
        # nova pages groups by offset, with no link to the next page.
        self.flags(max_limit=2, group='api')
        made = {self.admin_api.post_server_groups(
            {'name': f'g{n}', 'policy': 'anti-affinity'})['id']
            for n in range(5)}
        self.assertEqual(made, {g.id for g in nova_inventory.read_groups(
            self.connect())})


def recorded_load(found: cluster.Cluster, cores: float,
                  rss_mb: float) -> snapshot.LoadSnapshot:
    """Every server busy ``cores`` with ``rss_mb`` resident; each host
    loaded by its servers alone."""
    hosts = {h.name: h for h in found.hosts}
    load = {name: np.zeros(2) for name in hosts}
    instances = {}
    for server in found.servers:
        host = hosts[server.host]
        instances[server.uuid] = fleets.instance_view(
            server.host, 100.0 * cores / host.vcpus, rss_mb)
        load[server.host] += (cores, rss_mb)
    return snapshot.LoadSnapshot(
        fleets.NOW, 600.0,
        {name: fleets.host_view(100.0 * cores / hosts[name].vcpus,
                                100.0 * mem / hosts[name].memory_mb)
         for name, (cores, mem) in load.items()},
        instances)


def failing_pre_live_migration(failing: set[str], pre_live_migration):
    """The fake driver's pre_live_migration, failing for ``failing``
    instances as a destination that cannot plug the VIFs would."""
    def wrapper(driver, context, instance, *args, **kwargs):
        if instance.uuid in failing:
            raise nova_exception.MigrationError(
                reason='injected: cannot plug VIFs')
        return pre_live_migration(driver, context, instance, *args,
                                  **kwargs)
    return wrapper


class HangingMigrations:
    """The fake driver's live migrations of ``instances`` run until
    nova is asked to abort them, and end (the guest stays at its
    source, the migration ``cancelled``) only once ``release`` is set:
    a migration that never converges, and a hypervisor slow to give up.
    The others run as the fake driver runs them."""

    def __init__(self):
        self.instances: set[str] = set()
        self.aborted = threading.Event()
        self.release = threading.Event()
        self._run = fake_virt.FakeDriver.live_migration

    def live_migration(self, driver, context, instance, dest, post_method,
                       recover_method, block_migration=False,
                       migrate_data=None):
        if instance.uuid not in self.instances:
            return self._run(
                driver, context, instance, dest, post_method,
                recover_method, block_migration, migrate_data)
        self.aborted.wait(waiting.PATIENCE)
        self.release.wait(waiting.PATIENCE)
        recover_method(context, instance, dest, migrate_data,
                       migration_status='cancelled')

    def abort(self, driver, instance) -> None:
        self.aborted.set()


class MigrationTest(ServersMixin, nova_sdk.NovaSDKTestCase):
    """Plans carried out through nova's API."""

    HOSTS = ('hot', 'cold1', 'cold2', 'cold3')
    LIMITS = executor.Limits(max_parallel=2, max_parallel_per_host=1,
                             migration_timeout=60.0, max_failures=2,
                             poll_interval=0.1)

    def setUp(self):
        super().setUp()
        self.failing: set[str] = set()
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.fake.FakeDriver.pre_live_migration',
            failing_pre_live_migration(
                self.failing, fake_virt.FakeDriver.pre_live_migration)))
        self.hanging = HangingMigrations()
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.fake.FakeDriver.live_migration',
            self.hanging.live_migration))
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.fake.FakeDriver.live_migration_abort',
            self.hanging.abort))
        self.conn = self.connect()
        self.recorder = recorders.ListRecorder(time.monotonic)

    def execute(self, moves, cold=frozenset(), stop=None, limits=None):
        runner = executor.Executor(nova_migrator.OpenStackMigrator(self.conn),
                                   self.recorder, limits or self.LIMITS)
        return runner.run('plan-1', moves, cold, stop or threading.Event())

    def hosts(self) -> dict[str, str]:
        """Server UUID -> host, checking every server is ACTIVE and idle."""
        found = nova_inventory.read_servers(self.conn)
        self.assertEqual({('ACTIVE', None)},
                         {(s.status, s.task_state) for s in found})
        return {s.uuid: s.host for s in found}

    def migration_types(self, server) -> list[tuple[str, str]]:
        return [(m['migration_type'], m['status'])
                for m in self.admin_api.api_get(
                    f"/os-migrations?instance_uuid={server['id']}"
                ).body['migrations']]

    def test_plan_carried_out(self):
        self.boot_on('hot', 'medium', count=6)
        found = nova_inventory.read_cluster(self.conn)
        problem = inputs.build(found, recorded_load(found, 1.75, 3000.0),
                               fleets.MODEL, fleets.LOW_BAR, fleets.NOW)
        plan = heuristic.plan(problem)
        self.assertGreaterEqual(len(plan.moves), 3)
        cold = plan.moves[-1].instance

        outcome = self.execute(plan.moves, frozenset({cold}))

        self.assertEqual((S.SUCCEEDED,) * len(plan.moves), outcome.statuses)
        where = self.hosts()
        self.assertEqual([problem.hosts[h] for h in plan.placement],
                         [where[uuid] for uuid in problem.instances])
        realised = efficacy.balance(problem, np.array(
            [problem.hosts.index(where[uuid])
             for uuid in problem.instances]))
        self.assertEqual(plan.efficacy.after, realised)
        self.assertLess(realised.sigma, plan.efficacy.before.sigma / 2)
        self.assertLess(realised.peak, plan.efficacy.before.peak)
        self.assertEqual([('migration', 'confirmed')],
                         self.migration_types({'id': cold}))
        for move in plan.moves[:-1]:
            self.assertEqual([('live-migration', 'completed')],
                             self.migration_types({'id': move.instance}))

    def test_a_move_nova_refuses_is_recorded_as_its_refusal(self):
        [a] = self.boot_on('hot')

        outcome = self.execute(
            [heuristic.Move(a['id'], 'hot', 'gone', 2048.0, 0.01)])

        self.assertEqual((S.FAILED,), outcome.statuses)
        _, error, cause = self.recorder.finished()[0]
        self.assertIn('gone', error)
        self.assertIs(C.NOVA, cause)
        self.assertEqual({a['id']: 'hot'}, self.hosts())

    def test_failure_skips_dependents_and_stops_the_round(self):
        a, c = self.boot_on('hot', count=2)
        [b] = self.boot_on('cold1')
        [d] = self.boot_on('cold2')
        self.failing.update({a['id'], c['id']})
        moves = [heuristic.Move(a['id'], 'hot', 'cold1', 2048.0, 0.01),
                 heuristic.Move(b['id'], 'cold1', 'hot', 2048.0, 0.01,
                                after=(0,)),
                 heuristic.Move(c['id'], 'hot', 'cold3', 2048.0, 0.01),
                 heuristic.Move(d['id'], 'cold2', 'cold3', 2048.0, 0.01)]

        outcome = self.execute(moves)

        self.assertEqual((S.FAILED, S.SKIPPED, S.FAILED, S.ABORTED),
                         outcome.statuses)
        finished = self.recorder.finished()
        self.assertEqual(
            (S.FAILED, 'compute_pre_live_migration: Migration error: '
             'injected: cannot plug VIFs', C.NOVA), finished[0])
        self.assertEqual(finished[0], finished[2])
        self.assertEqual((S.SKIPPED, f"relies on move 0 ({a['id']}): "
                          'failed', C.DEPENDENCY_LOST), finished[1])
        self.assertEqual((S.ABORTED, 'round stopped after 2 failed moves',
                          C.FAILURE_LIMIT), finished[3])
        self.assertEqual([0, 2], self.recorder.started())
        self.assertEqual({a['id']: 'hot', b['id']: 'cold1', c['id']: 'hot',
                          d['id']: 'cold2'}, self.hosts())
        self.assertEqual([('live-migration', 'failed')],
                         self.migration_types(a))

    def test_hanging_migration_aborted_and_its_hosts_held_until_it_ends(
            self):
        a, b = self.boot_on('hot', count=2)
        self.hanging.instances.add(a['id'])
        # Once nova is asked to abort, the hypervisor takes a while.
        threading.Thread(target=lambda: self.hanging.aborted.wait(
            waiting.PATIENCE) and time.sleep(1.0)
            or self.hanging.release.set(), daemon=True).start()
        released_first = []
        self.recorder.on_start = lambda position: position == 1 and (
            released_first.append(self.hanging.release.is_set()))
        # Both leave the same host, one at a time.  b's move states a
        # guest so large that its timeout, at a second a GiB, is the
        # tests' patience: only a times out, however busy the machine.
        moves = [heuristic.Move(a['id'], 'hot', 'cold1', 2048.0, 0.01),
                 heuristic.Move(b['id'], 'hot', 'cold2',
                                waiting.PATIENCE * 1024.0, 0.01)]

        outcome = self.execute(moves, limits=dataclasses.replace(
            self.LIMITS, migration_timeout=10.0,
            migration_timeout_per_gib=1.0))

        self.assertEqual((S.FAILED, S.SUCCEEDED), outcome.statuses)
        _, error, cause = self.recorder.finished()[0]
        self.assertIn('timed out', error)
        self.assertIs(C.TIMED_OUT, cause)
        self.assertTrue(self.hanging.aborted.is_set())
        # The second move waited for nova to end the first, not for the
        # executor to give up on it.
        self.assertEqual([True], released_first)
        self.assertEqual([('live-migration', 'cancelled')],
                         self.migration_types(a))
        self.assertEqual({a['id']: 'hot', b['id']: 'cold2'}, self.hosts())

    def test_a_move_ends_when_nova_s_migration_record_does(self):
        # nova puts the server on its destination, then (after a
        # resource update that a busy machine makes slow) completes the
        # migration record: a move reported in between would not be in
        # nova's records of completed migrations yet.
        [a] = self.boot_on('hot')
        migrator = nova_migrator.OpenStackMigrator(self.conn)
        holding, judged = threading.Event(), []
        progress = migrator.progress

        def watched(*args):
            result = progress(*args)
            if holding.is_set():
                judged.append(result.state)
            return result

        clean_tokens = (compute_manager.ComputeManager
                        ._clean_instance_console_tokens)

        def hold(manager, context, instance):
            holding.set()
            waiting.wait_for(
                lambda: len(judged) >= 3 or self.recorder.finished(),
                waiting.PATIENCE)
            clean_tokens(manager, context, instance)
        self.useFixture(fixtures.MonkeyPatch(
            'nova.compute.manager.ComputeManager.'
            '_clean_instance_console_tokens', hold))
        migrator.progress = watched

        outcome = executor.Executor(migrator, self.recorder, self.LIMITS).run(
            'plan-1', [heuristic.Move(a['id'], 'hot', 'cold1', 2048.0, 0.01)],
            frozenset(), threading.Event())

        self.assertEqual([executor.MigrationState.RUNNING] * 3, judged[:3])
        self.assertEqual((S.SUCCEEDED,), outcome.statuses)
        self.assertEqual([('live-migration', 'completed')],
                         self.migration_types(a))
        self.assertEqual({a['id']: 'cold1'}, self.hosts())

    def test_stop_lets_running_moves_finish(self):
        a, c = self.boot_on('hot', count=2)
        [b] = self.boot_on('cold2')
        stop = threading.Event()
        self.recorder.on_start = lambda position: position == 1 and stop.set()
        moves = [heuristic.Move(a['id'], 'hot', 'cold1', 2048.0, 0.01),
                 heuristic.Move(b['id'], 'cold2', 'cold3', 2048.0, 0.01),
                 heuristic.Move(c['id'], 'hot', 'cold2', 2048.0, 0.01)]

        outcome = self.execute(moves, stop=stop)

        self.assertEqual((S.SUCCEEDED, S.SUCCEEDED, S.ABORTED),
                         outcome.statuses)
        self.assertEqual((S.ABORTED, 'round stopped on request',
                          C.ROUND_STOPPED), self.recorder.finished()[2])
        self.assertEqual({a['id']: 'cold1', b['id']: 'cold3',
                          c['id']: 'hot'}, self.hosts())


class ControllerRoundTest(test_cli.RunsApp, ServersMixin,
                          nova_sdk.NovaSDKTestCase):
    """The controller's re-planner end to end: samples in its summaries,
    nova read and driven through openstacksdk, plans in its database,
    asked for through cryptomine-api (keystonemiddleware's auth_token,
    the real policy engine) and from the ``cryptomine`` command line."""

    HOSTS = ('hot', 'cold1', 'cold2')

    def setUp(self):
        super().setUp()
        state_dir = self.useFixture(fixtures.TempDir()).path
        conf = test_controller.controller_conf(state_dir)
        conf.set_override('migration_poll_interval', 0.1, 'replan')
        conf.set_override('min_gain', fleets.LOW_BAR.limits.min_gain,
                          'replan')
        transport = oslo_messaging.get_notification_transport(
            conf, url='fake:/')
        rpc_transport = oslo_messaging.get_rpc_transport(
            conf, url='fake:/',
            allowed_remote_exmods=rpc.REMOTE_EXCEPTION_MODULES)
        conn = self.connect()
        self.controller = service.ControllerService(
            conf, transport, rpc_transport, nova=service.NovaLink(
                functools.partial(nova_inventory.read_cluster, conn),
                nova_migrator.OpenStackMigrator(conn)))
        self.controller.start()
        self.addCleanup(self.controller.stop)
        self.conn = conn
        self.serve_api(conf, rpc_transport)

    def record(self, servers, busy_percent: float) -> None:
        """Samples of every host: each server busy ``busy_percent`` of
        its host's CPU."""
        now = time.time()
        for host in self.HOSTS:
            guests = [s for s in servers if s['OS-EXT-SRV-ATTR:host'] == host]
            for i in range(10):
                self.controller.tracker.add(samples.make(
                    host=host, seq=i, timestamp=now - 10 + i,
                    cpu=busy_percent * len(guests) + 1.0,
                    mem=6.0 * len(guests) + 5.0,
                    instances=[sample.InstanceLoad(s['id'], busy_percent,
                                                   2000.0)
                               for s in guests]))

    def test_dry_run_then_rebalance(self):
        servers = self.boot_on('hot', 'medium', count=6)
        self.record(servers, 12.0)
        admin = self.api.session(self.api.token(api_server.ADMIN))
        reader = self.api.session(self.api.token(api_server.READER))
        plans = f'{self.api.url}/v1/plans'

        self.assertEqual(403, reader.post(plans, json={}).status_code)
        created = admin.post(plans, json={'dry_run': True})
        self.assertEqual(201, created.status_code, created.text)
        dry = created.json()['plan']
        self.assertEqual('planned', dry['status'])
        self.assertGreaterEqual(len(dry['actions']), 2)
        self.assertEqual([], self.admin_api.api_get(
            '/os-migrations').body['migrations'])

        self.assertEqual(403, reader.post(f'{self.api.url}/v1/rebalance',
                                          json={}).status_code)
        started = admin.post(f'{self.api.url}/v1/rebalance', json={})
        self.assertEqual(202, started.status_code, started.text)
        plan_url = f'{plans}/{started.json()["plan"]["id"]}'
        waiting.wait_for(
            lambda: reader.get(plan_url).json()['plan']['finished_at'], 120)
        done = reader.get(plan_url).json()['plan']
        self.assertEqual('succeeded', done['status'])
        where = {s.uuid: s.host
                 for s in nova_inventory.read_servers(self.conn)}
        for action in done['actions']:
            self.assertEqual('succeeded', action['status'])
            self.assertEqual(action['destination'], where[action['instance']])
        self.assertLess(done['efficacy']['after']['sigma'],
                        done['efficacy']['before']['sigma'])
        self.assertEqual(len(done['actions']), len(self.admin_api.api_get(
            '/os-migrations').body['migrations']))

    def test_cli_rebalance(self):
        servers = self.boot_on('hot', 'medium', count=6)
        self.record(servers, 12.0)

        result = self.ok('rebalance', '--yes', '--max-moves', '3',
                         '--poll-interval', '0.1', '-f', 'json')

        done = result.json()
        self.assertEqual('succeeded', done['Status'])
        self.assertEqual(3, len(done['Actions']))
        where = {s.uuid: s.host
                 for s in nova_inventory.read_servers(self.conn)}
        for action in done['Actions']:
            self.assertEqual('hot', action['source'])
            self.assertEqual(action['destination'], where[action['instance']])
        self.assertEqual(3, list(where.values()).count('hot'))
        for k, action in enumerate(done['Actions'], 1):
            self.assertIn(f"move {k}/3 {action['instance']} hot -> "
                          f"{action['destination']}: succeeded\n",
                          result.err)
