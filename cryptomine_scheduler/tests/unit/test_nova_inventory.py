"""Connecting from ``[nova_api]``, and the host rules a small nova does not
show (the functional test reads a real one)."""

import dataclasses
import os
import types

import fixtures
from keystoneauth1.identity import generic
from oslo_config import cfg
from oslotest import base

from cryptomine_scheduler.conf import nova_api as nova_api_conf
from cryptomine_scheduler.placement import aggregate_thresholds
from cryptomine_scheduler.placement import device_inventory
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.placement.scoring import Accelerator
from cryptomine_scheduler.placement.tiers import Tier
from cryptomine_scheduler.replan import cluster
from cryptomine_scheduler.replan import nova_inventory

R = types.SimpleNamespace


PASSWORD_AUTH = """
[nova_api]
auth_type = password
auth_url = http://keystone.example:5000/v3
username = cryptomine
password = secret
"""


class ConnectTest(base.BaseTestCase):

    def configure(self, text: str) -> cfg.ConfigOpts:
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'cryptomine.conf')
        with open(path, 'w') as f:
            f.write(text)
        conf = cfg.ConfigOpts()
        nova_api_conf.register_opts(conf)
        conf(['--config-file', path])
        return conf

    def test_keystoneauth_options(self):
        conf = self.configure(PASSWORD_AUTH + """
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionTwo
interface = internal
timeout = 30
""")
        conn = nova_inventory.connect(conf)
        auth = conn.session.auth
        self.assertIsInstance(auth, generic.Password)
        self.assertEqual(
            {'auth_url': 'http://keystone.example:5000/v3',
             'username': 'cryptomine', 'password': 'secret',
             'project_name': 'service', 'user_domain_name': 'Default',
             'project_domain_name': 'Default'},
            {k: v for k, v in auth.get_cache_id_elements().items() if v})
        self.assertEqual(30, conn.session.timeout)
        self.assertEqual('RegionTwo', conn.config.get_region_name('compute'))
        self.assertEqual('internal', conn.config.get_interface('placement'))

    def test_api_calls_time_out_by_default(self):
        conf = self.configure(PASSWORD_AUTH)
        self.assertEqual(nova_api_conf.DEFAULT_TIMEOUT,
                         nova_inventory.connect(conf).session.timeout)

    def test_clouds_yaml(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        clouds = os.path.join(tmp, 'clouds.yaml')
        with open(clouds, 'w') as f:
            f.write("""
clouds:
  rack1:
    region_name: RegionOne
    interface: admin
    auth:
      auth_url: http://keystone.rack1:5000/v3
      username: cryptomine
      password: secret
      project_name: service
      user_domain_name: Default
      project_domain_name: Default
""")
        self.useFixture(fixtures.EnvironmentVariable('OS_CLIENT_CONFIG_FILE',
                                                     clouds))
        conn = nova_inventory.connect(self.configure(
            '[nova_api]\ncloud = rack1\n'))
        self.assertEqual('rack1', conn.config.name)
        self.assertEqual('RegionOne', conn.config.get_region_name('compute'))
        self.assertEqual('admin', conn.config.get_interface('compute'))
        self.assertEqual('http://keystone.rack1:5000/v3',
                         conn.config.get_auth_args()['auth_url'])


def inventory(total, reserved, ratio):
    return R(total=total, reserved=reserved, allocation_ratio=ratio)


class FakeNova:
    """openstacksdk's compute and placement proxies, as records."""

    def __init__(self, hypervisors, inventories, aggregates, services,
                 children=None, usages=None):
        """``children``: root provider -> providers below it;
        ``usages``: provider -> {resource class: used}."""
        self.compute = R(
            hypervisors=lambda details, microversion: hypervisors,
            aggregates=lambda: aggregates,
            services=lambda binary: [s for s in services
                                     if binary == 'nova-compute'])
        self.providers = [R(id=h.id, root_provider_id=h.id, generation=1)
                          for h in hypervisors]
        self.providers += [R(id=child, root_provider_id=root, generation=1)
                           for root, below in (children or {}).items()
                           for child in below]
        self.inventories = inventories
        self.usage_calls, self.inventory_calls = [], []

        def fetch_usages(rp):
            self.usage_calls.append(rp)
            return R(usages=(usages or {}).get(rp))

        def fetch_inventories(rp):
            self.inventory_calls.append(rp)
            return [R(resource_class=rc, **vars(inv))
                    for rc, inv in self.inventories.get(rp, {}).items()]

        self.placement = R(
            resource_providers=lambda: list(self.providers),
            fetch_resource_provider_usages=fetch_usages,
            resource_provider_inventories=fetch_inventories)


def service(host, status='enabled', state='up', forced_down=False):
    return R(host=host, status=status, state=state,
             is_forced_down=forced_down, availability_zone='nova')


def small_hosts(names, aggregates, services=None) -> 'FakeNova':
    """Hosts of 8 vCPUs and 4 GiB named ``names``, in ``aggregates``, with
    ``services`` (each enabled and up by default)."""
    inv = {'VCPU': inventory(8, 0, 1.0),
           'MEMORY_MB': inventory(4096, 0, 1.0)}
    return FakeNova(
        hypervisors=[R(id=n, name=n, service_details={'host': n})
                     for n in names],
        inventories=dict.fromkeys(names, inv), aggregates=aggregates,
        services=services or [service(n) for n in names])


class ReadHostsTest(base.BaseTestCase):

    def test_nodes_of_a_host_are_summed_with_the_smallest_ratios(self):
        conn = FakeNova(
            hypervisors=[R(id='rp1', name='n1', service_details={
                             'host': 'big'}),
                         R(id='rp2', name='n2', service_details={
                             'host': 'big'})],
            inventories={
                'rp1': {'VCPU': inventory(8, 1, 4.0),
                        'MEMORY_MB': inventory(4096, 512, 1.5)},
                'rp2': {'VCPU': inventory(16, 0, 2.0),
                        'MEMORY_MB': inventory(8192, 0, 2.0)}},
            aggregates=[], services=[service('big')])
        self.assertEqual((cluster.ComputeHost(
            name='big', vcpus=23, memory_mb=11776,
            cpu_allocation_ratio=2.0, ram_allocation_ratio=1.5),),
            nova_inventory.read_hosts(conn))

    def test_host_without_inventory_is_left_out(self):
        conn = FakeNova(
            hypervisors=[R(id='rp1', name='new', service_details={
                'host': 'new'})],
            inventories={'rp1': {'VCPU': inventory(8, 0, 1.0)}},
            aggregates=[], services=[service('new')])
        self.assertEqual((), nova_inventory.read_hosts(conn))

    def test_aggregates_and_service_state(self):
        conn = small_hosts(
            ('a', 'b', 'c', 'd'), aggregates=[
                R(name='rigs', hosts=['a', 'b'], availability_zone='az1',
                  metadata={'cryptomine:accelerator': 'GPU,fpga'}),
                R(name='asics', hosts=['b'], availability_zone=None,
                  metadata={'cryptomine:accelerator': 'asic'}),
                R(name='empty', hosts=None, availability_zone=None,
                  metadata=None)],
            services=[service('a'), service('b', state='down'),
                      service('c', status='disabled'),
                      service('d', forced_down=True)])
        hosts = {h.name: h for h in nova_inventory.read_hosts(conn)}
        self.assertEqual(
            {'a': ('az1', {'rigs'}, {Accelerator.GPU}, True),
             'b': ('az1', {'rigs', 'asics'},
                   {Accelerator.GPU, Accelerator.ASIC}, False),
             'c': ('nova', set(), None, False),
             'd': ('nova', set(), None, False)},
            {n: (h.availability_zone, set(h.aggregates), h.accelerators
                 and set(h.accelerators), h.accepts_moves)
             for n, h in hosts.items()})

    def test_tiers_and_costs_of_aggregates(self):
        burst = {'cryptomine:tier': 'burst'}
        conn = small_hosts(
            ('own', 'rented', 'twice', 'free', 'bad'), aggregates=[
                R(name='home', hosts=['own'], availability_zone=None,
                  metadata={'cryptomine:tier': 'home',
                            'cryptomine:cost_per_hour': '9'}),
                R(name='partner', hosts=['rented', 'twice'],
                  availability_zone=None,
                  metadata=dict(burst, **{'cryptomine:cost_per_hour': '2'})),
                R(name='dear', hosts=['twice', 'bad'],
                  availability_zone=None,
                  metadata={'cryptomine:cost_per_hour': '3.5'}),
                R(name='uncosted', hosts=['free', 'bad'],
                  availability_zone=None, metadata=burst),
                R(name='typo', hosts=['bad'], availability_zone=None,
                  metadata={'cryptomine:cost_per_hour': 'cheap'}),
                R(name='deal', hosts=['rented'], availability_zone=None,
                  metadata={'cryptomine:cost_per_hour': '1.5'})])
        with self.assertLogs(nova_inventory.LOG.logger) as logs:
            hosts = {h.name: h for h in nova_inventory.read_hosts(conn)}
        # The cost of a burst host's smallest aggregate that gives a
        # readable one (the highest of equals), 0 when none does; a home
        # host costs nothing, whatever it says.
        self.assertEqual(
            {'own': (Tier.HOME, None), 'rented': (Tier.BURST, 1.5),
             'twice': (Tier.BURST, 3.5), 'free': (Tier.BURST, 0.0),
             'bad': (Tier.BURST, 3.5)},
            {n: (h.tier, h.burst_cost_per_hour) for n, h in hosts.items()})
        [warning] = logs.output
        self.assertIn("Host bad: ignoring aggregate cryptomine:"
                      "cost_per_hour 'cheap'", warning)

    def test_thresholds_that_aggregates_override(self):
        # The filter's aggregate keys, for the planner: the strictest of
        # a host's aggregates, unreadable values ignored with a warning.
        conn = small_hosts(
            ('plain', 'racked', 'hot', 'bad'), aggregates=[
                R(name='rack', hosts=['racked', 'hot'],
                  availability_zone=None,
                  metadata={'cryptomine_max_chassis_power_w': '3000',
                            'cryptomine_max_cpu_percent': '80',
                            'cryptomine:accelerator': 'gpu'}),
                R(name='hot-row', hosts=['hot'], availability_zone=None,
                  metadata={'cryptomine_max_chassis_power_w': '2500',
                            'cryptomine_min_gpu_thermal_headroom_c': '8'}),
                R(name='typo', hosts=['bad'], availability_zone=None,
                  metadata={'cryptomine_max_inlet_temperature_c': 'warm'})])
        defaults = scoring.Thresholds(
            max_cpu_percent=90.0, max_mem_percent=90.0,
            min_gpu_thermal_headroom_c=5.0,
            min_gpu_power_headroom_percent=2.0,
            max_asic_errors_per_min=30.0, min_asic_hashrate_ratio=0.5,
            max_inlet_temperature_c=40.0, max_chassis_power_w=0.0)
        hosts = {h.name: h for h in nova_inventory.read_hosts(conn)}
        with self.assertLogs(aggregate_thresholds.LOG.logger) as logs:
            got = {n: h.thresholds(defaults) for n, h in hosts.items()}
        self.assertIs(defaults, got['plain'])
        self.assertEqual(dataclasses.replace(
            defaults, max_chassis_power_w=3000.0, max_cpu_percent=80.0),
            got['racked'])
        self.assertEqual(dataclasses.replace(
            defaults, max_chassis_power_w=2500.0, max_cpu_percent=80.0,
            min_gpu_thermal_headroom_c=8.0), got['hot'])
        self.assertEqual(defaults, got['bad'])
        [warning] = logs.output
        self.assertIn("Host bad: ignoring aggregate cryptomine_max_inlet_"
                      "temperature_c values 'warm'", warning)

    def test_gpus_and_miners_counted_in_provider_trees(self):
        host = {'VCPU': inventory(32, 0, 1.0),
                'MEMORY_MB': inventory(65536, 0, 1.0)}
        conn = FakeNova(
            hypervisors=[R(id=n, name=n, service_details={'host': n})
                         for n in ('cpu', 'pgpu', 'pci', 'asic', 'agg')],
            inventories={
                'cpu': host, 'agg': host,
                'pgpu': host,
                # Two physical GPUs for vGPUs, one with a GPU reserved.
                'pgpu-0': {'VGPU': inventory(8, 0, 1.0)},
                'pgpu-1': {'PGPU': inventory(2, 1, 1.0)},
                # PCI in placement: an NVIDIA GPU and a NIC (not a GPU).
                'pci': host,
                'pci-81': {'CUSTOM_PCI_10DE_2330': inventory(1, 0, 1.0)},
                'pci-82': {'CUSTOM_PCI_10DE_2330': inventory(1, 0, 1.0)},
                'pci-83': {'CUSTOM_PCI_8086_1572': inventory(1, 0, 1.0)},
                'asic': dict(host, CUSTOM_ASIC_MINER=inventory(20, 0, 1.0))},
            children={'pgpu': ['pgpu-0', 'pgpu-1'],
                      'pci': ['pci-81', 'pci-82', 'pci-83']},
            usages={'pgpu-0': {'VGPU': 3}, 'pgpu-1': {'PGPU': 1},
                    'pci-81': {'CUSTOM_PCI_10DE_2330': 1},
                    'pci-82': {}, 'asic': {'CUSTOM_ASIC_MINER': 20,
                                           'VCPU': 8}},
            aggregates=[R(name='passthrough', hosts=['agg', 'asic'],
                          availability_zone=None,
                          metadata={'cryptomine:accelerator': 'gpu'})],
            services=[service(n) for n in
                      ('cpu', 'pgpu', 'pci', 'asic', 'agg')])
        count = device_inventory.DeviceCount
        # Every compute host, those placement counts no device on too.
        self.assertEqual(
            {'pgpu': device_inventory.HostDevices(gpu=count(9, 4)),
             'pci': device_inventory.HostDevices(gpu=count(2, 1)),
             'asic': device_inventory.HostDevices(asic=count(20, 20)),
             'cpu': device_inventory.HostDevices(),
             'agg': device_inventory.HostDevices()},
            nova_inventory.read_devices(
                conn, device_inventory.DEFAULT_CLASSES))
        # Usages are asked only where there are devices.
        self.assertNotIn('cpu', conn.usage_calls)
        self.assertNotIn('pci-83', conn.usage_calls)
        # The aggregate's word is kept (passthrough outside placement),
        # with what placement counts.
        self.assertEqual(
            {'cpu': None, 'pgpu': {Accelerator.GPU},
             'pci': {Accelerator.GPU}, 'agg': {Accelerator.GPU},
             'asic': {Accelerator.GPU, Accelerator.ASIC}},
            {h.name: h.accelerators and set(h.accelerators)
             for h in nova_inventory.read_hosts(conn)})

    def test_inventories_are_read_again_only_when_generation_moves(self):
        conn = FakeNova(
            hypervisors=[R(id=n, name=n, service_details={'host': n})
                         for n in ('cpu', 'pgpu')],
            inventories={
                'cpu': {'VCPU': inventory(8, 0, 1.0),
                        'MEMORY_MB': inventory(4096, 0, 1.0)},
                'pgpu': {'VCPU': inventory(32, 0, 1.0),
                         'MEMORY_MB': inventory(65536, 0, 1.0)},
                'pgpu-0': {'VGPU': inventory(8, 0, 1.0)}},
            children={'pgpu': ['pgpu-0']},
            usages={'pgpu-0': {'VGPU': 3}},
            aggregates=[], services=[service('cpu'), service('pgpu')])
        cache = nova_inventory.InventoryCache()

        def read():
            return {h.name: (h.vcpus, h.memory_mb) for h in
                    nova_inventory.read_hosts(conn, inventory_cache=cache)}

        self.assertEqual({'cpu': (8, 4096), 'pgpu': (32, 65536)}, read())
        self.assertEqual(['cpu', 'pgpu', 'pgpu-0'],
                         sorted(conn.inventory_calls))
        # Same generations: only usages (of the GPU provider) are asked.
        del conn.inventory_calls[:], conn.usage_calls[:]
        self.assertEqual({'cpu': (8, 4096), 'pgpu': (32, 65536)}, read())
        self.assertEqual(([], ['pgpu-0']),
                         (conn.inventory_calls, conn.usage_calls))
        # An inventory changed: placement moved that provider's generation.
        conn.inventories['cpu'] = {'VCPU': inventory(16, 2, 1.0),
                                   'MEMORY_MB': inventory(4096, 0, 1.0)}
        conn.providers[0] = R(id='cpu', root_provider_id='cpu', generation=2)
        self.assertEqual({'cpu': (14, 4096), 'pgpu': (32, 65536)}, read())
        self.assertEqual(['cpu'], conn.inventory_calls)
        # Without a cache, every inventory is asked every time.
        del conn.inventory_calls[:]
        nova_inventory.read_hosts(conn)
        self.assertEqual(['cpu', 'pgpu', 'pgpu-0'],
                         sorted(conn.inventory_calls))

    def test_migration_mode(self):
        for spec, mode in (({}, None),
                           ({'cryptomine:migration': 'cold'},
                            cluster.MigrationMode.COLD),
                           ({'cryptomine:migration': ' Never '},
                            cluster.MigrationMode.NEVER),
                           ({'cryptomine:migration': 'live'},
                            cluster.MigrationMode.LIVE),
                           ({'cryptomine:migration': 'sometimes'}, None)):
            with self.subTest(spec=spec):
                self.assertEqual(mode,
                                 nova_inventory.migration_mode('s1', spec))
        for server, cold in (
                (dict(), False), (dict(live_migratable=False), True),
                (dict(migration=cluster.MigrationMode.COLD), True),
                (dict(live_migratable=False,
                      migration=cluster.MigrationMode.LIVE), False)):
            with self.subTest(server=server):
                self.assertEqual(cold, cluster.Server(
                    'u', 'n', 'h', 1, 512, **server).moves_cold)

    def test_live_migratable(self):
        self.assertTrue(nova_inventory.live_migratable(
            {'cryptomine:accelerator': 'gpu'}))
        self.assertTrue(nova_inventory.live_migratable(
            {'hw:mem_encryption': 'false'}))
        for refused in ({'pci_passthrough:alias': 'a1:2'},
                        {'accel:device_profile': 'fpga-miner'},
                        {'hw:mem_encryption': 'True'},
                        {'hw:tpm_version': '2.0', 'hw:tpm_model': 'tpm-crb'},
                        {'resources:VGPU': '1'}):
            with self.subTest(extra_specs=refused):
                self.assertFalse(nova_inventory.live_migratable(refused))
        # Where the operator says both ends can (libvirt 8.6, QEMU 8.1).
        self.assertTrue(nova_inventory.live_migratable(
            {'resources:VGPU': '1'}, vgpu_live_migration=True))
        self.assertFalse(nova_inventory.live_migratable(
            {'resources:VGPU': '1', 'pci_passthrough:alias': 'a1:1'},
            vgpu_live_migration=True))
