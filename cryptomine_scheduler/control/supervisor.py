"""The daemons' process lifecycle, as OpenStack services have it.

:func:`run`: a cotyledon master process forks each service's workers
and supervises them: a worker that dies for any reason is logged,
counted in :class:`Restarts` and started again.  SIGTERM asks every
worker to drain and exit within ``[DEFAULT] graceful_shutdown_timeout``;
SIGHUP makes the master and every worker re-read the configuration
files, apply the options marked mutable (oslo.log's ``debug`` and
``log_config_append`` among them) and keep running.

:func:`run_alone`: a daemon of one worker (the collector, on every
compute host) runs it in its own process, with the same signals, and
leaves restarting it to the init system: a master would add a second
interpreter's memory to every host.
"""

import dataclasses
import logging as std_logging
import multiprocessing
import signal
import threading
from collections.abc import Sequence

import cotyledon
from cotyledon import oslo_config_glue
from oslo_config import cfg
from oslo_log import log as logging

from cryptomine_scheduler import version

LOG = logging.getLogger(__name__)


class Restarts:
    """Workers restarted, per service name, shared by every process.

    Created in the master before it forks; only the master writes.
    """

    def __init__(self, names: Sequence[str]):
        context = multiprocessing.get_context('fork')
        self._counts = {name: context.RawValue('Q', 0) for name in names}

    def add(self, name: str) -> None:
        self._counts[name].value += 1

    def counts(self) -> dict[str, int]:
        return {name: value.value for name, value in self._counts.items()}


def reload_conf(conf: cfg.ConfigOpts, what: str) -> None:
    """Re-read the configuration files; apply their mutable options."""
    try:
        changed = conf.mutate_config_files()
    except Exception:
        LOG.exception('%s: reloading the configuration failed; keeping '
                      'the options in force', what)
        return
    names = sorted(f'{group or "DEFAULT"}.{name}' for group, name in changed)
    LOG.info('%s: configuration reloaded%s', what,
             f" ({', '.join(names)} changed)" if names else '')


class ReloadingService(cotyledon.Service):
    """A worker whose SIGHUP reloads the configuration instead of
    restarting the process (cotyledon's default)."""

    def __init__(self, worker_id: int, conf: cfg.ConfigOpts):
        super().__init__(worker_id)
        self.conf = conf

    def reload(self) -> None:
        reload_conf(self.conf, f'{self.name} worker {self.worker_id}')


@dataclasses.dataclass(frozen=True)
class Workers:
    """A service class, its worker count and its extra arguments."""

    service: type[ReloadingService]
    count: int
    args: tuple = ()


def parse_args(conf: cfg.ConfigOpts, argv, prog: str) -> None:
    """Read a daemon's command line and configuration files, and set up
    logging.  Adds ``[DEFAULT] graceful_shutdown_timeout`` and
    ``log_options`` (cotyledon's, in the sample through its
    ``cotyledon`` namespace) and oslo.log's options."""
    oslo_config_glue.register_opts(conf)
    logging.register_options(conf)
    conf(argv, project='cryptomine', prog=prog,
         version=version.version_string())
    logging.setup(conf, 'cryptomine')


def run(conf: cfg.ConfigOpts, services: Sequence[Workers],
        restarts: Restarts | None = None) -> None:
    """Start the services' workers and supervise them until SIGTERM."""
    manager = cotyledon.ServiceManager(
        graceful_shutdown_timeout=conf.graceful_shutdown_timeout)
    oslo_config_glue.link(manager, conf, reload_method='mutate')
    names = {}
    for workers in services:
        service_id = manager.add(workers.service, workers.count,
                                 args=(conf, *workers.args))
        names[service_id] = workers.service.name

    def dead_worker(service_id, worker_id, exit_code):
        name = names[service_id]
        LOG.error('%s worker %d exited with %s; starting a new one', name,
                  worker_id, exit_code)
        if restarts is not None:
            restarts.add(name)

    manager.register_hooks(
        on_dead_worker=dead_worker,
        on_reload=lambda: LOG.info('SIGHUP: reloading the configuration'))
    manager.run()


#: What stops a daemon run by :func:`run_alone`; SIGHUP reloads it.
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


def run_alone(conf: cfg.ConfigOpts, service: type[ReloadingService]) -> None:
    """Run one worker of ``service`` in this process until SIGTERM.

    SIGTERM or SIGINT calls its ``terminate`` (which drains it), SIGHUP
    its ``reload``.  Exits with status 1 if the worker stops on its own:
    the init system starts it again (the systemd units' ``Restart=``).
    """
    watched = STOP_SIGNALS | {signal.SIGHUP}
    # Taken by sigtimedwait below: blocked before any thread starts, so
    # that every thread inherits the mask and none is interrupted.
    signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    worker = service(0, conf)
    if conf.log_options:
        conf.log_opt_values(LOG, std_logging.DEBUG)

    def run_worker() -> None:
        try:
            worker.run()
        except Exception:
            LOG.exception('%s worker failed', service.name)

    thread = threading.Thread(target=run_worker, name=service.name)
    thread.start()
    while thread.is_alive():
        received = signal.sigtimedwait(watched, 1.0)
        if received is None:
            continue
        if received.si_signo == signal.SIGHUP:
            LOG.info('SIGHUP: reloading the configuration')
            worker.reload()
            continue
        worker.terminate()
        thread.join()
        return
    LOG.error('%s worker stopped on its own; exiting', service.name)
    raise SystemExit(1)
