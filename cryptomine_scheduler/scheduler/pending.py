"""Pending-boot credit: load placed that the samples do not show yet.

A burst of boots would otherwise all land on the host that looked least
loaded, because its samples do not show the new guests yet.  Two
estimates of the same placements:

* the snapshot's *pending* guests, when the controller learns placements
  from nova's notifications: every placement of every scheduler worker,
  a second or so late; each counts its expected load less what it is
  measured to use, until it has been sampled for the controller's
  warm-up window;
* this worker's inference, immediate: the scheduler's host states count
  each placement (nova increments ``num_instances`` when it consumes a
  host, and reads other workers' placements from the database), so a
  rise of that count since the last request is a placement, credited to
  the last request's flavor (whose guest it may not be, under
  concurrency).  Such a boot counts until the snapshot shows its guest
  sampled or pending, wherever, or for ``timeout`` seconds; for
  ``handover`` seconds only when the controller learns placements.

A host counts the larger of the two, never their sum: both see the same
guests.  Of them, the GPU guests count besides against the chassis'
power budget: each will work as many free GPUs as it holds to their
limit (:func:`.scoring.with_busy_gpus`).
"""

import dataclasses
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable

from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.history.summaries import Stat
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.telemetry.sample import InstanceMetric


@dataclasses.dataclass(frozen=True)
class Request:
    """What one placement of a request adds to a host (``gpus``: how
    many of its GPUs the guest will work)."""

    instance_uuid: str | None
    busy_vcpus: float
    memory_mb: float
    gpus: int = 0


@dataclasses.dataclass(frozen=True)
class PendingBoot:
    """One guest placed on ``host`` whose load is not sampled yet."""

    host: str
    request: Request
    placed_at: float


class PendingBoots:
    """Tracks placements per host; thread-safe."""

    def __init__(self, timeout: float, default_percent: float = 100.0,
                 handover: float = 10.0,
                 clock: Callable[[], float] = time.time):
        self.timeout = timeout
        self.handover = handover
        #: Expected load of a pending guest whose flavor does not say.
        self.default_percent = default_percent
        self._clock = clock
        self._seen: dict[str, int] = {}
        self._pending: dict[str, list[PendingBoot]] = {}
        self._current: Request | None = None
        self._placed: Request | None = None
        self._lock = threading.Lock()

    def start_request(self, request: Request) -> None:
        """Note the request now being scheduled.

        Rises seen from now on were caused by the request before it, which
        nova has placed by the time the next one is scheduled.
        """
        with self._lock:
            self._placed, self._current = self._current, request

    def observe(self, host: str, num_instances: int) -> None:
        """Record the host's instance count; a rise is a placement."""
        self.observe_all(((host, num_instances),))

    def observe_all(self, counts: Iterable[tuple[str, int]]) -> None:
        """:meth:`observe` each (host, instance count), under one lock."""
        with self._lock:
            seen, placed = self._seen, self._placed
            for host, num_instances in counts:
                before = seen.get(host)
                seen[host] = num_instances
                if (before is not None and num_instances > before
                        and placed is not None):
                    self._pending.setdefault(host, []).extend(
                        PendingBoot(host, placed, self._clock())
                        for _ in range(num_instances - before))

    def waiting(self, snap: snapshot.LoadSnapshot | None) -> set[str]:
        """The hosts that may have credit: boots inferred here, or guests
        still warming up in ``snap``."""
        with self._lock:
            hosts = set(self._pending)
        if snap is not None:
            hosts.update(snap.pending)
        return hosts

    def credit(self, host: str, snap: snapshot.LoadSnapshot | None,
               vcpus: float, memory_mb: float) -> scoring.Credit:
        """Load (% of a host of ``vcpus`` and ``memory_mb``) of the guests
        placed on ``host`` that ``snap`` does not show at their expected
        load yet."""
        warming = () if snap is None else snap.pending.get(host, ())
        if host not in self._pending and not warming:
            return scoring.NO_CREDIT  # the common case, without the lock
        learnt = snap is not None and snap.learns_placements
        timeout = min(self.timeout, self.handover) if learnt else self.timeout
        since = self._clock() - timeout
        # The guests the snapshot accounts for, sampled or pending on
        # whichever host (None, a boot whose guest is unknown, is in
        # neither).
        sampled, placed = ((snap.instances, snap.placed) if snap is not None
                           else ((), ()))
        with self._lock:
            boots = [b for b in self._pending.get(host, ())
                     if b.placed_at > since
                     and b.request.instance_uuid not in sampled
                     and b.request.instance_uuid not in placed]
            if boots:
                self._pending[host] = boots
            else:
                self._pending.pop(host, None)
        busy_vcpus = boot_memory_mb = 0.0
        for boot in boots:
            busy_vcpus += boot.request.busy_vcpus
            boot_memory_mb += boot.request.memory_mb
        busy = busy_vcpus / vcpus * 100.0 if vcpus else 0.0
        memory = boot_memory_mb / memory_mb * 100.0 if memory_mb else 0.0
        gpus = sum(boot.request.gpus for boot in boots)
        if not learnt:
            return scoring.Credit(busy, memory, gpus)
        learnt_busy, learnt_memory = self._warming(warming, snap, host,
                                                   vcpus, memory_mb)
        return scoring.Credit(
            max(busy, learnt_busy), max(memory, learnt_memory),
            max(gpus, sum(guest.gpus for guest in warming)))

    def _warming(self, warming, snap, host: str, vcpus: float,
                 memory_mb: float) -> tuple[float, float]:
        """The controller's pending guests of ``host``: their expected
        load less what they are measured to use, in % of the host."""
        busy = memory = 0.0
        for guest in warming:
            percent = (self.default_percent
                       if guest.expected_load_percent is None
                       else guest.expected_load_percent)
            cpu = guest.vcpus * percent / vcpus if vcpus else 0.0
            mem = guest.memory_mb / memory_mb * 100.0 if memory_mb else 0.0
            seen = snap.instances.get(guest.uuid)
            if seen is not None and seen.host == host:
                cpu -= _measured(seen, InstanceMetric.CPU_PERCENT)
                if memory_mb:
                    mem -= (_measured(seen, InstanceMetric.RSS_MB)
                            / memory_mb * 100.0)
            busy += max(cpu, 0.0)
            memory += max(mem, 0.0)
        return busy, memory


def _measured(view: snapshot.InstanceView, metric: InstanceMetric) -> float:
    """The guest's last reading, 0 when it has none."""
    value = view.metric(metric, Stat.LAST)
    return 0.0 if value != value else value

