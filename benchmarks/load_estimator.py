"""How far a new guest's expected load is from what it then uses.

The filter and the weigher judge a host with the guest being placed at
its expected load, and count it against its host until it is warm.  This
benchmark replays real and synthetic traces as a stream of boots: each
guest is predicted before it runs, then observed as the controller
observes it (its first step's load, at the end of its warm-up), and its
prediction is compared with its mean load over its first ``--horizon``
hours.  Predictors, all in the same run:

* ``default``: ``[cryptomine] default_expected_load_percent`` (100 %),
  what every guest gets without a learned load or an extra spec;
* ``fleet mean``: the mean of every guest observed so far, what a
  learner blind to flavors would say (the baseline for learning);
* ``learned``: the controller's own
  :class:`~cryptomine_scheduler.history.flavor_loads.FlavorLoads` with its
  default settings, by flavor and image, else the default.

A flavor is the guest's vCPUs and memory (and accelerator); the image is
known only for the synthetic mining day (its profile: CPU miner, GPU
miner, bursty, diurnal).  Bitbrains and PlanetLab guests all start at
once, so they boot in a shuffled order, one order per run.

Errors are in % of the guest's vCPUs (mean absolute, and bias: positive
when the guests were predicted busier than they were) and in busy vCPUs.
The benchmark fails unless the learned load beats the default on every
trace.

Run from the repository root::

    .venv/bin/python benchmarks/load_estimator.py [--runs 5]
"""

import argparse
import dataclasses
import os
import statistics
import sys

import numpy as np

from cryptomine_scheduler.history import flavor_loads
from cryptomine_scheduler.simulator import synthetic
from cryptomine_scheduler.simulator import traces

DEFAULT_PERCENT = 100.0
SHARED = os.path.join(os.path.dirname(__file__), '..', '..', 'shared',
                      'traces')


@dataclasses.dataclass(frozen=True)
class Guests:
    """The guests of a trace as boots: flavor, image, the load seen at
    the end of the warm-up and the mean load over the horizon (% of the
    guest's vCPUs), vCPUs and boot step."""

    name: str
    flavor: list[str]
    image: list[str | None]
    warm: np.ndarray
    actual: np.ndarray
    vcpus: np.ndarray
    boot: np.ndarray


def guests(name: str, trace: traces.Trace, horizon_steps: int,
           images: bool) -> Guests:
    """The guests of ``trace`` that lived at least one step."""
    share = trace.cpu / trace.vcpus[:, None] * 100.0
    boot = np.argmax(trace.alive, axis=1)
    rows = np.arange(len(trace.instances))
    warm = share[rows, boot]
    actual = np.array([np.nanmean(share[i, b:b + horizon_steps])
                       for i, b in zip(rows, boot, strict=True)])
    flavor = [f'{v}vcpu-{round(m / 1024)}gib-{a.value if a else "cpu"}'
              for v, m, a in zip(trace.vcpus, trace.memory_mb,
                                 trace.accelerators, strict=True)]
    image = [n.rsplit('-', 1)[0] if images else None
             for n in trace.instances]
    return Guests(name, flavor, image, warm, actual,
                  trace.vcpus.astype(float), boot)


@dataclasses.dataclass(frozen=True)
class Errors:
    """Each predictor's mean absolute error and bias, in % of the guests'
    vCPUs and in busy vCPUs; the share predicted from a learned load."""

    mae: dict[str, float]
    bias: dict[str, float]
    mae_vcpus: dict[str, float]
    learned_share: float


