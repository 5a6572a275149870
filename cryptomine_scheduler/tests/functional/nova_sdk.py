"""openstacksdk against the in-process nova and placement of
:mod:`.nova_base`.

Both run without keystone: placement's ``noauth2`` takes the token
``admin`` as an admin, and nova's API (its keystone middleware stubbed by
nova's fixture) reads the caller from ``X-Auth-User``,
``X-Auth-Project-Id`` and ``X-Roles``.  keystoneauth's ``admin_token``
plugin sends the token; the session adds the identity headers, and each
service's endpoint is overridden to its wsgi-intercept URL.

nova's base test case (``OpenStackSDKFixture``) replaces every
connection's placement proxy with a plain REST adapter, which nova's own
code needs in its tests; :class:`Connection` keeps openstacksdk's real
placement proxy, looked up as in production.
"""

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from openstack import connection
from openstack import service_description
from openstack.placement import placement_service

from cryptomine_scheduler.tests.functional import nova_base


class _PlacementService(placement_service.PlacementService):
    # Bound at import, before nova's fixture patches the base class.
    _make_proxy = service_description.ServiceDescription._make_proxy


class Connection(connection.Connection):
    """A Connection whose placement proxy nova's fixture leaves alone."""

    placement = _PlacementService(service_type='placement')


class SDKMixin:
    """:meth:`connect` for a test case built on nova's integrated test
    base (``api_fixture``, ``placement_fixture``)."""

    def connect(self) -> connection.Connection:
        """An admin Connection to this test's nova and placement."""
        api = self.api_fixture
        session = ks_session.Session(
            auth=token_endpoint.Token(api.base_url, 'admin'),
            additional_headers={
                'X-Auth-User': 'admin', 'X-User-Id': 'admin',
                'X-Auth-Project-Id': api.project_id,
                'X-Roles': 'reader,member,admin'})
        return Connection(
            session=session,
            compute_endpoint_override=api.base_url,
            placement_endpoint_override=self.placement_fixture.endpoint)


class NovaSDKTestCase(SDKMixin, nova_base.NovaSchedulingTestCase):
    """:class:`~.nova_base.NovaSchedulingTestCase` with :meth:`connect`."""
