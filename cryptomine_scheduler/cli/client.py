"""The cryptomine API as the commands reach it: HTTP through a
keystoneauth adapter (keystone's token, the service catalog's endpoint
of :data:`SERVICE_TYPE` or an override), with the errors of
:mod:`.errors`."""

import argparse
import dataclasses
from collections.abc import Callable
from urllib import parse

from keystoneauth1 import adapter as ksa_adapter
from keystoneauth1 import exceptions as ksa_exceptions
from openstack import config as os_config
from openstack import exceptions as os_exceptions

from cryptomine_scheduler.api import documents
from cryptomine_scheduler.cli import errors
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.telemetry import collector_counters
from cryptomine_scheduler.telemetry import sample as sample_mod

#: The API's type in keystone's service catalog.
SERVICE_TYPE = 'load-placement'
#: Seconds ``create_plan`` may take at least: the controller reads the
#: whole cloud from nova and placement before it plans.
PLANNING_TIMEOUT = 300.0


@dataclasses.dataclass(frozen=True)
class HostLoad:
    """A host's load (None: no sample within the summary window) and its
    collector's newest counters (None: it sent none)."""

    name: str
    view: snapshot.HostView | None
    reported: collector_counters.Reported | None
    #: guests placed there still warming up (None: not known)
    warming: tuple[snapshot.PendingView, ...] | None = None


@dataclasses.dataclass(frozen=True)
class Fleet:
    generated_at: float
    hosts: tuple[HostLoad, ...]
    #: compute hosts of placement with no sample (none from older APIs)
    never_sampled: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class HostDetail:
    generated_at: float
    load: HostLoad
    instances: dict[str, snapshot.InstanceView]


def _host_load(document: dict, now: float) -> HostLoad:
    return HostLoad(document['name'], documents.host_view(document, now),
                    documents.reported(document),
                    documents.warming_views(document, document['name']))


def _no_credentials(error: Exception) -> errors.CommandError:
    return errors.CommandError(
        f'no credentials: {error} (name a cloud of clouds.yaml with '
        '--os-cloud or $OS_CLOUD, or give the --os-* options)')


def _quote(name: str) -> str:
    return parse.quote(name, safe='')


def _message(response) -> str:
    """The API's error message, or the response's text."""
    try:
        return response.json()['error']['message']
    except (ValueError, KeyError, TypeError):
        return response.text.strip() or response.reason


