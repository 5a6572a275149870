"""nova in this process, from the functional-test fixtures nova ships.

nova's API (through wsgi-intercept), conductor, scheduler, placement
and nova-computes with the fake virt driver, all in one process (SQLite
in memory, fake RPC, fake Neutron and Glance): what the emulated
testbed and the functional tests run.  Importing this module selects
nova's native threads (:mod:`.nova_threads`) and imports nova's tests:
import it only where nova in-process is wanted.

openstacksdk reaches it without keystone: placement's ``noauth2``
takes the token ``admin`` as an admin, and nova's API (its keystone
middleware stubbed by nova's fixture) reads the caller from the
``X-Auth-*`` and ``X-Roles`` headers.  nova's base test case replaces
every connection's placement proxy with a plain REST adapter, which
nova's own code needs; :class:`Connection` keeps openstacksdk's real
one, as in production.
"""

# First: nova's native threads, then nova's tests.
from cryptomine_scheduler.experiment import nova_threads  # noqa: F401,I001

import logging
import os
import sys
import threading
from unittest import mock

import fixtures
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from nova.virt import fake as fake_virt
from openstack import connection
from openstack import service_description
from openstack.placement import placement_service

from cryptomine_scheduler.experiment import nova_defaults


def api_paste_config() -> str:
    """nova's api-paste.ini as pip installs it into the environment."""
    for prefix in (sys.prefix, sys.exec_prefix):
        path = os.path.join(prefix, 'etc', 'nova', 'api-paste.ini')
        if os.path.exists(path):
            return path
    raise RuntimeError(f'nova api-paste.ini not found under {sys.prefix}')


class InProcessNova:
    """What every in-process nova needs, before a base of nova's
    (``_IntegratedTestBase`` or one built on it) in the bases."""

    def setUp(self):
        # Before super().setUp(): cleaned up after all of nova's fixtures.
        self.useFixture(nova_defaults.LibraryDefaultsFixture())
        # nova's per-test thread pools log their shutdown (INFO) from
        # cleanups that run after nova's log capture is gone, i.e. to
        # stdout; keep those records in a fixture's detail instead.
        pools = logging.getLogger('nova.thread_pool_factory')
        self.useFixture(fixtures.MockPatchObject(pools, 'propagate', False))
        self.useFixture(fixtures.FakeLogger(
            name='nova.thread_pool_factory', level=logging.INFO))
        super().setUp()

    def _setup_services(self):
        self.flags(api_paste_config=api_paste_config(), group='wsgi')
        # Experiments and scheduling tests fill hosts; nova's default
        # quotas (10 instances, 20 cores, 50 GiB) would refuse first.
        self.flags(instances=-1, cores=-1, ram=-1, group='quota')
        super()._setup_services()

    def start_fake_compute(self, host: str, driver: str = 'fake.FakeDriver',
                           **resources):
        """Start a nova-compute on ``host`` whose fake ``driver`` (of
        ``nova.virt``) offers ``resources`` (vcpus, memory_mb,
        local_gb)."""
        driver_cls = getattr(fake_virt, driver.split('.')[-1])
        # The fake driver reads its inventory from class attributes, in
        # __init__ and on every update_provider_tree().
        with mock.patch.multiple(driver_cls, **resources):
            compute = self._start_compute(host)
        for name, value in resources.items():
            setattr(compute.manager.driver, name, value)
        return compute


class _PlacementService(placement_service.PlacementService):
    # Bound at import, before nova's fixture patches the base class.
    _make_proxy = service_description.ServiceDescription._make_proxy


class Connection(connection.Connection):
    """A Connection whose placement proxy nova's fixture leaves alone."""

    placement = _PlacementService(service_type='placement')


class _OneAtATime(ks_session.Session):
    """A session whose requests wait for each other: nova's cell
    database fixture livelocks under API requests from several threads
    at once (the runner's, the re-planner's, the trace collector's)."""

    def __init__(self, lock: threading.RLock, **kwargs):
        super().__init__(**kwargs)
        self._lock = lock

    def request(self, *args, **kwargs):
        with self._lock:
            return super().request(*args, **kwargs)


class SDKMixin:
    """:meth:`connect` for a case built on nova's integrated test base
    (``api_fixture``, ``placement_fixture``)."""

    def connect(self) -> connection.Connection:
        """An admin Connection to this nova and placement; the
        requests of all of this case's connections one at a time."""
        api = self.api_fixture
        if getattr(self, '_api_lock', None) is None:
            self._api_lock = threading.RLock()
        session = _OneAtATime(
            self._api_lock,
            auth=token_endpoint.Token(api.base_url, 'admin'),
            additional_headers={
                'X-Auth-User': 'admin', 'X-User-Id': 'admin',
                'X-Auth-Project-Id': api.project_id,
                'X-Roles': 'reader,member,admin'})
        return Connection(
            session=session,
            compute_endpoint_override=api.base_url,
            placement_endpoint_override=self.placement_fixture.endpoint)
