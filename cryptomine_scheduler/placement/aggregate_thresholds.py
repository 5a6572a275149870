"""The thresholds of a host whose aggregates override them.

Aggregate metadata ``cryptomine_<threshold>`` overrides the option of
that name (:class:`.scoring.Thresholds`) for the aggregate's hosts.  A
host in several aggregates gets the strictest value: the lowest maximum,
the highest minimum.  A value that is not a number is ignored with a
warning.  nova's filter and the controller's re-planner both read them
here, from nova's host state and from nova's API respectively.
"""

import math
from collections.abc import Callable
from collections.abc import Iterable

from oslo_log import log as logging

from cryptomine_scheduler.placement import scoring

LOG = logging.getLogger(__name__)
PREFIX = 'cryptomine_'
#: (threshold, the strictest of several aggregates' values)
STRICTEST = (
    ('max_cpu_percent', min),
    ('max_mem_percent', min),
    ('min_gpu_thermal_headroom_c', max),
    ('min_gpu_power_headroom_percent', max),
    ('max_asic_errors_per_min', min),
    ('min_asic_hashrate_ratio', max),
    ('max_inlet_temperature_c', min),
    ('max_chassis_power_w', min),
)
#: The metadata keys that override a threshold.
KEYS = frozenset(PREFIX + name for name, _ in STRICTEST)


def thresholds(defaults: scoring.Thresholds,
               values_of: Callable[[str], Iterable[str]],
               host: str) -> scoring.Thresholds:
    """``defaults`` overridden by the values that ``values_of(key)``
    gives for each key of :data:`KEYS` (those of the aggregates of
    ``host``, named in warnings)."""
    values = {}
    for name, strictest in STRICTEST:
        found = list(values_of(PREFIX + name))
        try:
            numbers = [float(v) for v in found]
        except (TypeError, ValueError):
            numbers = [math.nan]
        if not all(map(math.isfinite, numbers)):
            LOG.warning('Host %s: ignoring aggregate %s%s values %s',
                        host, PREFIX, name, ', '.join(map(repr, found)))
            numbers = []
        values[name] = (strictest(numbers) if numbers
                        else getattr(defaults, name))
    return scoring.Thresholds(**values)
