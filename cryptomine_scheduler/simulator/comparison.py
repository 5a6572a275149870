"""Several policies replayed on the same trace and fleet: the API::

    from cryptomine_scheduler.simulator import comparison, synthetic

    case = synthetic.scenario(seed=1, instances=50, hours=2)
    result = comparison.compare(case.trace, case.fleet)
    for figures in result.figures:
        print(figures.policy, figures.overload)
"""

import dataclasses
import logging
from collections.abc import Sequence

from cryptomine_scheduler.simulator import engine
from cryptomine_scheduler.simulator import fleet as fleet_mod
from cryptomine_scheduler.simulator import metrics
from cryptomine_scheduler.simulator import policies
from cryptomine_scheduler.simulator import traces

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The runs of each policy and their figures, in the order asked."""

    trace: traces.Trace
    fleet: fleet_mod.Fleet
    settings: engine.Settings
    runs: tuple[engine.Run, ...]
    figures: tuple[metrics.Figures, ...]


def compare(trace: traces.Trace, fleet: fleet_mod.Fleet,
            names: Sequence[str] | None = None,
            settings: engine.Settings = engine.DEFAULTS) -> Comparison:
    """Replay ``trace`` on ``fleet`` under each policy of ``names``
    (default :func:`.policies.defaults`)."""
    names = policies.defaults(fleet) if names is None else names
    unknown = set(names) - set(policies.POLICIES)
    if unknown:
        raise ValueError(f'unknown policies {sorted(unknown)}; expected '
                         f'some of {list(policies.POLICIES)}')
    runs = []
    for name in names:
        run = engine.simulate(trace, fleet, policies.POLICIES[name](settings),
                              settings)
        LOG.info('%s: %d migrations, %.1f s', name, len(run.migrations),
                 run.seconds)
        runs.append(run)
    return Comparison(trace, fleet, settings, tuple(runs),
                      tuple(metrics.figures(r, settings) for r in runs))
