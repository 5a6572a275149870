"""GPU hosts under nova's libvirt driver on its fake libvirt.

nova's own libvirt functional base models PCI devices and mediated
devices: its computes report passthrough GPUs to placement (``[pci]
report_in_placement``) and physical GPUs' vGPUs (``PGPU`` providers with
a ``VGPU`` inventory).  The controller reads those counts from this
placement through openstacksdk, as in production, and the samples say
how hot each GPU is.  Servers boot through nova's API.
"""

# nova_base first: it selects nova's concurrency mode.
from cryptomine_scheduler.tests.functional import nova_base  # noqa: I001

import time

import fixtures
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.libvirt import test_vgpu
from oslo_serialization import jsonutils

from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.control import service
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.functional import controller_beside
from cryptomine_scheduler.tests.functional import nova_sdk
from cryptomine_scheduler.tests.functional import test_nova_scheduling

IMAGE = nova_base.nova_fixtures.GlanceFixture.image1['id']
#: The resource class the operator gives the passthrough GPUs.
GPU_CLASS = 'CUSTOM_GPU_A100'


def gpus(temp: float, count: int = 2) -> list:
    """A host's GPUs at ``temp`` degC (slowdown at 89), none busy."""
    return [samples.gpu(i, util=0.0, temp=temp) for i in range(count)]


class LibvirtGpuTestBase(controller_beside.ControllerBeside,
                         nova_sdk.SDKMixin, nova_base.InProcessNova,
                         test_vgpu.VGPUTestBase):
    """nova's libvirt driver, our filter and only our weigher, and a
    controller that reads placement every second."""

    ADDITIONAL_FILTERS = ['LoadAwareFilter']

    def _setup_scheduler_service(self):
        self.flags(available_filters=[
            'nova.scheduler.filters.all_filters',
            test_nova_scheduling.FILTER],
            weight_classes=[test_nova_scheduling.WEIGHER],
            group='filter_scheduler')
        return super()._setup_scheduler_service()

    def controller_overrides(self) -> dict:
        return {'nova_api': {'device_refresh_interval': 1}}

    def nova_link(self, conf) -> service.NovaLink:
        return service.NovaLink.through(self.connect(), conf)

    def start_compute(self, hostname: str = 'compute1', **kwargs) -> str:
        """nova's, until every provider of the host's tree carries
        ``OWNER_NOVA``, which nova's scheduler asks of each.  On a busy
        machine placement's SQLite can refuse a new compute's first
        update of its traits ("database is locked"); nova's periodic
        task would repeat it a minute later, these tests run it now."""
        name = super().start_compute(hostname, **kwargs)
        root = self._get_provider_uuid_by_host(name)

        def owned() -> bool:
            tree = self.placement.get(
                f'/resource_providers?in_tree={root}',
                version='1.14').body['resource_providers']
            if all('OWNER_NOVA' in self._get_provider_traits(p['uuid'])
                   for p in tree):
                return True
            self._run_periodics()
            return False
        waiting.wait_for(owned, 60)
        return name

    def wait_for_gpus(self, expected: dict) -> None:
        """Until the controller's snapshot counts ``{host: (total,
        used)}`` GPUs of these hosts (sampled already) as placement
        does."""
        def counted():
            return {name: self.gpus_counted(name) for name in expected}
        waiting.wait_for(lambda: counted() == expected, 60)

    def gpus_counted(self, host: str) -> tuple[int, int] | None:
        """(total, used) GPUs of ``host`` in the controller's snapshot;
        None before the host is sampled."""
        hosts = self.controller.tracker.snapshot(time.time())['hosts']
        if host not in hosts:
            return None
        return tuple(hosts[host].get('devices', {}).get('gpu', (0, 0)))

    def pass_gpus_through(self) -> None:
        """nova passes the fake hosts' PCI devices through as GPUs of
        ``GPU_CLASS``, counted in placement, alias ``a100``."""
        self.flags(report_in_placement=True, group='pci')
        self.flags(pci_in_placement=True, group='filter_scheduler')
        self.flags(device_spec=[jsonutils.dumps({
            'vendor_id': fakelibvirt.PCI_VEND_ID,
            'product_id': fakelibvirt.PCI_PROD_ID,
            'resource_class': GPU_CLASS})], alias=[jsonutils.dumps({
                'name': 'a100', 'device_type': 'type-PCI',
                'resource_class': GPU_CLASS})], group='pci')

    def miner_flavor(self, **extra_specs) -> str:
        """A GPU miner's flavor: one passthrough GPU, little CPU."""
        return self._create_flavor(
            vcpu=2, extra_spec={'pci_passthrough:alias': 'a100:1',
                                'cryptomine:accelerator': 'gpu',
                                'cryptomine:expected_load_percent': '20',
                                **extra_specs})

    def boot(self, flavor: str, expected_state: str = 'ACTIVE') -> dict:
        return self._create_server(
            image_uuid=IMAGE, flavor_id=self.flavors[flavor],
            networks='none', expected_state=expected_state)

    def host_of(self, server: dict) -> str:
        return server['OS-EXT-SRV-ATTR:host']


