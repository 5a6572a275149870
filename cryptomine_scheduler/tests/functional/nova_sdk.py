"""openstacksdk against the in-process nova and placement of
:mod:`.nova_base` (:mod:`cryptomine_scheduler.experiment.nova_in_process`
holds the connection, shared with the emulated testbed).

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

from cryptomine_scheduler.experiment import nova_in_process
from cryptomine_scheduler.tests.functional import nova_base

Connection = nova_in_process.Connection
SDKMixin = nova_in_process.SDKMixin


class NovaSDKTestCase(SDKMixin, nova_base.NovaSchedulingTestCase):
    """:class:`~.nova_base.NovaSchedulingTestCase` with :meth:`connect`."""
