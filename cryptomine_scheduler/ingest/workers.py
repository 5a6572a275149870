"""Ingest in worker processes, for more samples than one process takes.

One Python process consumes, validates and stores on about one core (the
GIL).  With ``[controller] ingest_workers = N`` the controller's master
process (:mod:`~cryptomine_scheduler.control.supervisor`) runs N
:class:`IngestWorker` processes beside the controller process.  Each runs
its own batch listener on the shared sample queue and stores exactly as
in-process (one transaction per batch, acknowledged after commit), then
sends the batch's :class:`~cryptomine_scheduler.ingest.ingestor.BatchResult` to
the controller process, which keeps the totals and summaries.

Each worker has a connection of its own to the controller process (a
Unix socket in the abstract namespace, authenticated with a key the
master made), so a worker killed in the middle of a send harms only its
own connection; its replacement connects anew.  A worker that dies
before its batch is acknowledged leaves the batch in the queue, and what
it had committed comes back as duplicates.
"""

import dataclasses
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from multiprocessing import connection

import oslo_messaging
from oslo_config import cfg
from oslo_log import log as logging

from cryptomine_scheduler.control import service as service_mod
from cryptomine_scheduler.control import supervisor
from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.ingest import bus as ingest_bus
from cryptomine_scheduler.ingest import ingestor as ingest

LOG = logging.getLogger(__name__)
CONNECT_TIMEOUT = 30.0
CONNECT_RETRY = 0.2


@dataclasses.dataclass(frozen=True)
class Channel:
    """Where workers reach the controller process, and the key."""

    address: str
    authkey: bytes

    @classmethod
    def new(cls) -> 'Channel':
        # A leading NUL names a Linux abstract socket: no file to clean up.
        return cls(f'\0cryptomine-ingest-{uuid.uuid4().hex}',
                   secrets.token_bytes(32))


class ResultServer:
    """Accepts workers' connections and absorbs the results they send."""

    def __init__(self, channel: Channel,
                 absorb: Callable[[ingest.BatchResult], None]):
        self._listener = connection.Listener(
            channel.address, 'AF_UNIX', authkey=channel.authkey)
        self._absorb = absorb
        self._accepter = threading.Thread(
            target=self._accept, name='cryptomine-ingest-results',
            daemon=True)

    def start(self) -> None:
        self._accepter.start()

    def _accept(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except OSError:
                return  # closed by stop()
            except connection.AuthenticationError:
                LOG.warning('Refused an ingest result connection that '
                            'failed authentication')
                continue
            threading.Thread(target=self._read, args=(conn,), daemon=True,
                             name='cryptomine-ingest-reader').start()

    def _read(self, conn: connection.Connection) -> None:
        with conn:
            while True:
                try:
                    result = conn.recv()
                except (EOFError, OSError):
                    return  # that worker ended
                except Exception:
                    LOG.exception('Unreadable ingest result; dropping the '
                                  'connection')
                    return
                try:
                    self._absorb(result)
                except Exception:
                    LOG.exception('Could not absorb a batch result')

    def stop(self) -> None:
        self._listener.close()


class ResultSender:
    """A worker's connection to the controller process, opened on first
    use and again after the controller process was restarted."""

    def __init__(self, channel: Channel, timeout: float = CONNECT_TIMEOUT):
        self._channel = channel
        self._timeout = timeout
        self._conn: connection.Connection | None = None
        # The listener's threads hand batches over concurrently; one
        # message at a time on the connection.
        self._lock = threading.Lock()

    def send(self, result: ingest.BatchResult) -> None:
        with self._lock:
            self._send(result)

    def _send(self, result: ingest.BatchResult) -> None:
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                if self._conn is None:
                    self._conn = connection.Client(
                        self._channel.address, 'AF_UNIX',
                        authkey=self._channel.authkey)
                self._conn.send(result)
                return
            except OSError as exc:
                self.close()
                if time.monotonic() >= deadline:
                    # Stored all the same; the summaries catch up when the
                    # controller process rebuilds them from the history.
                    LOG.warning('Controller process unreachable (%s); the '
                                'summaries miss a batch of %d samples',
                                exc, len(result.stored))
                    return
                time.sleep(CONNECT_RETRY)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class IngestWorker(supervisor.ReloadingService):
    """One process consuming, validating and storing samples."""

    name = 'cryptomine-ingest'

    def __init__(self, worker_id: int, conf: cfg.ConfigOpts,
                 channel: Channel):
        super().__init__(worker_id, conf)
        self._sender = ResultSender(channel)
        # The master migrated the schema before it started any worker.
        self._store = store_mod.HistoryStore(
            store_mod.create_engine(conf.database.connection))
        self._transport = oslo_messaging.get_notification_transport(conf)
        self._listener = ingest_bus.sample_listener(
            conf, self._transport,
            service_mod.new_ingestor(conf, self._store, time.time),
            self._sender.send)

    def run(self) -> None:
        self._listener.start()
        LOG.info('Ingest worker %d (pid %d) consuming', self.worker_id,
                 os.getpid())

    def terminate(self) -> None:
        """Finish the batch in hand, then close."""
        self._listener.stop()
        self._listener.wait()
        self._transport.cleanup()
        self._sender.close()
        self._store.close()