class PassthroughGpuTest(LibvirtGpuTestBase):
    """Three hosts with two GPUs each for PCI passthrough, reported to
    placement; a host without GPUs, the least loaded."""

    GPU_HOSTS = ('gpu1', 'gpu2', 'gpu3')

    def setUp(self):
        super().setUp()
        self.pass_gpus_through()
        for host in self.GPU_HOSTS:
            self.start_compute(host, pci_info=fakelibvirt.HostPCIDevicesInfo(
                num_pci=2, num_pfs=0, num_vfs=0))
        self.start_compute('cpu1')
        self.flavors = {'miner': self.miner_flavor()}

    def report(self, *args, **kwargs):
        super().report(*args, **kwargs)
        self.wait_for_gpus({h: (2, 0) for h in self.GPU_HOSTS})

    def test_hosts_whose_gpus_are_all_passed_through_take_gpu_miners(self):
        # The hosts' drivers see none of their GPUs (bound to vfio-pci):
        # the samples show no GPU, placement counts two on each.
        self.report({'gpu1': 20.0, 'gpu2': 20.0, 'gpu3': 20.0,
                     'cpu1': 5.0})
        placed = [self.host_of(self.boot('miner')) for _ in range(6)]
        self.assertEqual({h: 2 for h in self.GPU_HOSTS},
                         {h: placed.count(h) for h in set(placed)})
        failed = self.boot('miner', expected_state='ERROR')
        self.assertIn('No valid host', failed['fault']['message'])

    def test_the_host_whose_free_gpus_are_coolest_wins(self):
        # Out of band (the BMC), the GPUs' temperatures are known: 6, 39
        # and 27 degC to slowdown.
        self.report({h: 20.0 for h in self.GPU_HOSTS},
                    gpus={'gpu1': gpus(83.0), 'gpu2': gpus(50.0),
                          'gpu3': gpus(62.0)})
        placed = [self.host_of(self.boot('miner')) for _ in range(6)]
        self.assertEqual('gpu2', placed[0])
        # A host with a GPU in use still beats the hot host (with one
        # busy GPU, a host's occupancy term is 0.5, the hot host's thermal
        # pressure 0.8), which gets the last two; none gets a third.
        self.assertEqual(['gpu1', 'gpu1'], placed[4:])
        self.assertEqual({h: 2 for h in self.GPU_HOSTS},
                         {h: placed.count(h) for h in set(placed)})

    def test_a_rig_lands_where_its_gpus_have_power(self):
        # A rig guest holds both GPUs of a host.  Every host has 3 kW;
        # each GPU a guest works adds 250 W (50 W idle, 300 W limit).
        # gpu1, the least loaded, draws 2.6 kW: room for one busy GPU,
        # not two; gpu3 2.7 kW likewise; gpu2 2.4 kW has room for both.
        self.flags(max_chassis_power_w=3000.0, group='cryptomine')
        self.flavors['rig'] = self._create_flavor(
            vcpu=2, extra_spec={'pci_passthrough:alias': 'a100:2',
                                'cryptomine:accelerator': 'gpu'})
        self.report(
            {'gpu1': 5.0, 'gpu2': 30.0, 'gpu3': 5.0, 'cpu1': 5.0},
            gpus={h: [samples.gpu(i, util=0.0, power=50.0, limit=300.0)
                      for i in range(2)] for h in self.GPU_HOSTS},
            sensors={h: sample.HostSensors(chassis_power_w=watts)
                     for h, watts in (('gpu1', 2600.0), ('gpu2', 2400.0),
                                      ('gpu3', 2700.0))})
        self.assertEqual('gpu2', self.host_of(self.boot('rig')))
        failed = self.boot('rig', expected_state='ERROR')
        self.assertIn('No valid host', failed['fault']['message'])
        # nova-scheduler's log says why, without debug logging: placement
        # left the hosts with two free GPUs, our filter refused both.
        said = self.stdlog.logger.output
        self.assertIn(f'Refused all 2 host(s) for instance {failed["id"]}',
                      said)
        for host in ('gpu1', 'gpu3'):
            self.assertIn(f'{host} rejected: chassis power with 2 busy free '
                          'GPUs', said)
        # A guest holding one GPU still fits gpu1 or gpu3.
        self.assertIn(self.host_of(self.boot('miner')), ('gpu1', 'gpu3'))


