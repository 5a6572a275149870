"""Pending-boot credit: load placed since the load snapshot was taken.

A burst of boots would otherwise all land on the host that looked least
loaded, because its samples do not show the new guests yet.  The
scheduler's host states count each placement (nova increments
``num_instances`` when it consumes a host for a request), so a rise of
that count since the last request means the last request's guests went
there.  Each such boot adds its expected load to the host until the
snapshot shows the guest running there, or until ``timeout`` passes.
"""

import dataclasses
import threading
import time
from collections.abc import Callable

from cryptomine_scheduler import scoring
from cryptomine_scheduler import snapshot


@dataclasses.dataclass(frozen=True)
class Request:
    """What one placement of a request adds to a host."""

    instance_uuid: str | None
    busy_vcpus: float
    memory_mb: float


@dataclasses.dataclass(frozen=True)
class PendingBoot:
    """One guest placed on ``host`` whose load is not sampled yet."""

    host: str
    request: Request
    placed_at: float


class PendingBoots:
    """Tracks placements per host; thread-safe."""

    def __init__(self, timeout: float,
                 clock: Callable[[], float] = time.time):
        self.timeout = timeout
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
        with self._lock:
            before = self._seen.get(host)
            self._seen[host] = num_instances
            if (before is None or num_instances <= before
                    or self._placed is None):
                return
            boots = self._pending.setdefault(host, [])
            boots.extend(PendingBoot(host, self._placed, self._clock())
                         for _ in range(num_instances - before))

    def credit(self, host: str, snap: snapshot.LoadSnapshot | None,
               vcpus: float, memory_mb: float) -> scoring.Credit:
        """Load (% of a host of ``vcpus`` and ``memory_mb``) of the boots
        on ``host`` that ``snap`` does not show yet."""
        if host not in self._pending:  # the common case, without the lock
            return scoring.NO_CREDIT
        now = self._clock()
        with self._lock:
            boots = [b for b in self._pending.get(host, ())
                     if now - b.placed_at < self.timeout
                     and not _reflected(b, snap)]
            if boots:
                self._pending[host] = boots
            else:
                self._pending.pop(host, None)
        busy = sum(b.request.busy_vcpus for b in boots)
        memory = sum(b.request.memory_mb for b in boots)
        return scoring.Credit(
            cpu_percent=busy / vcpus * 100.0 if vcpus else 0.0,
            mem_percent=memory / memory_mb * 100.0 if memory_mb else 0.0)


def _reflected(boot: PendingBoot,
               snap: snapshot.LoadSnapshot | None) -> bool:
    if snap is None or boot.request.instance_uuid is None:
        return False
    seen = snap.instances.get(boot.request.instance_uuid)
    return seen is not None and seen.host == boot.host
