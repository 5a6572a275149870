"""``cryptomine-api`` in the test's process, on a port of its own,
behind keystonemiddleware's auth_token with its test fixture: tokens the
test adds are valid, any other is refused."""

import threading
import uuid

import fixtures
import oslo_messaging
import requests
from keystonemiddleware import auth_token
from keystonemiddleware import fixture as auth_fixture
from oslo_config import cfg

from cryptomine_scheduler.api import service

#: The roles of keystone's default personas, implied roles included.
READER = ['reader']
ADMIN = ['admin', 'member', 'reader']
PROJECT = 'a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5'
#: Where a caller without a valid token is told to get one.
IDENTITY = 'http://keystone.invalid/identity'


class ApiServer(fixtures.Fixture):
    """Serves the API over ``transport``; ``url`` is its endpoint.

    ``tokens``: another server's, for a second server in one test (the
    fixture patches keystonemiddleware's class, so the last one's tokens
    hold for all).
    """

    def __init__(self, conf: cfg.ConfigOpts,
                 transport: oslo_messaging.Transport,
                 tokens: auth_fixture.AuthTokenFixture | None = None):
        super().__init__()
        self._conf = conf
        self._transport = transport
        self.tokens = tokens

    def _setUp(self):
        if self.tokens is None:
            self.tokens = self.useFixture(auth_fixture.AuthTokenFixture())
        for group, opts in auth_token.list_opts():
            self._conf.register_opts(opts, group=group)
        self._conf.set_override('www_authenticate_uri', IDENTITY,
                                'keystone_authtoken')
        application = service.Application(self._conf, self._transport)
        self.addCleanup(application.close)
        server = service.make_server('127.0.0.1', 0, application.wsgi)
        thread = threading.Thread(target=server.serve_forever,
                                  name='cryptomine-api', daemon=True)
        thread.start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.url = f'http://127.0.0.1:{server.server_address[1]}'

    def token(self, roles: list[str], project_id: str | None = PROJECT
              ) -> str:
        """A valid token of a user with ``roles`` on ``project_id``."""
        token = uuid.uuid4().hex
        self.tokens.add_token_data(
            token_id=token, user_id=uuid.uuid4().hex, user_name='operator',
            project_id=project_id, project_name='ops',
            role_list=roles)
        return token

    def session(self, token: str | None) -> requests.Session:
        """A plain HTTP session sending ``token``."""
        session = requests.Session()
        if token is not None:
            session.headers['X-Auth-Token'] = token
        self.addCleanup(session.close)
        return session