class VirtualGpuTest(LibvirtGpuTestBase):
    """Two hosts with two physical GPUs each, cut into vGPUs (16 each of
    nvidia-11); a host without GPUs, the least loaded."""

    def setUp(self):
        super().setUp()
        self.flags(enabled_mdev_types=fakelibvirt.NVIDIA_11_VGPU_TYPE,
                   group='devices')
        for host in ('vgpu1', 'vgpu2'):
            self.start_compute_with_vgpu(host)
        self.start_compute('cpu1')
        self.flavors = {'miner': self._create_flavor(
            vcpu=1, extra_spec={'resources:VGPU': '1',
                                'cryptomine:accelerator': 'gpu',
                                'cryptomine:expected_load_percent': '20'})}

    def test_vgpu_miners_go_where_the_gpus_are_coolest(self):
        # The host's driver sees its physical GPUs (NVML).
        self.report({'vgpu1': 20.0, 'vgpu2': 30.0, 'cpu1': 5.0},
                    gpus={'vgpu1': gpus(83.0), 'vgpu2': gpus(50.0)})
        # Placement's PGPU providers, under each compute node, count them.
        self.wait_for_gpus({'vgpu1': (32, 0), 'vgpu2': (32, 0)})
        placed = [self.host_of(self.boot('miner')) for _ in range(3)]
        self.assertEqual(['vgpu2'] * 3, placed)


