"""The controller as the commands reach it: the RPC client, with a
deadline on every call and the errors of :mod:`.errors`."""

import queue
import re
import threading

import oslo_messaging
from oslo_config import cfg

from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler import exception
from cryptomine_scheduler import rpcapi
from cryptomine_scheduler.cli import errors

# oslo.messaging retries a refused connection forever (whatever the
# client's ``retry``): a call still running this long after its RPC
# timeout means the broker cannot be reached.
CONNECT_GRACE = 5.0
#: Seconds ``create_plan`` may take at least: the controller reads the
#: whole cloud from nova and placement before it plans.
PLANNING_TIMEOUT = 300.0
#: Where oslo.config looks for cryptomine.conf (or cryptomine.conf.d)
#: when no file is named.
CONFIG_PLACES = ('~/.cryptomine/', '~/', '/etc/cryptomine/', '/etc/')
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
    cm_conf.register_opts(conf)
    args = [arg for path in config_files for arg in ('--config-file', path)]
    conf(args, project='cryptomine', prog='cryptomine')
    if not (conf.config_file or conf.config_dir):
        raise errors.CommandError(
            f'no configuration file: no cryptomine.conf in '
            f'{", ".join(CONFIG_PLACES[:-1])} or {CONFIG_PLACES[-1]} '
            f'(name one with {hint})')
    return conf


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
        self._transport = oslo_messaging.get_rpc_transport(
            conf, allowed_remote_exmods=rpcapi.REMOTE_EXCEPTION_MODULES)
        self._client = rpcapi.ControllerClient(self._transport, self._topic,
                                               timeout)
        self._stuck = False

    def close(self) -> None:
        # A call still retrying to connect would block the clean-up.
        if not self._stuck:
            self._transport.cleanup()

    def _unreachable(self, why: str) -> errors.ControllerUnreachable:
        return errors.ControllerUnreachable(
            f'controller unreachable at {self._url} (topic {self._topic}): '
            f'{why}')

    def _call(self, method, *args, deadline: float | None = None,
              **kwargs):
        """``method(...)`` in a thread of its own, given up on after
        ``deadline`` (default: the RPC timeout) plus :data:`CONNECT_GRACE`.
        """
        deadline = deadline or self._timeout
        outcome = queue.SimpleQueue()

        def call():
            try:
                outcome.put((True, method(*args, **kwargs)))
            except Exception as exc:
                outcome.put((False, exc))

        threading.Thread(target=call, name='cryptomine-rpc',
                         daemon=True).start()
        try:
            ok, value = outcome.get(timeout=deadline + CONNECT_GRACE)
        except queue.Empty:
            self._stuck = True
            raise self._unreachable('cannot connect to the message '
                                    'broker') from None
        if ok:
            return value
        if isinstance(value, oslo_messaging.MessagingTimeout):
            raise self._unreachable(
                f'no reply within {deadline:g} s (is '
                f'cryptomine-controller running?)') from None
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
                              deadline=timeout)
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
