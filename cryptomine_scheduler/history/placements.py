"""Guests nova has placed whose load is not fully observed yet.

nova-scheduler runs several workers, on several hosts; each one sees only
its own decisions.  The controller learns every placement from nova's
versioned notifications (:mod:`.nova_notifications`) and serves the
guests still warming up in the snapshot, so that every worker counts a
new guest against its host, and for as long as it takes: until the
guest has been sampled for ``warmup`` seconds (a miner ramps up after
its guest boots), not merely until it shows up.  A guest never sampled
(its host's collector down) stops counting after ``max_age``.

Each notification reaches one controller; what it learns from it is a
:class:`PlacementEvent`, which that controller shares (its peers and the
database, :mod:`.shared_placements`) so that every controller serves
every placement, after a restart too.  Events may arrive out of order
there: a guest's newest event wins.
"""

import collections
import dataclasses
import math
import threading
import time
from collections.abc import Callable

#: What a nova flavor may say about a guest's load (its extra spec).
EXPECTED_LOAD_SPEC = 'cryptomine:expected_load_percent'


@dataclasses.dataclass(frozen=True)
class Placement:
    """A guest placed on ``host`` with its flavor's size.

    ``expected_load_percent`` is the flavor's extra spec, None when it
    has none (each scheduler applies its own default); ``flavor`` is the
    flavor's ID and ``image`` the image's, what :mod:`.flavor_loads`
    learns under; ``gpus`` how many GPUs its guest holds, 0 unless the
    flavor asks for them (``cryptomine:accelerator=gpu``).
    """

    host: str
    vcpus: int
    memory_mb: int
    expected_load_percent: float | None
    placed_at: float
    flavor: str | None = None
    image: str | None = None
    gpus: int = 0

    def wire(self) -> dict:
        """As served in the snapshot.  The GPUs go under ``gpu``, the key
        that a controller older than multi-GPU guests sent true or false
        under: a count reads as both."""
        wire = dataclasses.asdict(self)
        wire['gpu'] = wire.pop('gpus')
        return wire


@dataclasses.dataclass(frozen=True)
class PlacementEvent:
    """Guest ``uuid`` placed (``placement``) or, without one, failed to
    build or deleted, at ``at``."""

    uuid: str
    at: float
    placement: Placement | None = None


class Placements:
    """The guests warming up, by instance UUID; thread-safe and bounded
    (``limit`` entries, the oldest dropped first).

    ``on_event`` gets each event learnt here (:meth:`placed`,
    :meth:`gone`), not those :meth:`apply` takes from elsewhere.
    :meth:`counts` has how many events came from each source (``nova``:
    learnt here, ``peers``, ``database``: read back at start) and how
    many of nova's notifications could not be read (``unreadable``).
    """

    def __init__(self, warmup: float, max_age: float, limit: int = 100_000,
                 clock: Callable[[], float] = time.time,
                 on_event: Callable[[PlacementEvent], None] = (
                     lambda event: None)):
        self.warmup = warmup
        self.max_age = max_age
        self.limit = limit
        self.on_event = on_event
        self._clock = clock
        self._placed: collections.OrderedDict[str, Placement] = (
            collections.OrderedDict())
        # When each guest recently failed or was deleted, so that an
        # older placement arriving late does not bring it back.
        self._gone: collections.OrderedDict[str, float] = (
            collections.OrderedDict())
        self._counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def placed(self, uuid: str, host: str, vcpus: int, memory_mb: int,
               expected_load_percent: float | None,
               flavor: str | None = None, image: str | None = None,
               gpus: int = 0, at: float | None = None) -> None:
        """Note that nova started building ``uuid`` on ``host`` at ``at``
        (see :meth:`_time`)."""
        placement = Placement(host, vcpus, memory_mb, expected_load_percent,
                              self._time(at), flavor, image, gpus)
        self._learnt(PlacementEvent(uuid, placement.placed_at, placement))

    def gone(self, uuid: str, at: float | None = None) -> None:
        """The guest failed to build or was deleted at ``at``."""
        self._learnt(PlacementEvent(uuid, self._time(at)))

    def _time(self, at: float | None) -> float:
        """When nova sent the event: ``at``, its notification's time, so
        that a backlog read late counts from when it happened; now when
        unknown, or for a time ahead of this clock (nova's hosts and the
        controller's keep their clocks in step, as nova's service
        heartbeats need)."""
        now = self._clock()
        return now if at is None else min(at, now)

    def _learnt(self, event: PlacementEvent) -> None:
        self.apply(event, 'nova')
        self.on_event(event)

    def unreadable(self) -> None:
        """Count a notification of nova's that could not be read."""
        with self._lock:
            self._counts['unreadable'] += 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def apply(self, event: PlacementEvent, source: str) -> None:
        """Take ``event`` (counted under ``source``) unless a newer event
        of its guest is known."""
        with self._lock:
            self._counts[source] += 1
            uuid = event.uuid
            current = self._placed.get(uuid)
            if (self._gone.get(uuid, -math.inf) > event.at
                    or current is not None and current.placed_at > event.at):
                return
            self._placed.pop(uuid, None)
            if event.placement is None:
                _bounded_put(self._gone, uuid, event.at, self.limit)
            else:
                _bounded_put(self._placed, uuid, event.placement,
                             self.limit)

    def warming(self, first_sampled: Callable[[str], float | None],
                warmed: Callable[[str, Placement], None] = lambda *_: None
                ) -> dict[str, Placement]:
        """The placements still counting: dropped once their guest was
        first sampled ``warmup`` seconds ago (and handed to ``warmed``),
        or after ``max_age``."""
        now = self._clock()
        warm = []
        with self._lock:
            while self._gone and (next(iter(self._gone.values()))
                                  < now - self.max_age):
                self._gone.popitem(last=False)
            for uuid, placement in list(self._placed.items()):
                first = first_sampled(uuid)
                if first is not None and now - first >= self.warmup:
                    warm.append((uuid, placement))
                    del self._placed[uuid]
                elif now - placement.placed_at > self.max_age:
                    del self._placed[uuid]
            counting = dict(self._placed)
        for uuid, placement in warm:
            warmed(uuid, placement)
        return counting


def _bounded_put(entries: collections.OrderedDict, key, value,
                 limit: int) -> None:
    """Put ``key`` last in ``entries``, dropping the oldest past
    ``limit``."""
    entries.pop(key, None)
    entries[key] = value
    while len(entries) > limit:
        entries.popitem(last=False)