class ColdMigrationTest(LibvirtGpuTestBase):
    """A passthrough GPU host running hot: the re-planner moves its GPU
    miners (flavor ``cryptomine:migration=cold``) by cold migration
    through nova's API, to the host with free GPUs, never to the idle
    host without any."""

    def setUp(self):
        super().setUp()
        self.pass_gpus_through()
        # The copy of the disk between hosts goes over SSH, which a test
        # has not: the driver's half of it is a no-op here.
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.libvirt.driver.LibvirtDriver'
            '.migrate_disk_and_power_off', lambda *args, **kwargs: '{}'))
        self.flavors = {'miner': self.miner_flavor(
            **{'cryptomine:migration': 'cold'}),
            'plain-miner': self.miner_flavor()}

    def controller_overrides(self) -> dict:
        # One move a round: a second cold migration of a passthrough
        # guest to the same host right after the first was confirmed
        # once found both of its GPUs allocated in placement (nova's
        # compute had not settled the first one's PCI claim yet) and
        # failed with NoValidHost.  The executor records such a failure;
        # this test is about the move that works.
        return {**super().controller_overrides(),
                'replan': {'migration_poll_interval': 0.2, 'max_moves': 1}}

    def test_hot_gpu_host_sheds_its_miners_cold_to_free_gpus(self):
        self.start_compute('hot', pci_info=fakelibvirt.HostPCIDevicesInfo(
            num_pci=2, num_pfs=0, num_vfs=0))
        miners = [self.boot('miner') for _ in range(2)]
        self.assertEqual({'hot'}, {self.host_of(s) for s in miners})
        self.start_compute('cool', pci_info=fakelibvirt.HostPCIDevicesInfo(
            num_pci=2, num_pfs=0, num_vfs=0))
        self.start_compute('cpu1')
        # The BMC reads the hot host's GPUs at 1 degC from slowdown, each
        # held by one miner; the cool host's at 39.
        guests = [sample.InstanceLoad(s['id'], 20.0, 2000.0)
                  for s in miners]
        self.report({'hot': 25.0, 'cool': 20.0, 'cpu1': 2.0},
                    guests={'hot': guests},
                    gpus={'hot': [samples.gpu(i, temp=88.0,
                                              instances=[s['id']])
                                  for i, s in enumerate(miners)],
                          'cool': gpus(50.0)})
        self.wait_for_gpus({'hot': (2, 2), 'cool': (2, 0)})

        plan = self.controller.replanner.create(
            trigger='operator', dry_run=False, execute=True)
        self.controller.replanner.wait(waiting.PATIENCE)
        plan = self.controller.replanner.plans.get(plan['id'])

        self.assertEqual('succeeded', plan['status'], plan)
        [action] = plan['actions']
        self.assertEqual(('hot', 'cool', False, 'succeeded'), (
            action['source'], action['destination'], action['live'],
            action['status']))
        [migration] = self.admin_api.api_get(
            '/os-migrations').body['migrations']
        self.assertEqual(
            (action['instance'], 'migration', 'confirmed'),
            (migration['instance_uuid'], migration['migration_type'],
             migration['status']))
        for server in miners:
            found = self.api.get_server(server['id'])
            self.assertEqual(
                ('ACTIVE',
                 'cool' if server['id'] == action['instance'] else 'hot'),
                (found['status'], self.host_of(found)))
        # The miner's GPU on the hot host is free again in placement, and
        # the controller counts it so.  (On the cool host this nova's
        # fake libvirt allocates the guest its GPU and the other one,
        # whose PCI address is the one it held on the hot host.)
        waiting.wait_for(lambda: self.gpus_counted('hot') == (2, 1), 60)
        self.assertEqual(2, self.gpus_counted('cool')[0])

    def test_a_drain_moves_a_passthrough_miner_cold_to_a_free_gpu(self):
        self.start_compute('maint', pci_info=fakelibvirt.HostPCIDevicesInfo(
            num_pci=1, num_pfs=0, num_vfs=0))
        # Its flavor says nothing of migration: it cannot live-migrate,
        # and [replan] allow_cold_migration is off.
        miner = self.boot('plain-miner')
        self.start_compute('cool', pci_info=fakelibvirt.HostPCIDevicesInfo(
            num_pci=2, num_pfs=0, num_vfs=0))
        self.start_compute('cpu1')
        self.report({'maint': 10.0, 'cool': 20.0, 'cpu1': 2.0},
                    guests={'maint': [
                        sample.InstanceLoad(miner['id'], 20.0, 2000.0)]},
                    gpus={'maint': [samples.gpu(0, temp=50.0,
                                                instances=[miner['id']])],
                          'cool': gpus(50.0)})
        self.wait_for_gpus({'maint': (1, 1), 'cool': (2, 0)})
        replanner = self.controller.replanner
        plan = replanner.create(trigger='drain', dry_run=True,
                                execute=False, drain='maint')
        self.assertEqual(('nothing-to-do', {'not live-migratable': 1}),
                         (plan['status'], plan['pinned']))

        # The operator's --cold: the host disabled in nova first, then
        # the miner moved cold now, to the host with a free GPU rather
        # than the idle one without.
        plan = replanner.create(trigger='drain', dry_run=False,
                                execute=True, drain='maint', cold=True,
                                disable=True)
        self.assertTrue(plan['disabled_host'])
        reason = f'cryptomine: drained by plan {plan["id"]}'
        self.assertEqual(('disabled', reason), self.compute_service('maint'))
        replanner.wait(waiting.PATIENCE)
        plan = replanner.plans.get(plan['id'])
        self.assertEqual('succeeded', plan['status'], plan)
        [action] = plan['actions']
        self.assertEqual(
            (miner['id'], 'maint', 'cool', False, 'succeeded'),
            (action['instance'], action['source'], action['destination'],
             action['live'], action['status']))
        found = self.api.get_server(miner['id'])
        self.assertEqual(('ACTIVE', 'cool'),
                         (found['status'], self.host_of(found)))
        # Drained again: nothing left, and the host keeps its reason.
        again = replanner.create(trigger='drain', dry_run=False,
                                 execute=True, drain='maint', disable=True)
        self.assertEqual(('nothing-to-do', False),
                         (again['status'], again['disabled_host']))
        self.assertEqual(('disabled', reason), self.compute_service('maint'))

    def compute_service(self, host: str) -> tuple[str, str | None]:
        """Status and disabled reason of ``host``'s nova-compute, as
        nova's API shows them."""
        [found] = self.api.get_services(binary='nova-compute', host=host)
        return found['status'], found['disabled_reason']
