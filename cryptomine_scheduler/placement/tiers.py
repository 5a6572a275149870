"""Which hosts are rented burst capacity, and what one costs an hour.

Host aggregate properties say it: ``cryptomine:tier = burst`` makes
every host of the aggregate a burst host (anything else, or no
property, leaves it the operator's own, ``home``), and
``cryptomine:cost_per_hour`` is what it costs.  A host in several
aggregates is a burst host if any of them says so.  Its cost is the one
given by its smallest aggregate that gives one, so that an aggregate of
one host overrides the price of that host's pool; among aggregates of
the same size, the highest (the strictest value, as for every aggregate
override).  A burst host without a readable cost costs 0.  The
scheduler's plugin (reading nova's ``HostState``) and the controller's
inventory (reading nova's API) both decide through :func:`read`.
"""

import dataclasses
import enum
import math
from collections.abc import Iterable

TIER_KEY = 'cryptomine:tier'
COST_KEY = 'cryptomine:cost_per_hour'


class Tier(enum.Enum):
    """Whose a host is."""

    HOME = 'home'
    BURST = 'burst'


TIER_BURST = Tier.BURST.value


@dataclasses.dataclass(frozen=True)
class Reading:
    """What a host's aggregates say of its tier.

    ``cost_per_hour`` is None for a home host; ``unreadable`` are the
    cost values that are no finite number of 0 or more (left out).
    """

    tier: Tier = Tier.HOME
    cost_per_hour: float | None = None
    unreadable: tuple[str, ...] = ()


def _cost(value: str) -> float | None:
    try:
        cost = float(value)
    except (TypeError, ValueError):
        return None
    return cost if math.isfinite(cost) and cost >= 0 else None


def read(tiers: Iterable[str],
         costs: Iterable[tuple[int, str]]) -> Reading:
    """The tier and cost of a host whose aggregates give the ``tiers``
    values and the ``costs`` as (hosts in the aggregate, value), one of
    each per aggregate that has it."""
    if TIER_BURST not in {str(t).strip().lower() for t in tiers}:
        return Reading()
    costs = tuple(costs)
    readable = [(size, cost) for size, cost in
                ((size, _cost(value)) for size, value in costs)
                if cost is not None]
    smallest = min((size for size, _ in readable), default=None)
    return Reading(
        Tier.BURST,
        max((cost for size, cost in readable if size == smallest),
            default=0.0),
        tuple(value for _, value in costs if _cost(value) is None))


def tier_of(cost_per_hour: float | None) -> Tier:
    """The tier of a host whose burst cost is ``cost_per_hour`` (None
    for a home host)."""
    return Tier.HOME if cost_per_hour is None else Tier.BURST
