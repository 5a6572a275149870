"""A stand-in for keystone's identity API, at the edge of the tests: it
issues a project-scoped token with a service catalog for one user's
password, so that clients find cryptomine-api as they would in a cloud
(clouds.yaml, password authentication, the catalog's endpoint)."""

import json
import threading
import uuid

import fixtures
import webob
import webob.dec
from keystoneauth1 import fixture as ksa_fixture

from cryptomine_scheduler.api import service
from cryptomine_scheduler.cli import app as cli_app
from cryptomine_scheduler.tests import api_server

USER, PASSWORD, PROJECT = 'operator', 'operator-pw', 'ops'


class Identity(fixtures.Fixture):
    """Serves ``/v3``; its token is valid at ``api`` (an
    :class:`~.api_server.ApiServer`) with ``roles``, and its catalog
    has ``api``'s URL as the ``load-placement`` endpoint, unless not
    ``registered``."""

    def __init__(self, api: api_server.ApiServer, roles: list[str],
                 registered: bool = True):
        super().__init__()
        self._api = api
        self._roles = roles
        self._registered = registered

    def _setUp(self):
        server = service.make_server('127.0.0.1', 0, self._app)
        threading.Thread(target=server.serve_forever, name='identity',
                         daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.auth_url = f'http://127.0.0.1:{server.server_address[1]}/v3'

    def cloud(self) -> dict:
        """A cloud of clouds.yaml for this identity's user."""
        return {'auth': {'auth_url': self.auth_url, 'username': USER,
                         'password': PASSWORD, 'project_name': PROJECT,
                         'user_domain_name': 'Default',
                         'project_domain_name': 'Default'},
                'region_name': 'RegionOne', 'interface': 'public'}

    def options(self) -> list[str]:
        """The ``--os-*`` options of this identity's user."""
        return [f'--os-{name.replace("_", "-")}={value}'
                for name, value in self.cloud()['auth'].items()]

    def _token(self) -> tuple[str, dict]:
        token = ksa_fixture.V3Token(
            user_id=uuid.uuid4().hex, user_name=USER,
            project_id=api_server.PROJECT, project_name=PROJECT)
        for role in self._roles:
            token.add_role(name=role)
        if self._registered:
            token.add_service(cli_app.SERVICE_TYPE).add_standard_endpoints(
                public=self._api.url, internal=self._api.url,
                region='RegionOne')
        return self._api.tokens.add_token(token), token

    @webob.dec.wsgify
    def _app(self, request: webob.Request) -> webob.Response:
        if request.path_info.rstrip('/') == '/v3':
            return webob.Response(json_body={
                'version': ksa_fixture.V3Discovery(self.auth_url)})
        if (request.method, request.path_info) != ('POST',
                                                   '/v3/auth/tokens'):
            return webob.Response(status=404)
        user = json.loads(request.body)['auth']['identity']['password'][
            'user']
        if (user.get('name'), user.get('password')) != (USER, PASSWORD):
            return webob.Response(status=401, json_body={'error': {
                'code': 401, 'message': 'The request you have made '
                'requires authentication.'}})
        token_id, token = self._token()
        return webob.Response(status=201, json_body=token,
                              headers={'X-Subject-Token': token_id})
