"""The collector loop: sample, sign, buffer, publish, repeat.

Every cycle's sample goes into the replay buffer first and the buffer is
then drained in order, so a sample is only ever discarded when the buffer
overflows (counted in :attr:`CollectorStats.dropped`).
"""

import dataclasses
import random
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence

from oslo_log import log as logging

from cryptomine_scheduler import sample as sample_mod
from cryptomine_scheduler import signing
from load_collector import buffer as buffer_mod
from load_collector import publisher as publisher_mod
from load_collector import sources as sources_mod

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class CollectorStats:
    """Counters of one collector run."""

    first_seq: int
    sampled: int = 0
    published: int = 0
    dropped: int = 0
    buffered: int = 0
    source_errors: int = 0


def jittered(interval: float, jitter: float) -> float:
    """``interval`` spread by up to +/- ``jitter`` (a fraction of it)."""
    return interval * (1.0 + random.uniform(-jitter, jitter))


class Collector:
    """Samples one host and publishes what it measured."""

    def __init__(self, host: str, sources: Sequence[sources_mod.Source],
                 publisher: publisher_mod.SamplePublisher, key: bytes,
                 buffer: buffer_mod.ReplayBuffer,
                 clock: Callable[[], float] = time.time):
        self.host = host
        self._sources = sources
        self._publisher = publisher
        self._key = key
        self._buffer = buffer
        self._clock = clock
        # Starting from the wall clock in microseconds keeps sequence
        # numbers increasing across restarts without any state on disk.
        self._next_seq = time.time_ns() // 1000
        self._connected = True
        self.stats = CollectorStats(first_seq=self._next_seq)

    def sample(self) -> sample_mod.LoadSample:
        """Ask every source for its readings and build one sample."""
        draft = sources_mod.SampleDraft()
        for source in self._sources:
            try:
                source.collect(draft)
            except Exception:
                self.stats.source_errors += 1
                LOG.exception('Source %s failed', type(source).__name__)
        if draft.host_load is None:
            raise RuntimeError('no source provided the host load')
        sample = sample_mod.LoadSample(
            host=self.host, seq=self._next_seq, timestamp=self._clock(),
            host_load=draft.host_load, instances=tuple(draft.instances),
            sensors=draft.sensors, gpus=tuple(draft.gpus),
            asics=tuple(draft.asics))
        self._next_seq += 1
        self.stats.sampled += 1
        return sample

    def flush(self) -> bool:
        """Publish the buffer in order; return True once it is empty."""
        try:
            self.stats.published += self._buffer.drain(
                self._publisher.publish)
        except publisher_mod.PublishError as exc:
            if self._connected:
                LOG.warning('Message bus unreachable (%s); buffering '
                            'samples (capacity %d)', exc,
                            self._buffer.capacity)
            self._connected = False
        else:
            if not self._connected:
                LOG.info('Message bus reachable again; buffer replayed')
            self._connected = True
        self.stats.dropped = self._buffer.dropped
        self.stats.buffered = len(self._buffer)
        return not self._buffer

    def cycle(self) -> None:
        """Take one sample and publish everything that waits."""
        wire = self.sample().to_wire()
        self._buffer.append(signing.envelope(wire, self._key))
        self.flush()

    def run(self, stop: threading.Event, pause: Callable[[], float],
            cycles: int | None = None) -> None:
        """Cycle every ``pause()`` seconds until ``stop`` is set.

        The first cycle, too, comes one pause after the start: the
        sources' first readings (CPU time deltas) then cover a whole
        interval instead of the few milliseconds since they were primed.
        """
        done = 0
        started = time.monotonic()
        while cycles is None or done < cycles:
            if stop.wait(max(0.0, pause() - (time.monotonic() - started))):
                break
            started = time.monotonic()
            self.cycle()
            done += 1

    def shutdown(self, timeout: float) -> bool:
        """Try to empty the buffer for up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.flush() and time.monotonic() < deadline:
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        for source in self._sources:
            source.close()
        LOG.info('Collector for %s stopping: %s', self.host, self.stats)
        return not self._buffer
