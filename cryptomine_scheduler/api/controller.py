"""The controller as the API reaches it over the message bus: the RPC
client, with the controller's errors as the API's."""

import contextlib
import time
from collections.abc import Callable
from typing import TypeVar

import oslo_messaging

from cryptomine_scheduler import exception
from cryptomine_scheduler import rpcapi
from cryptomine_scheduler.api import errors
from cryptomine_scheduler.telemetry import sample as sample_mod

T = TypeVar('T')


def first_line(error: Exception) -> str:
    """A remote exception's message without the remote traceback."""
    return str(error).strip().splitlines()[0]


@contextlib.contextmanager
def _answers(timeout: float):
    """The controller's errors as the API's."""
    try:
        yield
    except oslo_messaging.MessagingTimeout:
        raise errors.GatewayTimeout(
            f'no controller replied within {timeout:g} s') from None
    except (exception.UnknownAggregate, exception.UnknownHost) as error:
        raise errors.NotFound(first_line(error)) from None
    except (exception.UnknownMetric, exception.BadArgument) as error:
        raise errors.BadRequest(first_line(error)) from None
    except (exception.ReplanBusy, exception.NotRunningHere) as error:
        raise errors.Conflict(first_line(error)) from None
    except (exception.ReplanUnavailable,
            exception.NovaUnavailable) as error:
        raise errors.Unavailable(first_line(error)) from None
    except oslo_messaging.UnsupportedVersion as error:
        raise errors.Unavailable(
            f'the controller is older than this call, upgrade it: '
            f'{first_line(error)}') from None


class Controller:
    """The calls the API makes, each bounded by a timeout."""

    def __init__(self, client: rpcapi.ControllerClient, timeout: float,
                 planning_timeout: float):
        self._client = client
        self._timeout = timeout
        self._planning_timeout = planning_timeout

    def snapshot(self):
        with _answers(self._timeout):
            return self._client.get_load_snapshot()

    def _newer(self, call: Callable[[], T], older: T) -> T:
        """What ``call`` answers, ``older`` from a controller too old to
        answer it (controllers may be upgraded after the API)."""
        with _answers(self._timeout):
            try:
                return call()
            except oslo_messaging.UnsupportedVersion:
                return older

    def collector_counters(self, host: str | None = None):
        """What :meth:`~rpcapi.ControllerClient.get_collector_counters`
        says; nothing from a controller older than 1.3, which keeps no
        counters."""
        return self._newer(
            lambda: self._client.get_collector_counters(host), {})

    def never_sampled(self) -> list[str]:
        """What :meth:`~rpcapi.ControllerClient.get_never_sampled` says;
        none from a controller older than 1.5."""
        return self._newer(self._client.get_never_sampled, [])

    def _found(self, call: Callable[[], T], unknown: type[Exception],
               message: str) -> T:
        """What ``call`` answers; NotFound with ``message`` when the
        controller raises ``unknown`` (it stored no sample of what was
        asked about)."""
        with _answers(self._timeout):
            try:
                return call()
            except unknown:
                raise errors.NotFound(message) from None

    def _of_host(self, host: str, call: Callable[[], T]) -> T:
        return self._found(call, exception.UnknownHost,
                           f'unknown host {host!r}: the controller has no '
                           f'samples from it')

    def host_history(self, host: str, since: float,
                     metric: sample_mod.HostMetric) -> dict:
        return self._of_host(host, lambda: self._client.get_host_history(
            host, since, metric))

    def device_history(self, host: str, kind: sample_mod.DeviceKind,
                       since: float, metric: str) -> dict:
        return self._of_host(host, lambda: self._client.get_device_history(
            host, kind, since, metric))

    def _of_instance(self, instance: str, call: Callable[[], T]) -> T:
        return self._found(call, exception.UnknownInstance,
                           f'unknown instance {instance!r}: the controller '
                           f'has no samples of it')

    def instance_history(self, instance: str, since: float,
                         metric: sample_mod.InstanceMetric) -> dict:
        return self._of_instance(
            instance, lambda: self._client.get_instance_history(
                instance, since, metric))

    def instance_device_history(self, instance: str,
                                kind: sample_mod.DeviceKind, since: float,
                                metric: str) -> dict:
        return self._of_instance(
            instance, lambda: self._client.get_instance_device_history(
                instance, kind, since, metric))

    def instance_migrations(self, instance: str, since: float
                            ) -> list[dict]:
        with _answers(self._timeout):
            return self._client.get_instance_migrations(instance, since)

    def known_host(self, host: str) -> None:
        """Raise NotFound unless the controller stored samples of
        ``host`` (an empty history of now tells, cheaply)."""
        self.host_history(host, time.time(), sample_mod.HostMetric.LOAD_1)

    def create_plan(self, dry_run: bool, execute: bool, **scope) -> dict:
        """``scope``: :meth:`~rpcapi.ControllerClient.create_plan`'s
        ``max_moves``, ``aggregate``, ``drain``, ``cold`` and
        ``disable``."""
        with _answers(self._planning_timeout):
            return self._client.create_plan(
                dry_run=dry_run, execute=execute,
                timeout=self._planning_timeout, **scope)

    def list_plans(self, limit: int) -> list[dict]:
        with _answers(self._timeout):
            return self._client.list_plans(limit)

    def _plan_call(self, method, plan_id: str) -> dict:
        with _answers(self._timeout):
            try:
                return method(plan_id)
            except exception.PlanNotFound:
                raise errors.NotFound(
                    f'plan {plan_id!r} not found') from None

    def get_plan(self, plan_id: str) -> dict:
        return self._plan_call(self._client.get_plan, plan_id)

    def abort_plan(self, plan_id: str) -> dict:
        return self._plan_call(self._client.abort_plan, plan_id)

    def burst_status(self, since: float) -> dict:
        with _answers(self._timeout):
            return self._client.get_burst_status(since)
