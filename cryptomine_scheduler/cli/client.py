"""The controller as the commands reach it: the RPC client, with a
deadline on every call and the errors of :mod:`.errors`."""

import queue
import re
import socket
import threading
import time

import oslo_messaging
from oslo_config import cfg

from cryptomine_scheduler import collector_counters
from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler import exception
from cryptomine_scheduler import rpcapi
from cryptomine_scheduler.cli import errors

#: Seconds ``create_plan`` may take at least: the controller reads the
#: whole cloud from nova and placement before it plans.
PLANNING_TIMEOUT = 300.0
#: Where oslo.config looks for cryptomine.conf (or cryptomine.conf.d)
#: when no file is named.
CONFIG_PLACES = ('~/.cryptomine/', '~/', '/etc/cryptomine/', '/etc/')
#: The port of a rabbit:// host without one, as oslo.messaging has it.
AMQP_PORT = 5672
_CREDENTIALS = re.compile(r'(?<=[/,])([^:@/,]*):[^@/,]*@')


def mask_url(url: str) -> str:
    """``url`` with every password replaced by ``***``."""
    return _CREDENTIALS.sub(r'\1:***@', url)


def first_line(error: Exception) -> str:
    """A remote exception's message without the remote traceback."""
    return str(error).strip().splitlines()[0]


def load_conf(config_files: list[str], hint: str) -> cfg.ConfigOpts:
    """cryptomine.conf from ``config_files``, else from oslo.config's
    default places; ``hint`` says how to name one when none is there."""
    conf = cfg.ConfigOpts()
    cm_conf.register_shared_opts(conf)
    args = [arg for path in config_files for arg in ('--config-file', path)]
    conf(args, project='cryptomine', prog='cryptomine')
    if not (conf.config_file or conf.config_dir):
        raise errors.CommandError(
            f'no configuration file: no cryptomine.conf in '
            f'{", ".join(CONFIG_PLACES[:-1])} or {CONFIG_PLACES[-1]} '
            f'(name one with {hint})')
    return conf


def broker_addresses(url: oslo_messaging.TransportURL
                     ) -> list[tuple[str, int]]:
    """The (host, port) pairs of a rabbit:// URL, localhost's where it
    names none (as oslo.messaging); none for other transports (the
    tests' fake://)."""
    if url.transport != 'rabbit':
        return []
    return [(host.hostname, host.port or AMQP_PORT)
            for host in url.hosts] or [('localhost', AMQP_PORT)]


def connect(config_files: list[str], timeout: float,
            hint: str) -> 'Controller':
    return Controller(load_conf(config_files, hint), timeout)