class Api:
    """The API's resources; every failure is an :class:`errors.
    CommandError` with its exit code."""

    def __init__(self, adapter: ksa_adapter.Adapter):
        self._adapter = adapter

    def _endpoint(self) -> str:
        try:
            return self._adapter.get_endpoint() or 'no endpoint'
        except ksa_exceptions.ClientException:
            return f'the {SERVICE_TYPE} endpoint'

    def _request(self, method: str, path: str, *, json=None,
                 params=None, timeout: float | None = None,
                 conflict: Callable[[str], errors.CommandError] = (
                     lambda message: errors.NothingToDo(f'busy: {message}'))
                 ) -> dict:
        """The JSON body of the API's answer; ``conflict`` makes the
        error of a 409 from its message."""
        extra = {} if timeout is None else {'timeout': timeout}
        try:
            response = self._adapter.request(
                path, method, json=json, params=params, raise_exc=False,
                **extra)
        except (ksa_exceptions.ConnectTimeout,
                ksa_exceptions.ConnectFailure) as exc:
            raise errors.ControllerUnreachable(
                f'API unreachable at {self._endpoint()}: {exc}') from None
        except ksa_exceptions.EndpointNotFound:
            raise errors.CommandError(
                f'no {SERVICE_TYPE} endpoint in the service catalog (is '
                'cryptomine-api registered in keystone? or name it with '
                f'--os-{SERVICE_TYPE}-endpoint-override)') from None
        except ksa_exceptions.MissingRequiredOptions as exc:
            raise _no_credentials(exc) from None
        except ksa_exceptions.ClientException as exc:
            raise errors.CommandError(f'keystone: {exc}') from None
        code = response.status_code
        if code < 400:
            return response.json()
        message = _message(response)
        if code == 404:
            raise errors.NotFound(message)
        if code == 409:
            raise conflict(message)
        if code == 504:
            raise errors.ControllerUnreachable(
                f'controller unreachable: {message}')
        if code == 503:
            raise errors.CommandError(f'unavailable: {message}')
        if code == 401:
            raise errors.CommandError(f'not authenticated: {message}')
        if code == 403:
            raise errors.CommandError(f'forbidden: {message}')
        raise errors.CommandError(f'{code} {response.reason}: {message}')

    def fleet(self) -> Fleet:
        found = self._request('GET', '/v1/hosts')
        now = found['generated_at']
        return Fleet(now, tuple(_host_load(h, now) for h in found['hosts']),
                     tuple(found.get('never_sampled', ())))

    def host(self, name: str) -> HostDetail:
        found = self._request('GET', f'/v1/hosts/{_quote(name)}')
        now = found['generated_at']
        return HostDetail(now, _host_load(found['host'], now), {
            i['uuid']: documents.instance_view(i, now)
            for i in found['host']['instances']})

    def _since(self, path: str, key: str, since: float, **params):
        """What the API answers under ``key`` to a GET of ``path`` for
        the period from ``since`` (the other ``params`` unless None)."""
        params = {k: v for k, v in params.items() if v is not None}
        return self._request('GET', path, params={
            **params, 'since': repr(since)})[key]

    def host_history(self, host: str, since: float,
                     metric: sample_mod.HostMetric) -> dict:
        return self._since(f'/v1/hosts/{_quote(host)}/history', 'history',
                           since, metric=metric.value)

    def device_history(self, host: str, kind: sample_mod.DeviceKind,
                       since: float, metric: str | None = None) -> dict:
        """``metric`` (the API's default for ``kind`` without one) of
        each device of ``kind`` on ``host``, by device."""
        return self._since(f'/v1/hosts/{_quote(host)}/devices/history',
                           'device_history', since, kind=kind.value,
                           metric=metric)

    def instance_history(self, instance: str, since: float,
                         metric: sample_mod.InstanceMetric) -> dict:
        """``metric`` of ``instance`` with the host of each point."""
        return self._since(f'/v1/instances/{_quote(instance)}/history',
                           'instance_history', since, metric=metric.value)

    def instance_device_history(self, instance: str,
                                kind: sample_mod.DeviceKind, since: float,
                                metric: str) -> dict:
        """``metric`` of each device of ``kind`` that ``instance`` held,
        by ``host/device``."""
        return self._since(
            f'/v1/instances/{_quote(instance)}/devices/history',
            'device_history', since, kind=kind.value, metric=metric)

    def instance_migrations(self, instance: str, since: float
                            ) -> list[dict]:
        """The migrations the plans started of ``instance``."""
        return self._since(f'/v1/instances/{_quote(instance)}/migrations',
                           'migrations', since)

    def burst_status(self, since: float) -> dict:
        return self._since('/v1/burst', 'burst', since)

    def create_plan(self, *, dry_run: bool, execute: bool,
                    max_moves: int | None = None,
                    aggregate: str | None = None, drain: str | None = None,
                    cold: bool = False, keep_enabled: bool = False) -> dict:
        """Plan now; with ``execute`` the moves run in the background
        (poll :meth:`get_plan`).  With ``drain``, the plan empties that
        host (``cold``: its guests that cannot live-migrate too); carried
        out, it disables the host's nova-compute service first unless
        ``keep_enabled``."""
        scope = {'max_moves': max_moves, 'aggregate': aggregate}
        if drain is not None:
            scope.update(drain=drain, cold=cold)
        if keep_enabled:
            scope['keep_enabled'] = True
        timeout = max(self._adapter.session.timeout or 0, PLANNING_TIMEOUT)
        if execute:
            found = self._request('POST', '/v1/rebalance', json=scope,
                                  timeout=timeout)
        else:
            found = self._request('POST', '/v1/plans',
                                  json={'dry_run': dry_run, **scope},
                                  timeout=timeout)
        return found['plan']

    def list_plans(self, limit: int) -> list[dict]:
        return self._request('GET', '/v1/plans',
                             params={'limit': limit})['plans']

    def get_plan(self, plan_id: str) -> dict:
        return self._request('GET',
                             f'/v1/plans/{_quote(plan_id)}')['plan']

    def abort_plan(self, plan_id: str) -> dict:
        return self._request(
            'POST', f'/v1/plans/{_quote(plan_id)}/abort',
            conflict=lambda message: errors.CommandError(
                f'cannot abort: {message}'))['plan']


def connect(loader: os_config.OpenStackConfig,
            options: argparse.Namespace) -> Api:
    """The API of the cloud that ``options`` (the ``--os-*`` options,
    which fall back to ``$OS_*`` and clouds.yaml) describe."""
    try:
        cloud = loader.get_one(argparse=options)
        return Api(ksa_adapter.Adapter(
            session=cloud.get_session(), service_type=SERVICE_TYPE,
            interface=cloud.get_interface(SERVICE_TYPE),
            region_name=cloud.get_region_name(SERVICE_TYPE),
            endpoint_override=cloud.get_endpoint(SERVICE_TYPE)))
    except ksa_exceptions.MissingRequiredOptions as exc:
        raise _no_credentials(exc) from None
    except (ksa_exceptions.ClientException,
            os_exceptions.ConfigException) as exc:
        raise errors.CommandError(f'cannot connect: {exc}') from None
