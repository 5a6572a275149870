"""Ingest in child processes, for more samples than one process can take.

One Python process consumes, validates and stores on about one core (the
GIL).  With ``[controller] ingest_workers = N`` the controller forks N
workers before it starts any thread.  Each runs its own batch listener on
the shared sample queue, validates and stores exactly as in-process (one
transaction per batch, acknowledged after commit), and sends each
:class:`~cryptomine_scheduler.ingest.BatchResult` to the controller
process, which keeps the totals and summaries and answers RPC.

A worker whose controller died exits at once: its unacknowledged messages
go back to the queue, and what it committed is deduplicated by (host, seq)
when redelivered.
"""

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable

from oslo_log import log as logging

from cryptomine_scheduler import ingest

LOG = logging.getLogger(__name__)
PARENT_CHECK_SECONDS = 1.0


def _work(build_listener: Callable, results, index: int) -> None:
    """Body of one forked worker."""
    parent = os.getppid()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = build_listener(results.put)
    listener.start()
    LOG.info('Ingest worker %d (pid %d) consuming', index, os.getpid())
    while not stop.wait(PARENT_CHECK_SECONDS):
        if os.getppid() != parent:
            LOG.warning('Controller %d is gone; ingest worker %d exits',
                        parent, index)
            os._exit(1)
    listener.stop()
    listener.wait()
    results.close()
    results.join_thread()


class IngestWorkers:
    """The worker processes and the thread absorbing their results."""

    def __init__(self, count: int,
                 build_listener: Callable[[Callable], object],
                 absorb: Callable[[ingest.BatchResult], None]):
        context = multiprocessing.get_context('fork')
        self._results = context.Queue()
        self._processes = [
            context.Process(target=_work, name=f'cryptomine-ingest-{i}',
                            args=(build_listener, self._results, i))
            for i in range(count)]
        self._absorb = absorb
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name='cryptomine-ingest-results')

    def start(self) -> None:
        """Fork the workers (before any thread is started), then read."""
        for process in self._processes:
            process.start()
        self._reader.start()

    def _read(self) -> None:
        for result in iter(self._results.get, None):
            try:
                self._absorb(result)
            except Exception:
                LOG.exception('Could not absorb a batch result')

    def check(self) -> None:
        """Log workers that died (the others carry on)."""
        for process in self._processes:
            if process.exitcode is not None:
                LOG.error('Ingest worker %s exited with %s', process.name,
                          process.exitcode)
        self._processes = [p for p in self._processes if p.exitcode is None]

    def stop(self) -> None:
        """Stop the workers (each finishes its batch), then the reader."""
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            process.join(60)
        self._results.put(None)
        self._reader.join(10)
