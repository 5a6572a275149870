"""A real nova, in-process, for scheduling tests.

``NovaSchedulingTestCase`` starts nova's API (through wsgi-intercept),
conductor, scheduler, placement (openstack-placement's in-process fixture) and
one nova-compute per host with nova's fake virt driver, all in the test
process, using nova's own functional-test fixtures (SQLite in memory, fake
RPC transport, fake Neutron/Glance/Cinder).  Tests boot servers through the
real API and check where the real scheduler put them.

Scheduler configuration is chosen per test class::

    class MyTest(nova_base.NovaSchedulingTestCase):
        HOSTS = ('host1', 'host2')
        HOST_RESOURCES = {'host2': {'memory_mb': 8192}}
        AVAILABLE_FILTERS = [
            'nova.scheduler.filters.all_filters',
            'cryptomine_scheduler.scheduler.filter.LoadAwareFilter']
        ENABLED_FILTERS = ['ComputeFilter', 'LoadAwareFilter']
        WEIGHT_CLASSES = [
            'cryptomine_scheduler.scheduler.weigher.LoadAwareWeigher']

(or override ``scheduler_flags()``; ``SCHEDULER_FLAGS`` takes any other
``[filter_scheduler]`` option).  ``None`` keeps nova's default.

Concurrency: nova 34 runs either under eventlet monkey patching or with
native threads.  ``cryptomine_scheduler/tests/__init__.py`` selects native
threads (``OS_NOVA_DISABLE_EVENTLET_PATCHING=1``) before anything imports
eventlet, so nova does not monkey patch the other tests of a worker.
``nova_defaults.LibraryDefaultsFixture`` (through
:class:`~cryptomine_scheduler.experiment.nova_in_process.InProcessNova`,
which this module shares with the emulated testbed) undoes the library option
defaults nova changes process-wide.
"""

import time

from nova.tests import fixtures as nova_fixtures
from nova.tests.functional import integrated_helpers
from nova.tests.functional.api import client as api_client

from cryptomine_scheduler.experiment import nova_in_process

InProcessNova = nova_in_process.InProcessNova
api_paste_config = nova_in_process.api_paste_config

#: The flavor extra spec our filter/weigher will look at.
ACCELERATOR_SPEC = 'cryptomine:accelerator'


