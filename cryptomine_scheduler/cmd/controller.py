"""``cryptomine-controller``: ingest samples, keep history, serve loads.

A supervising master process runs the controller process (summaries,
RPC, re-planner, maintenance) and ``[controller] ingest_workers`` ingest
processes, restarting any that dies.
"""

import sys

import oslo_messaging
from oslo_config import cfg
from oslo_log import log as logging

from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler import rpc
from cryptomine_scheduler.control import service
from cryptomine_scheduler.control import supervisor
from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.ingest import workers as ingest_workers
from cryptomine_scheduler.planning import heap

LOG = logging.getLogger(__name__)


class ControllerProcess(supervisor.ReloadingService):
    """The controller in a supervised process."""

    name = 'cryptomine-controller'

    def __init__(self, worker_id: int, conf: cfg.ConfigOpts,
                 channel: ingest_workers.Channel | None,
                 restarts: supervisor.Restarts):
        super().__init__(worker_id, conf)
        self._notifications = oslo_messaging.get_notification_transport(
            conf)
        self._rpc = oslo_messaging.get_rpc_transport(
            conf, allowed_remote_exmods=rpc.REMOTE_EXCEPTION_MODULES)
        self._controller = service.ControllerService(
            conf, self._notifications, self._rpc, restarts=restarts.counts)
        self._results = (None if channel is None else
                         ingest_workers.ResultServer(
                             channel, self._controller.absorb))

    def run(self) -> None:
        # For the re-planner's numpy temporaries (the ingest workers,
        # which do not plan, keep glibc's defaults).
        if heap.retain_freed_memory(self.conf.controller.malloc_retain_mb):
            LOG.info('malloc keeps up to %d MiB freed for reuse',
                     self.conf.controller.malloc_retain_mb)
        if self._results is not None:
            self._results.start()
        self._controller.start()
        LOG.info('Controller %s listening on topic %s (pool %s)',
                 self.conf.host, self.conf.messaging.sample_topic,
                 self._controller.listener_pool)

    def terminate(self) -> None:
        LOG.info('Controller stopping')
        self._controller.stop()
        if self._results is not None:
            self._results.stop()
        self._notifications.cleanup()
        self._rpc.cleanup()


def prepare(conf: cfg.ConfigOpts) -> None:
    """Check what would make every process fail, and migrate (or, with
    ``[database] auto_upgrade`` off, check) the database's schema once,
    before any process starts."""
    service.validation_policy(conf)
    store_mod.HistoryStore.open(conf.database.connection,
                                conf.database.auto_upgrade).close()


def main(argv=None) -> int:
    conf = cfg.ConfigOpts()
    cm_conf.register_opts(conf)
    supervisor.parse_args(conf, argv, 'cryptomine-controller')
    cm_conf.prefetch_batches(conf)
    try:
        prepare(conf)
    except ValueError as exc:
        LOG.error('Cannot start: %s', exc)
        return 2
    workers = conf.controller.ingest_workers
    channel = ingest_workers.Channel.new() if workers else None
    restarts = supervisor.Restarts(
        [ControllerProcess.name, ingest_workers.IngestWorker.name])
    services = [supervisor.Workers(ControllerProcess, 1,
                                   (channel, restarts))]
    if workers:
        services.append(supervisor.Workers(ingest_workers.IngestWorker,
                                           workers, (channel,)))
    supervisor.run(conf, services, restarts)
    return 0


if __name__ == '__main__':
    sys.exit(main())
