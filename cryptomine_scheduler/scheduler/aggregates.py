"""Per-aggregate overrides of the plugin's options.

A host in several aggregates gets the strictest value: the lowest
maximum, the highest minimum (:mod:`.aggregate_thresholds`), ``reject``
over ``pass`` and ``hard`` over ``soft``.  A value that cannot be read
is ignored with a warning.
"""

from nova.scheduler.filters import utils
from oslo_log import log as logging

from cryptomine_scheduler.conf import scheduler as scheduler_conf
from cryptomine_scheduler.placement import aggregate_thresholds
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.placement import tiers

LOG = logging.getLogger(__name__)
#: Which hosts are rented burst capacity, and what one costs an hour.
TIER_KEY = tiers.TIER_KEY
TIER_BURST = tiers.TIER_BURST
COST_KEY = tiers.COST_KEY


def thresholds(host_state, defaults: scoring.Thresholds
               ) -> scoring.Thresholds:
    """The thresholds of ``host_state``: ``defaults`` overridden by its
    aggregates' ``cryptomine_<threshold>`` metadata."""
    if not host_state.aggregates:
        return defaults
    return aggregate_thresholds.thresholds(
        defaults,
        lambda key: utils.aggregate_values_from_key(host_state, key),
        host_state.host)


def _choice(host_state, key: str, default: str,
            strictest_first: tuple[str, ...]) -> str:
    if not host_state.aggregates:
        return default
    values = utils.aggregate_values_from_key(host_state, key)
    for value in strictest_first:
        if value in values:
            return value
    return default


def missing_policy(host_state, default: str) -> str:
    """``missing_data_policy`` of ``host_state`` (aggregate key
    ``cryptomine_missing_data_policy``)."""
    return _choice(host_state, 'cryptomine_missing_data_policy', default,
                   (scheduler_conf.MISSING_REJECT,
                    scheduler_conf.MISSING_PASS))


def overload_policy(host_state, default: str) -> str:
    """``overload_policy`` of ``host_state`` (aggregate key
    ``cryptomine_overload_policy``)."""
    return _choice(host_state, 'cryptomine_overload_policy', default,
                   (scheduler_conf.OVERLOAD_HARD,
                    scheduler_conf.OVERLOAD_SOFT))


def declared_kinds(host_state) -> frozenset[scoring.Accelerator] | None:
    """The accelerator kinds ``host_state``'s aggregates declare (their
    ``cryptomine:accelerator`` property, as the re-planner reads it);
    None when none does."""
    if not host_state.aggregates:
        return None
    kinds: frozenset[scoring.Accelerator] = frozenset()
    for value in utils.aggregate_values_from_key(host_state,
                                                 scoring.ACCELERATOR_KEY):
        parsed, unknown = scoring.parse_kinds(value)
        for item in unknown:
            LOG.warning('Ignoring unknown accelerator %r in aggregate '
                        '%s of host %s', item, scoring.ACCELERATOR_KEY,
                        host_state.host)
        kinds |= parsed
    return kinds or None


def burst_cost(host_state) -> float | None:
    """What ``host_state`` costs an hour when its aggregates say it is a
    rented burst host (:func:`.tiers.read`); None for a host of the
    operator's own."""
    if not host_state.aggregates:
        return None
    found = tiers.read(
        utils.aggregate_values_from_key(host_state, TIER_KEY),
        [(len(aggregate.hosts), aggregate.metadata[COST_KEY])
         for aggregate in host_state.aggregates
         if COST_KEY in aggregate.metadata])
    if found.unreadable:
        LOG.warning('Ignoring aggregate %s %s of host %s', COST_KEY,
                    ', '.join(map(repr, found.unreadable)), host_state.host)
    return found.cost_per_hour
