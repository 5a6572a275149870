"""The guests' load on the emulated testbed's fake hosts, from the trace.

nova's fake virt driver runs no guest, so no player loads a host: the
trace collector stands in for the collectors of the hosts.  Every
``interval`` seconds it asks which host runs each of the run's servers
now, and publishes, for each fake host, the sample a collector there
would: each guest's CPU is its schedule's busy vCPUs at this moment
(the player's, to the step), the host's is theirs summed over its CPUs
(at most 100 %), and each guest's resident memory its schedule's.  The
samples are signed with the host's key and go through the collectors'
publisher, as a real collector's do.
"""

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable

from cryptomine_scheduler.experiment import player
from cryptomine_scheduler.telemetry import sample as sample_mod
from cryptomine_scheduler.telemetry import signing
from load_collector import publisher as publisher_mod

LOG = logging.getLogger(__name__)
#: What the collector reports of itself: nothing lost.
COUNTERS = sample_mod.CollectorCounters(dropped=0, buffered=0,
                                        publish_failures=0, source_errors=0)


@dataclasses.dataclass(frozen=True)
class FakeHost:
    """A fake compute host: its name, CPUs and memory."""

    name: str
    cpus: int
    memory_mb: float


@dataclasses.dataclass(frozen=True)
class Placed:
    """A server of the run (its ID), the host that runs it, and what its
    guest plays."""

    server_id: str
    host: str
    schedule: player.Schedule


def _busy(schedule: player.Schedule, now: float) -> tuple[float, float]:
    """(busy vCPUs, resident MB) of a guest at Unix time ``now``."""
    step = schedule.position(now)
    cpu = sum(schedule.duty(k, step) for k in range(schedule.vcpus))
    return cpu, schedule.memory_bytes(step) / 2 ** 20


def samples(hosts: Iterable[FakeHost], placed: Iterable[Placed],
            now: float, seqs: dict[str, int]) -> list[sample_mod.LoadSample]:
    """Each host's sample at ``now`` (its next number of ``seqs``)."""
    guests: dict[str, list[Placed]] = {}
    for server in placed:
        guests.setdefault(server.host, []).append(server)
    found = []
    for host in hosts:
        cores = mem = 0.0
        instances = []
        for server in guests.get(host.name, ()):
            cpu, rss = _busy(server.schedule, now)
            cores += cpu
            mem += rss
            instances.append(sample_mod.InstanceLoad(
                server.server_id, 100.0 * cpu / host.cpus, rss))
        used = min(mem, host.memory_mb)
        seqs[host.name] = seqs.get(host.name, 0) + 1
        found.append(sample_mod.LoadSample(
            host=host.name, seq=seqs[host.name], timestamp=now,
            host_load=sample_mod.HostLoad(
                cpu_percent=min(100.0, 100.0 * cores / host.cpus),
                load_1=cores, load_5=cores, load_15=cores,
                mem_used_mb=used, mem_available_mb=host.memory_mb - used,
                mem_percent=100.0 * used / host.memory_mb,
                swap_used_mb=0.0, swap_percent=0.0),
            instances=tuple(instances), sensors=sample_mod.HostSensors(),
            gpus=(), asics=(), collector=COUNTERS, cpus=host.cpus))
    return found


class TraceCollector:
    """Publishes every host's sample each ``interval`` seconds, from
    :func:`samples` of what ``placed()`` says then, in a thread of its
    own between :meth:`start` and :meth:`stop`."""

    def __init__(self, hosts: tuple[FakeHost, ...],
                 placed: Callable[[], list[Placed]],
                 publisher: publisher_mod.SamplePublisher, secret: str,
                 interval: float, clock: Callable[[], float] = time.time):
        self.hosts = hosts
        self.placed = placed
        self.publisher = publisher
        self.keys = {h.name: signing.derive_host_key(secret, h.name)
                     for h in hosts}
        self.interval = interval
        self.clock = clock
        self.seqs: dict[str, int] = {}
        self.published = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name='trace-collector')

    def publish_once(self) -> None:
        for found in samples(self.hosts, self.placed(), self.clock(),
                             self.seqs):
            self.publisher.publish(signing.envelope(
                found.to_wire(), self.keys[found.host]))
            self.published += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.publish_once()
            except Exception:  # nova or the bus busy: try next time
                LOG.exception('trace collector: no samples this time')
            self._stop.wait(max(0.0, self.interval
                                - (time.monotonic() - began)))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
