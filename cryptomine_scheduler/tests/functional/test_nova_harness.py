"""The in-process nova harness works, with nova's default scheduler."""

from cryptomine_scheduler.tests.functional import nova_base


class NovaHarnessTest(nova_base.NovaSchedulingTestCase):
    """4 equal hosts, nova's default filters and weighers."""

    def test_burst_spreads_over_hosts(self):
        # The default RAM (and CPU) weighers prefer the host with the most
        # free resources, so 4 servers on 4 empty, equal hosts go one per
        # host, also within one multi-create request.
        servers = self.boot_servers(4, flavor='medium', burst=True)
        self.assertEqual(sorted(self.HOSTS),
                         sorted(self.host_of(s) for s in servers))

    def test_live_migration_without_destination(self):
        server = self.boot_server('medium')
        source = self.host_of(server)
        migrated = self.live_migrate(server)
        self.assertIn(migrated['OS-EXT-SRV-ATTR:host'], self.HOSTS)
        self.assertNotEqual(source, migrated['OS-EXT-SRV-ATTR:host'])


class NovaHarnessHostResourcesTest(nova_base.NovaSchedulingTestCase):
    """Per-host fake resources and the accelerator flavor."""

    HOSTS = ('big', 'little')
    HOST_RESOURCES = {
        'big': {'vcpus': 64, 'memory_mb': 131072, 'local_gb': 4000}}

    def test_host_resources_and_gpu_flavor(self):
        big = self._get_provider_uuid_by_host('big')
        little = self._get_provider_uuid_by_host('little')
        inventory = self._get_provider_inventory(big)
        self.assertEqual((64, 131072, 4000), (
            inventory['VCPU']['total'], inventory['MEMORY_MB']['total'],
            inventory['DISK_GB']['total']))
        self.assertEqual(
            nova_base.NovaSchedulingTestCase.DEFAULT_HOST_RESOURCES[
                'memory_mb'],
            self._get_provider_inventory(little)['MEMORY_MB']['total'])

        # Most free resources win (RAM, CPU and disk weighers): both
        # servers, one after the other, on 'big'.
        gpu = self.boot_server('gpu')
        self.assertEqual(
            {nova_base.ACCELERATOR_SPEC: 'gpu'}, gpu['flavor']['extra_specs'])
        small = self.boot_server('small')
        self.assertEqual(['big', 'big'],
                         [self.host_of(gpu), self.host_of(small)])
        self.assertEqual(8192 + 2048, self._get_provider_usages(
            big)['MEMORY_MB'])

        self.delete_server(gpu)
        self.delete_server(small)
        self.assertEqual(0, self._get_provider_usages(big)['MEMORY_MB'])
