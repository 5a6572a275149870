"""The simulator's prediction beside what a run measured.

The prediction replays the part of the trace the run played, under the
policy of the run's set-up, on the fleet the set-up names (a simulator
fleet file describing the testbed's compute hosts; without one, as many
identical hosts sized for the trace as the run measured).  The set-up's
times are in seconds of the run: the simulator, which works in trace
time, gets them multiplied by the compression (and the migration
bandwidth divided by it).
"""

import dataclasses
import json
import os

from cryptomine_scheduler.experiment import measured
from cryptomine_scheduler.experiment import setup as setup_mod
from cryptomine_scheduler.simulator import comparison as comparison_mod
from cryptomine_scheduler.simulator import engine
from cryptomine_scheduler.simulator import fleet as fleet_mod
from cryptomine_scheduler.simulator import metrics
from cryptomine_scheduler.simulator import report
from cryptomine_scheduler.simulator import traces

#: Figures compared (those a run and a simulation both determine).
COMPARED = ('overload', 'p95_load', 'max_load', 'mean_sigma', 'migrations',
            'migrated_gb', 'refused_boots', 'refused_migrations')


def settings(setup: setup_mod.Setup) -> engine.Settings:
    """The simulator's settings for ``setup``, in trace time."""
    policy, factor = setup.policy, setup.compression
    return dataclasses.replace(
        engine.DEFAULTS, replan_interval=policy.replan_interval * factor,
        max_moves=policy.max_moves, window=policy.summary_window * factor,
        half_life=policy.ewma_half_life * factor,
        migration_mb_per_s=policy.migration_mb_per_s / factor,
        overload_percent=policy.overload_percent)


def fleet(setup: setup_mod.Setup, trace: traces.Trace,
          hosts: int) -> fleet_mod.Fleet:
    """The set-up's fleet, or ``hosts`` hosts sized for ``trace``; CPU
    hosts only, as the players load CPU and memory only."""
    if not setup.fleet:
        return fleet_mod.sized(trace, max(1, hosts))
    found = fleet_mod.load(setup.fleet)
    if found.gpus.any() or any(h.asics for h in found.hosts):
        raise fleet_mod.FleetError(
            f'{setup.fleet}: GPU or ASIC hosts; the players load CPU and '
            'memory only: describe the testbed\'s hosts as CPU hosts')
    return found


def cpu_only(trace: traces.Trace) -> traces.Trace:
    """``trace`` as the players play it: CPU and memory, no GPU."""
    return dataclasses.replace(trace, gpu=None,
                               accelerators=(None,) * len(trace.instances))


def compare(trace: traces.Trace, found: measured.Measurements
            ) -> comparison_mod.Comparison:
    """The prediction's run and the measured one, with their figures."""
    setup = found.record.setup
    trace = cpu_only(trace)
    chosen = settings(setup)
    hosts = fleet(setup, trace, len(found.history))
    predicted = comparison_mod.compare(trace, hosts, [setup.policy.policy],
                                       chosen).runs[0]
    runs = (dataclasses.replace(predicted,
                                policy=f'predicted {predicted.policy}'),
            measured.run(found, trace.alive, predicted))
    return comparison_mod.Comparison(
        trace, hosts, chosen, runs,
        tuple(metrics.figures(r, chosen) for r in runs))


def gaps(result: comparison_mod.Comparison) -> dict[str, float]:
    """Measured minus predicted, figure by figure."""
    predicted, actual = result.figures
    return {name: float(getattr(actual, name) - getattr(predicted, name))
            for name in COMPARED}


def write(result: comparison_mod.Comparison, folder: str) -> list[str]:
    """The simulator's report and plots, and ``fidelity.json``."""
    written = report.write(result, folder)
    path = os.path.join(folder, 'fidelity.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump({'measured_minus_predicted': gaps(result)}, f, indent=2)
        f.write('\n')
    return [*written, path]
