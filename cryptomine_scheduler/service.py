"""The controller service: listener, RPC server and maintenance thread."""

import threading
import time
from collections.abc import Callable

import oslo_messaging
from oslo_config import cfg
from oslo_log import log as logging

from cryptomine_scheduler import ingest
from cryptomine_scheduler import rpc
from cryptomine_scheduler import snapshot
from cryptomine_scheduler import validation
from cryptomine_scheduler.db import store as store_mod

LOG = logging.getLogger(__name__)


def validation_policy(conf: cfg.ConfigOpts) -> validation.Policy:
    secret = conf.messaging.master_secret
    if not secret or len(secret) < 16:
        raise ValueError('[messaging] master_secret must be set (16+ '
                         'characters) and equal on every node')
    return validation.Policy(master_secret=secret,
                             max_clock_skew=conf.controller.max_clock_skew,
                             max_age=conf.controller.raw_retention)


class ControllerService:
    """Owns the store, the summaries and the messaging servers."""

    def __init__(self, conf: cfg.ConfigOpts, notification_transport,
                 rpc_transport, clock: Callable[[], float] = time.time):
        self.conf = conf
        self._clock = clock
        c = conf.controller
        self._policy = validation_policy(conf)
        self.store = store_mod.HistoryStore.open(conf.database.connection)
        self.tracker = snapshot.LoadTracker(c.summary_window,
                                            c.ewma_half_life,
                                            c.hashrate_baseline_half_life)
        self.totals = ingest.IngestTotals()
        self.listener_pool = (c.listener_pool
                              or f'{conf.messaging.sample_topic}.info')
        self.ingestor = ingest.Ingestor(
            self.store, self._policy,
            ingest.RejectionLog(c.rejection_log_interval, clock), clock)
        self.listener = self._listener(notification_transport)
        self.endpoint = rpc.ControllerEndpoint(
            self.store, self.tracker, self.totals, c.raw_retention, clock)
        self.rpc_server = oslo_messaging.get_rpc_server(
            rpc_transport,
            oslo_messaging.Target(topic=conf.messaging.controller_topic,
                                  server=conf.host),
            [self.endpoint], executor='threading')
        self._stop = threading.Event()
        self._maintenance = threading.Thread(
            target=self._maintain, name='cryptomine-maintenance',
            daemon=True)

    def absorb(self, result: ingest.BatchResult) -> None:
        """Count a stored batch and add its samples to the summaries."""
        self.totals.add(result)
        for sample in result.stored:
            self.tracker.add(sample)

    def _listener(self, transport):
        """The batch listener of the sample queue."""
        c = self.conf.controller
        return oslo_messaging.get_batch_notification_listener(
            transport,
            [oslo_messaging.Target(topic=self.conf.messaging.sample_topic)],
            [ingest.SampleEndpoint(self.ingestor, self.absorb)],
            executor='threading', allow_requeue=True,
            pool=self.listener_pool, batch_size=c.batch_size,
            batch_timeout=c.batch_timeout)

    def maintain_once(self) -> store_mod.PurgeResult:
        """Roll up closed buckets and purge what is past retention."""
        c = self.conf.controller
        return self.store.purge(self._clock(), c.raw_retention,
                                c.rollup_retention)

    def _maintain(self) -> None:
        while not self._stop.wait(self.conf.controller.maintenance_interval):
            try:
                result = self.maintain_once()
                LOG.debug('Maintenance done: %s', result)
            except Exception:
                LOG.exception('Rollup/purge failed; retrying next interval')

    def start(self) -> None:
        rows = self.tracker.rebuild(self.store, self._clock())
        LOG.info('Summaries rebuilt from %d stored samples', rows)
        self.rpc_server.start()
        self.listener.start()
        self._maintenance.start()

    def stop(self) -> None:
        """Stop consuming, finish the batch in hand, close the store."""
        self._stop.set()
        self.listener.stop()
        self.listener.wait()
        self.rpc_server.stop()
        self.rpc_server.wait()
        if self._maintenance.is_alive():
            self._maintenance.join()
        self.store.close()