def replay(g: Guests, order: np.ndarray) -> Errors:
    """Boot the guests in ``order``: predict each, then observe it."""
    learner = flavor_loads.FlavorLoads()
    predicted = {p: np.empty(len(order))
                 for p in ('default', 'fleet mean', 'learned')}
    seen_sum = seen = learned = 0
    for k, i in enumerate(order):
        estimate = flavor_loads.expected(learner.wire(), g.flavor[i],
                                         g.image[i])
        learned += estimate is not None
        predicted['default'][k] = DEFAULT_PERCENT
        predicted['fleet mean'][k] = (seen_sum / seen if seen
                                      else DEFAULT_PERCENT)
        predicted['learned'][k] = (DEFAULT_PERCENT if estimate is None
                                   else estimate)
        learner.observe(g.flavor[i], g.image[i], float(g.warm[i]))
        seen_sum += min(max(float(g.warm[i]), 0.0), 100.0)
        seen += 1
    actual, vcpus = g.actual[order], g.vcpus[order]
    return Errors(
        mae={p: float(np.mean(np.abs(v - actual)))
             for p, v in predicted.items()},
        bias={p: float(np.mean(v - actual)) for p, v in predicted.items()},
        mae_vcpus={p: float(np.mean(np.abs(v - actual) * vcpus / 100.0))
                   for p, v in predicted.items()},
        learned_share=learned / len(order))


def orders(g: Guests, runs: int, shuffled: bool) -> list[np.ndarray]:
    """Boot orders: by boot step, ties (and everything, for traces that
    start at once) in a random order per run."""
    result = []
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        ties = rng.permutation(len(g.boot))
        result.append(ties if shuffled
                      else ties[np.argsort(g.boot[ties], kind='stable')])
    return result


def load_traces(shared: str, hours: float) -> list[tuple[Guests, bool]]:
    """(guests, shuffled) of each trace available."""
    found = []
    steps = round(hours * 3600 / traces.FIVE_MINUTES)
    bitbrains = os.path.join(shared, 'bitbrains-rnd-2013-7')
    if os.path.isdir(bitbrains):
        found.append((guests('Bitbrains Rnd (month)',
                             traces.read_bitbrains(bitbrains), steps,
                             images=False), True))
    planetlab = os.path.join(shared, 'planetlab-20110303')
    if os.path.isdir(planetlab):
        found.append((guests('PlanetLab 2011-03-03',
                             traces.read_planetlab(planetlab), steps,
                             images=False), True))
    day = synthetic.generate(seed=0, instances=1000, hours=48.0)
    found.append((guests('synthetic mining, 48 h', day, steps,
                         images=True), False))
    return found


def spread(values: list[float]) -> str:
    return (f'{min(values):6.1f} {statistics.median(values):6.1f} '
            f'{max(values):6.1f}')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=5,
                        help='boot orders per trace (default 5)')
    parser.add_argument('--horizon', type=float, default=24.0,
                        help='hours of a guest\'s life its actual load '
                             'is the mean of (default 24)')
    parser.add_argument('--traces', default=SHARED,
                        help='folder of the shared traces')
    args = parser.parse_args(argv)
    failed = []
    print(f'Error of the expected load of a new guest, % of its vCPUs '
          f'(min median max over {args.runs} boot orders; actual = mean '
          f'over its first {args.horizon:g} h)\n')
    print(f'{"trace":26} {"guests":>6} {"flavors":>7}  {"predictor":10} '
          f'{"MAE %":>20}  {"bias %":>20}  {"MAE vCPUs":>9}  learned')
    for g, shuffled in load_traces(args.traces, args.horizon):
        runs = [replay(g, order) for order in orders(g, args.runs,
                                                     shuffled)]
        share = statistics.median(r.learned_share for r in runs)
        for predictor in ('default', 'fleet mean', 'learned'):
            vcpus = statistics.median(r.mae_vcpus[predictor] for r in runs)
            print(f'{g.name:26} {len(g.flavor):6d} {len(set(g.flavor)):7d}'
                  f'  {predictor:10} '
                  f'{spread([r.mae[predictor] for r in runs]):>20}  '
                  f'{spread([r.bias[predictor] for r in runs]):>20}  '
                  f'{vcpus:9.2f}'
                  + (f'  {share:6.0%}' if predictor == 'learned' else ''))
        if not all(r.mae['learned'] < r.mae['default'] for r in runs):
            failed.append(g.name)
    if failed:
        print(f'\nFAILED: the learned load is no better than the default '
              f'on {", ".join(failed)}')
        return 1
    print('\nThe learned load beats the default on every trace.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