class NovaSchedulingTestCase(InProcessNova,
                             integrated_helpers._IntegratedTestBase):
    """Nova with ``HOSTS`` fake computes, a few flavors and helpers."""

    #: Compute host names; one nova-compute (fake driver) each.
    HOSTS = ('host1', 'host2', 'host3', 'host4')
    #: Resources of every host (the fake driver's inventory).
    DEFAULT_HOST_RESOURCES = {'vcpus': 16, 'memory_mb': 32768,
                              'local_gb': 1000}
    #: Per-host overrides of DEFAULT_HOST_RESOURCES: {'host2': {'vcpus': 4}}.
    HOST_RESOURCES = {}
    #: nova.virt driver (relative to nova.virt) for every compute.
    COMPUTE_DRIVER = 'fake.FakeDriver'

    #: [filter_scheduler] options; None keeps nova's default.
    AVAILABLE_FILTERS = None
    ENABLED_FILTERS = None
    WEIGHT_CLASSES = None
    #: Any other [filter_scheduler] options, e.g. {'ram_weight_multiplier': 0}
    SCHEDULER_FLAGS = {}

    #: Flavors created in setUp: name -> (vcpus, ram MB, disk GB, extra specs)
    FLAVORS = {
        'small': (1, 2048, 10, {}),
        'medium': (2, 4096, 20, {}),
        'gpu': (4, 8192, 20, {ACCELERATOR_SPEC: 'gpu'}),
    }

    #: Seconds to wait for a server/migration to reach a state.
    TIMEOUT = 60

    # Every request as admin at a microversion where live migration needs
    # no 'host' (2.30+) and where 'OS-EXT-SRV-ATTR:host' is shown.
    ADMIN_API = True
    microversion = 'latest'
    REQUIRES_LOCKING = False

    def scheduler_flags(self) -> dict:
        """The [filter_scheduler] overrides to apply; override to compute."""
        flags = dict(self.SCHEDULER_FLAGS)
        for name, value in (('available_filters', self.AVAILABLE_FILTERS),
                            ('enabled_filters', self.ENABLED_FILTERS),
                            ('weight_classes', self.WEIGHT_CLASSES)):
            if value is not None:
                flags[name] = list(value)
        return flags

    # -- nova service start-up (hooks of _IntegratedTestBase) --------------

    def _setup_services(self):
        self.flags(compute_driver=self.COMPUTE_DRIVER)
        flags = self.scheduler_flags()
        if flags:
            self.flags(group='filter_scheduler', **flags)
        super()._setup_services()
        self.flavors = {
            name: self._create_flavor(name=name, vcpu=vcpus,
                                      memory_mb=ram, disk=disk, ephemeral=0,
                                      extra_spec=specs or None)
            for name, (vcpus, ram, disk, specs) in self.FLAVORS.items()}

    def _setup_compute_service(self):
        for host in self.HOSTS:
            self.start_host(host)
        return self.computes[self.HOSTS[0]] if self.HOSTS else None

    def start_host(self, host: str, **resources):
        """Start a nova-compute on ``host`` with the given fake resources.

        ``resources`` (vcpus, memory_mb, local_gb) override HOST_RESOURCES
        and DEFAULT_HOST_RESOURCES.
        """
        res = dict(self.DEFAULT_HOST_RESOURCES)
        res.update(self.HOST_RESOURCES.get(host, {}))
        res.update(resources)
        return self.start_fake_compute(host, self.COMPUTE_DRIVER, **res)

    def _clear_attrs(self):
        # nova deletes every public attribute after each test, which breaks
        # runners (pytest) that read them afterwards; the tests are few.
        pass

    # -- helpers -------------------------------------------------------------

    def _wait(self, predicate, what: str):
        deadline = time.monotonic() + self.TIMEOUT
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                self.fail(f'timed out after {self.TIMEOUT}s waiting for '
                          f'{what}')
            time.sleep(0.1)

    def wait_for_status(self, server, status: str = 'ACTIVE') -> dict:
        """Poll the server until it has ``status``; fail on ERROR."""
        def check():
            current = self.admin_api.get_server(server['id'])
            if current['status'] == 'ERROR' and status != 'ERROR':
                self.fail(f"server {server['id']} went to ERROR: "
                          f"{current.get('fault')}")
            return current if current['status'] == status else None
        return self._wait(check, f"server {server['id']} {status}")

    def _server_body(self, flavor: str, name=None) -> dict:
        return self._build_server(
            name=name, flavor_id=self.flavors[flavor],
            image_uuid=nova_fixtures.GlanceFixture.image1['id'],
            networks='none')

    def boot_server(self, flavor: str = 'small', name=None,
                    wait: bool = True) -> dict:
        """Boot one server; by default wait for ACTIVE and return it."""
        server = self.admin_api.post_server(
            {'server': self._server_body(flavor, name)})
        return self.wait_for_status(server) if wait else server

    def boot_servers(self, count: int, flavor: str = 'small',
                     burst: bool = True) -> list:
        """Boot ``count`` servers and wait until all are ACTIVE.

        ``burst``: one request with min_count=max_count=count (the scheduler
        places them all in one select_destinations call); otherwise one
        request after another, each waited for.
        """
        if not burst:
            return [self.boot_server(flavor) for _ in range(count)]
        body = self._server_body(flavor)
        body.update(min_count=count, max_count=count,
                    return_reservation_id=True)
        reservation = self.admin_api.post_server(
            {'server': body})['reservation_id']
        servers = self.admin_api.get_servers(
            search_opts={'reservation_id': reservation})
        self.assertEqual(count, len(servers))
        return [self.wait_for_status(server) for server in servers]

    def host_of(self, server) -> str:
        """The compute host the server is on, as nova's API reports it."""
        return self.admin_api.get_server(
            server['id'])['OS-EXT-SRV-ATTR:host']

    def live_migrate(self, server) -> dict:
        """Live-migrate without a destination (the scheduler picks one).

        Waits for the migration to complete and the server to be ACTIVE
        again; returns the server as shown after the migration.
        """
        self.admin_api.post_server_action(
            server['id'],
            {'os-migrateLive': {'host': None, 'block_migration': 'auto'}})

        def completed():
            migrations = self.admin_api.api_get(
                f"/os-migrations?instance_uuid={server['id']}"
            ).body['migrations']
            live = [m for m in migrations
                    if m['migration_type'] == 'live-migration']
            if any(m['status'] in ('error', 'failed') for m in live):
                self.fail(f"live migration of {server['id']} failed: "
                          f"{live}")
            return any(m['status'] == 'completed' for m in live)
        self._wait(completed, f"live migration of {server['id']}")
        return self.wait_for_status(server)

    def delete_server(self, server):
        """Delete the server and wait until the API no longer shows it."""
        self.admin_api.delete_server(server['id'])

        def gone():
            try:
                self.admin_api.get_server(server['id'])
            except api_client.OpenStackApiNotFoundException:
                return True
            return False
        self._wait(gone, f"deletion of {server['id']}")
