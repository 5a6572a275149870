"""What the guests of each flavor were measured to use once warm.

A mining flavor's guests look alike: the same miner on the same vCPUs.
When a guest nova placed has been sampled for the warm-up window (see
:mod:`.placements`), the controller notes its CPU load as a share of its
own vCPUs under its flavor and under its flavor and image.  The mean of
the last ``history`` guests of a key becomes that key's expected load
once ``min_guests`` have been seen; the snapshot serves it, and
:func:`expected` picks the best-informed value: the flavor and image,
else the flavor, else nothing (the flavor's
``cryptomine:expected_load_percent``, then the scheduler's default).
"""

import collections
import dataclasses
import threading

#: The wire form: flavor -> {'percent', 'guests', 'images': {image ->
#: {'percent', 'guests'}}}, each key with ``min_guests`` at least.
Table = dict[str, dict]


@dataclasses.dataclass(frozen=True)
class Observation:
    """What the warm guest ``instance_uuid`` of ``flavor`` booted from
    ``image`` used, % of its vCPUs, at ``observed_at``."""

    instance_uuid: str
    flavor: str
    image: str | None
    percent: float
    observed_at: float


def expected(table: Table, flavor: str | None,
             image: str | None) -> float | None:
    """The learned load (% of the guest's vCPUs) of a guest of
    ``flavor`` booted from ``image``, None when not learned."""
    entry = table.get(flavor) if flavor is not None else None
    if entry is None:
        return None
    by_image = entry['images'].get(image) if image is not None else None
    return (by_image or entry)['percent']


class FlavorLoads:
    """The recent guests' loads by flavor and by (flavor, image);
    thread-safe, bounded by ``history`` guests a key and ``limit``
    keys (the least recently observed go first)."""

    def __init__(self, history: int = 50, min_guests: int = 3,
                 limit: int = 10_000):
        self.history = history
        self.min_guests = min_guests
        self.limit = limit
        self._loads: collections.OrderedDict[
            tuple[str, str | None], collections.deque[float]] = (
                collections.OrderedDict())
        self._lock = threading.Lock()

    def observe(self, flavor: str, image: str | None,
                percent: float) -> None:
        """Note that a warm guest of ``flavor`` and ``image`` uses
        ``percent`` of its vCPUs."""
        percent = min(max(percent, 0.0), 100.0)
        with self._lock:
            for key in {(flavor, None), (flavor, image)}:
                loads = self._loads.get(key)
                if loads is None:
                    loads = self._loads[key] = collections.deque(
                        maxlen=self.history)
                loads.append(percent)
                self._loads.move_to_end(key)
            while len(self._loads) > self.limit:
                self._loads.popitem(last=False)

    def wire(self) -> Table:
        """The keys learned well enough, in :data:`Table` form."""
        with self._lock:
            learned = [(key, sum(loads) / len(loads), len(loads))
                       for key, loads in self._loads.items()
                       if len(loads) >= self.min_guests]
        table: Table = {}
        for (flavor, image), percent, guests in learned:
            if image is None:
                table.setdefault(flavor, {'images': {}}).update(
                    percent=round(percent, 2), guests=guests)
        for (flavor, image), percent, guests in learned:
            if image is not None and flavor in table:
                table[flavor]['images'][image] = {
                    'percent': round(percent, 2), 'guests': guests}
        return table
