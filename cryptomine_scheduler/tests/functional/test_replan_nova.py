"""The re-planner's nova side against a real nova, through openstacksdk.

nova (API, conductor, scheduler, placement, fake computes) runs in the
test process with nova's functional fixtures (:mod:`.nova_base`); the
inventory and the executor reach it through openstacksdk
(:mod:`.nova_sdk`).  Only the fake virt driver is made to fail.
"""

# nova_base first (through nova_sdk): it selects nova's concurrency mode.
from cryptomine_scheduler.tests.functional import nova_sdk  # noqa: I001


import fixtures
from nova.tests import fixtures as nova_fixtures
from nova.virt import fake as fake_virt
from oslo_serialization import jsonutils

from cryptomine_scheduler import cluster
from cryptomine_scheduler import nova_inventory
from cryptomine_scheduler import scoring
from cryptomine_scheduler.executor import ActionStatus
from cryptomine_scheduler.tests.functional import nova_base

S = ActionStatus
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
                az=None, group=None) -> dict:
        """Boot a server on ``host`` (nova's scheduler checks it)."""
        request = {'server': self._build_server(
            name=name, flavor_id=self.flavors[flavor],
            image_uuid=nova_fixtures.GlanceFixture.image1['id'],
            networks='none', az=az, host=host)}
        if group is not None:
            request['os:scheduler_hints'] = {'group': group}
        return self.wait_for_status(self.admin_api.post_server(request))


class InventoryTest(ServersMixin, nova_sdk.NovaSDKTestCase):
    """Hosts, servers and server groups as nova shows them."""

    HOSTS = ('cpu1', 'gpu1', 'off1', 'down1')
    HOST_RESOURCES = {'gpu1': {'vcpus': 8, 'memory_mb': 16384}}
    #: Allocation ratios each host's inventory starts with.
    RATIOS = {'cpu1': (4.0, 1.5), 'gpu1': (1.0, 1.0)}
    FLAVORS = dict(nova_base.NovaSchedulingTestCase.FLAVORS,
                   nic=(1, 1024, 10, {'pci_passthrough:alias':
                                      f"{PCI_ALIAS['name']}:1"}))

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
            'cryptomine:accelerator': 'gpu, cpu'}}})
        api.add_host_to_aggregate(self._create_aggregate('fast'), 'gpu1')
        services = {s['host']: s['id'] for s in api.get_services(
            binary='nova-compute')}
        api.put_service(services['off1'], {'status': 'disabled',
                                           'disabled_reason': 'repair'})
        api.put_service(services['down1'], {'forced_down': True})

        web = self.boot_on('cpu1', name='web')
        api.post_server_action(web['id'], {'lock': None})
        miner = self.boot_on('gpu1', 'gpu', name='miner', az='az2')
        nic = self.boot_on('cpu1', 'nic', name='nic')
        group = api.post_server_groups({'name': 'spread',
                                        'policy': 'anti-affinity'})
        member = self.boot_on('cpu1', name='member', group=group['id'])
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
                                        scoring.Accelerator.CPU})),
            cluster.ComputeHost(
                name='off1', vcpus=15, memory_mb=31744,
                cpu_allocation_ratio=2.0, accepts_moves=False),
        ), found.hosts)
        servers = {s.name: s for s in found.servers}
        self.assertEqual(cluster.Server(
            uuid=web['id'], name='web', host='cpu1', vcpus=1,
            memory_mb=2048, locked=True), servers['web'])
        self.assertEqual(cluster.Server(
            uuid=miner['id'], name='miner', host='gpu1', vcpus=4,
            memory_mb=8192, accelerator=scoring.Accelerator.GPU),
            servers['miner'])
        self.assertEqual(cluster.Server(
            uuid=nic['id'], name='nic', host='cpu1', vcpus=1,
            memory_mb=1024, status='SHUTOFF', live_migratable=False),
            servers['nic'])
        self.assertEqual((cluster.ServerGroup(
            id=group['id'], name='spread',
            policy=cluster.GroupPolicy.ANTI_AFFINITY,
            members=frozenset({member['id']})),), found.groups)
