"""The collector loop: sample, sign, buffer, repeat.

Every cycle's sample goes into the replay buffer, which a
:class:`~load_collector.sender.Sender` thread drains to the message bus:
a cycle never waits for the broker, and a sample is only ever discarded
when the buffer overflows (counted in :attr:`CollectorStats.dropped`).
Each sample carries these counters, so the controller shows them.
"""

import ctypes
import dataclasses
import gc
import random
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence

from oslo_log import log as logging

from cryptomine_scheduler.telemetry import sample as sample_mod
from cryptomine_scheduler.telemetry import signing
from load_collector import buffer as buffer_mod
from load_collector import publisher as publisher_mod
from load_collector import sender as sender_mod
from load_collector import sources as sources_mod

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class CollectorStats:
    """Counters of one collector run."""

    first_seq: int
    sampled: int
    published: int
    publish_failures: int
    dropped: int
    buffered: int
    source_errors: int

    def counters(self) -> sample_mod.CollectorCounters:
        """The counters every sample carries."""
        return sample_mod.CollectorCounters(
            dropped=self.dropped, buffered=self.buffered,
            publish_failures=self.publish_failures,
            source_errors=self.source_errors)


def release_freed_memory() -> None:
    """Hand the memory freed so far back to the system, where the C
    library can (glibc's ``malloc_trim``; elsewhere nothing).

    Start-up frees much that it held (the entry points of every
    installed package, read to find the message bus driver and the
    sources: 0.7 MiB; the first look at every process), and the C
    library keeps memory it was given.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def jittered(interval: float, jitter: float) -> float:
    """``interval`` spread by up to +/- ``jitter`` (a fraction of it)."""
    return interval * (1.0 + random.uniform(-jitter, jitter))


class Collector:
    """Samples one host; its :class:`~load_collector.sender.Sender`
    publishes what it measured."""

    def __init__(self, host: str, sources: Sequence[sources_mod.Source],
                 publisher: publisher_mod.SamplePublisher, key: bytes,
                 buffer: buffer_mod.ReplayBuffer,
                 clock: Callable[[], float] = time.time):
        self.host = host
        self._sources = sources
        self._key = key
        self._buffer = buffer
        self._sender = sender_mod.Sender(buffer, publisher.publish)
        self._clock = clock
        # Starting from the wall clock in microseconds keeps sequence
        # numbers increasing across restarts without any state on disk.
        self._next_seq = self.first_seq = time.time_ns() // 1000
        self._sampled = 0
        self._source_errors = 0

    @property
    def stats(self) -> CollectorStats:
        return CollectorStats(
            first_seq=self.first_seq, sampled=self._sampled,
            published=self._sender.published,
            publish_failures=self._sender.failures,
            dropped=self._buffer.dropped, buffered=len(self._buffer),
            source_errors=self._source_errors)

    def sample(self) -> sample_mod.LoadSample:
        """Ask every source for its readings and build one sample."""
        draft = sources_mod.SampleDraft()
        for source in self._sources:
            try:
                source.collect(draft)
            except Exception:
                self._source_errors += 1
                LOG.exception('Source %s failed', type(source).__name__)
        if draft.host_load is None:
            raise RuntimeError('no source provided the host load')
        sample = sample_mod.LoadSample(
            host=self.host, seq=self._next_seq, timestamp=self._clock(),
            host_load=draft.host_load, instances=tuple(draft.instances),
            sensors=draft.sensors, gpus=tuple(draft.gpus),
            asics=tuple(draft.asics), collector=self.stats.counters(),
            cpus=draft.cpus)
        self._next_seq += 1
        self._sampled += 1
        return sample

    def cycle(self) -> None:
        """Take one sample and queue it for publishing.

        The first ends the start-up: what it freed (the sources' first
        look, at every process for one) goes back to the system.
        """
        wire = self.sample().to_wire()
        self._buffer.append(signing.envelope(wire, self._key))
        if self._sampled == 1:
            release_freed_memory()

    def start(self) -> None:
        """Start publishing (:meth:`run` does).

        What the process holds by now (modules, configuration, sources)
        lives as long as it: frozen, the garbage collector's full passes
        leave it out instead of spending tens of milliseconds on it.
        """
        gc.freeze()
        self._sender.start()

    def run(self, stop: threading.Event, pause: Callable[[], float],
            cycles: int | None = None) -> None:
        """Publish, and cycle every ``pause()`` seconds until ``stop`` is
        set.

        The first cycle, too, comes one pause after the start: the
        sources' first readings (CPU time deltas) then cover a whole
        interval instead of the few milliseconds since they were primed.
        """
        self.start()
        done = 0
        started = time.monotonic()
        while cycles is None or done < cycles:
            if stop.wait(max(0.0, pause() - (time.monotonic() - started))):
                break
            started = time.monotonic()
            self.cycle()
            done += 1

    def shutdown(self, timeout: float) -> bool:
        """Publish what is buffered for up to ``timeout`` seconds and
        close the sources; return whether everything was published."""
        flushed = self._sender.stop(timeout)
        for source in self._sources:
            source.close()
        LOG.info('Collector for %s stopping: %s', self.host, self.stats)
        return flushed
