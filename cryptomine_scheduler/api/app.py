"""The API as a WSGI application: oslo.middleware's request id and
healthcheck (at ``/healthcheck``), the version documents,
keystonemiddleware's auth_token (or nothing, with ``[api] auth_strategy
= noauth``) and the routes."""

import json
import re
from collections.abc import Callable

import webob
import webob.dec
from keystonemiddleware import auth_token
from oslo_config import cfg
from oslo_context import context as context_mod
from oslo_log import log as logging
from oslo_middleware import healthcheck
from oslo_middleware import request_id
from oslo_policy import policy

from cryptomine_scheduler.api import burst
from cryptomine_scheduler.api import controller as controller_mod
from cryptomine_scheduler.api import errors
from cryptomine_scheduler.api import hosts
from cryptomine_scheduler.api import instances
from cryptomine_scheduler.api import plans
from cryptomine_scheduler.api import policies
from cryptomine_scheduler.api import request as request_mod
from cryptomine_scheduler.api import versions

LOG = logging.getLogger(__name__)
#: Who a request is without authentication (``noauth``): an
#: administrator, with the roles keystone implies from ``admin``.
NOAUTH = {'user_id': 'noauth', 'project_id': 'noauth',
          'roles': ['admin', 'member', 'reader']}
ROUTES = [
    ('GET', '/v1/hosts', hosts.list_hosts),
    ('GET', '/v1/hosts/{host}', hosts.show_host),
    ('GET', '/v1/hosts/{host}/history', hosts.host_history),
    ('GET', '/v1/hosts/{host}/devices/history', hosts.device_history),
    ('GET', '/v1/instances/{instance}/history', instances.instance_history),
    ('GET', '/v1/instances/{instance}/devices/history',
     instances.instance_device_history),
    ('GET', '/v1/instances/{instance}/migrations',
     instances.instance_migrations),
    ('GET', '/v1/plans', plans.list_plans),
    ('POST', '/v1/plans', plans.create_plan),
    ('GET', '/v1/plans/{plan_id}', plans.show_plan),
    ('POST', '/v1/plans/{plan_id}/abort', plans.abort_plan),
    ('POST', '/v1/rebalance', plans.rebalance),
    ('GET', '/v1/burst', burst.show_burst),
]
HEALTHCHECK = '/healthcheck'
UNAUTHENTICATED = {'/': versions.root, '/v1': versions.current,
                   '/v1/': versions.current}


def _pattern(path: str) -> re.Pattern:
    return re.compile(re.sub(r'\{(\w+)\}', r'(?P<\1>[^/]+)', path) + '$')


def json_response(code: int, body: dict) -> webob.Response:
    return webob.Response(status=code, content_type='application/json',
                          charset='utf-8',
                          body=json.dumps(body, allow_nan=False).encode())


class Router:
    """Calls the handler of a request's method and path with an
    :class:`~.request.ApiRequest`; a handler returns a body, or a status
    and a body."""

    def __init__(self, controller: controller_mod.Controller,
                 enforcer: policy.Enforcer, noauth: bool):
        self._routes = [(method, _pattern(path), handler)
                        for method, path, handler in ROUTES]
        self._controller = controller
        self._enforcer = enforcer
        self._noauth = noauth

    def _match(self, request: webob.Request) -> tuple[Callable, dict]:
        allowed = []
        for method, pattern, handler in self._routes:
            found = pattern.match(request.path_info)
            if found and method == request.method:
                return handler, found.groupdict()
            if found:
                allowed.append(method)
        if allowed:
            raise errors.MethodNotAllowed(
                f'{request.method} is not allowed on {request.path_info} '
                f'(only {", ".join(allowed)})')
        raise errors.NotFound(f'no resource {request.path_info}')

    @webob.dec.wsgify
    def __call__(self, request: webob.Request) -> webob.Response:
        context = context_mod.RequestContext.from_environ(
            request.environ, **(NOAUTH if self._noauth else {}))
        try:
            handler, args = self._match(request)
            result = handler(request_mod.ApiRequest(
                request, context, self._enforcer, self._controller), **args)
        except errors.ApiError as error:
            LOG.info('%s %s: %d %s', request.method, request.path_info,
                     error.code, error)
            return errors.response(error.code, str(error))
        except Exception:
            LOG.exception('%s %s failed', request.method, request.path_info)
            return errors.response(500, 'the API failed; its log has why')
        code, body = result if isinstance(result, tuple) else (200, result)
        # The context's user and project are on the line (oslo.log).
        LOG.info('%s %s: %d', request.method, request.path_info, code)
        return json_response(code, body)


class Root:
    """The version documents and the healthcheck without a token, the
    rest behind ``api``."""

    def __init__(self, api, health):
        self._api = api
        self._health = health

    @webob.dec.wsgify
    def __call__(self, request: webob.Request):
        if request.path_info == HEALTHCHECK:
            return self._health
        document = UNAUTHENTICATED.get(request.path_info)
        if document is None:
            return self._api
        if request.method not in ('GET', 'HEAD'):
            return errors.response(405, f'{request.method} is not allowed '
                                        f'on {request.path_info}')
        return json_response(200, document(request))


def enforcer(conf: cfg.ConfigOpts) -> policy.Enforcer:
    """The policy of ``[oslo_policy]`` over the defaults of
    :mod:`.policies`."""
    found = policy.Enforcer(conf)
    found.register_defaults(policies.list_rules())
    return found


def build(conf: cfg.ConfigOpts,
          controller: controller_mod.Controller) -> Callable:
    """The WSGI application."""
    noauth = conf.api.auth_strategy == 'noauth'
    if noauth:
        LOG.warning('[api] auth_strategy is noauth: every request is '
                    "an administrator's")
    api = Router(controller, enforcer(conf), noauth)
    if not noauth:
        api = auth_token.AuthProtocol(api, {'oslo_config_config': conf})
    return request_id.RequestId(Root(api, healthcheck.Healthcheck(None,
                                                                  conf)))