class Controller:
    """The controller's RPC API with a deadline on every call and the
    errors a command reports."""

    def __init__(self, conf: cfg.ConfigOpts, timeout: float):
        self._timeout = timeout
        self._topic = conf.messaging.controller_topic
        self._url = mask_url(conf.transport_url or 'rabbit://')
        self._broker = broker_addresses(
            oslo_messaging.TransportURL.parse(conf, conf.transport_url))
        self._transport = oslo_messaging.get_rpc_transport(
            conf, allowed_remote_exmods=rpcapi.REMOTE_EXCEPTION_MODULES)
        self._client = rpcapi.ControllerClient(self._transport, self._topic,
                                               timeout)
        self._broker_reached = not self._broker
        self._stuck = False

    def close(self) -> None:
        # A call still retrying to connect would block the clean-up.
        if not self._stuck:
            self._transport.cleanup()

    def _unreachable(self, why: str) -> errors.ControllerUnreachable:
        return errors.ControllerUnreachable(
            f'controller unreachable at {self._url} (topic {self._topic}): '
            f'{why}')

    def _reach_broker(self, deadline: float) -> None:
        """Open and close a TCP connection to one of the broker's hosts
        by ``deadline`` (``time.monotonic``), or raise: oslo.messaging
        would retry to connect for ever."""
        error = None
        for address in self._broker:
            try:
                with socket.create_connection(
                        address, timeout=max(deadline - time.monotonic(),
                                             0.001)):
                    self._broker_reached = True
                    return
            except OSError as exc:
                error = exc
        raise self._unreachable(f'cannot connect to the message broker: '
                                f'{error.strerror or error}')

    def _no_reply(self, wait: float) -> errors.ControllerUnreachable:
        return self._unreachable(f'no reply within {wait:g} s (is '
                                 f'cryptomine-controller running?)')

    def _call(self, method, *args, wait: float | None = None, **kwargs):
        """``method(...)`` in a thread of its own, given up on after
        ``wait`` seconds (default: the RPC timeout), connecting included:
        a broker that takes the TCP connection but not the AMQP one (bad
        credentials) keeps oslo.messaging retrying."""
        wait = wait or self._timeout
        deadline = time.monotonic() + wait
        if not self._broker_reached:
            self._reach_broker(deadline)
        outcome = queue.SimpleQueue()

        def call():
            try:
                outcome.put((True, method(*args, **kwargs)))
            except Exception as exc:
                outcome.put((False, exc))

        threading.Thread(target=call, name='cryptomine-rpc',
                         daemon=True).start()
        try:
            ok, value = outcome.get(
                timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            self._stuck = True
            raise self._no_reply(wait) from None
        if ok:
            return value
        if isinstance(value, oslo_messaging.MessagingTimeout):
            raise self._no_reply(wait) from None
        raise value

    def snapshot(self):
        return self._call(self._client.get_load_snapshot)

    def host_history(self, host: str, since: float, metric) -> dict:
        try:
            return self._call(self._client.get_host_history, host, since,
                              metric)
        except exception.UnknownHost:
            raise errors.NotFound(f'unknown host {host!r}: the controller '
                                  f'has no samples from it') from None

    def collector_counters(self, host: str | None = None
                           ) -> dict[str, collector_counters.Reported]:
        """What :meth:`~rpcapi.ControllerClient.get_collector_counters`
        says; nothing from a controller older than 1.3, which keeps no
        counters (controllers may be upgraded after their clients)."""
        try:
            return self._call(self._client.get_collector_counters, host)
        except oslo_messaging.UnsupportedVersion:
            return {}

    def create_plan(self, *, dry_run: bool, execute: bool,
                    max_moves: int | None, aggregate: str | None) -> dict:
        # A quick call first, so that an unreachable controller is told
        # within the usual timeout, not the planning one.
        self.list_plans(1)
        timeout = max(self._timeout, PLANNING_TIMEOUT)
        try:
            return self._call(self._client.create_plan, dry_run=dry_run,
                              execute=execute, max_moves=max_moves,
                              aggregate=aggregate, timeout=timeout,
                              wait=timeout)
        except exception.ReplanBusy as exc:
            raise errors.NothingToDo(f'busy: {first_line(exc)}') from None
        except (exception.ReplanUnavailable,
                exception.NovaUnavailable) as exc:
            raise errors.CommandError(
                f'cannot plan: {first_line(exc)}') from None
        except exception.UnknownAggregate as exc:
            raise errors.NotFound(first_line(exc)) from None

    def list_plans(self, limit: int) -> list[dict]:
        return self._call(self._client.list_plans, limit)

    def _plan_call(self, method, plan_id: str) -> dict:
        try:
            return self._call(method, plan_id)
        except exception.PlanNotFound:
            raise errors.NotFound(f'plan {plan_id!r} not found') from None

    def get_plan(self, plan_id: str) -> dict:
        return self._plan_call(self._client.get_plan, plan_id)

    def abort_plan(self, plan_id: str) -> dict:
        try:
            return self._plan_call(self._client.abort_plan, plan_id)
        except exception.NotRunningHere as exc:
            raise errors.CommandError(
                f'cannot abort: {first_line(exc)}') from None
