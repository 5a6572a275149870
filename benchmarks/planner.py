"""Re-planner speed and quality.

Speed: planning time (building the problem from the cluster and the
snapshot, then planning) for 1,000 hosts x 10,000 instances (target
<= 2 s) and 10,000 x 100,000 (reported), on seeded skewed fleets, at
the default ``max_moves`` and at 100 moves.

Quality: on seeded random small fleets, the heuristic's objective
against the exact optimum (HiGHS), the baseline of this run: the gap in
% of the optimum (target: within 5 %), and both planners' times.

    python benchmarks/planner.py [--quick]
"""

import argparse
import time

import numpy as np

from cryptomine_scheduler.planning import exact
from cryptomine_scheduler.planning import heuristic
from cryptomine_scheduler.planning import inputs
from cryptomine_scheduler.planning import problem as problem_mod
from cryptomine_scheduler.tests import fleets

TARGET_SECONDS = 2.0
TARGET_GAP = 0.05


def policy(max_moves: int, min_gain: float | None = None) -> inputs.Policy:
    limits = problem_mod.Limits(max_moves=max_moves)
    if min_gain is not None:
        limits = problem_mod.Limits(max_moves=max_moves, min_gain=min_gain)
    return inputs.Policy(limits=limits)


def speed(n_hosts: int, n_instances: int, max_moves: int) -> None:
    fleet = fleets.random_fleet(1, n_hosts, n_instances)
    started = time.perf_counter()
    problem = fleets.problem(fleet, policy(max_moves))
    built = time.perf_counter() - started
    result = heuristic.plan(problem)
    total = built + result.seconds
    e = result.efficacy
    verdict = ''
    if n_hosts == 1000:
        verdict = (f'  target <= {TARGET_SECONDS:.0f} s: '
                   f'{"met" if total <= TARGET_SECONDS else "MISSED"}')
    print(f'{n_hosts:>6} hosts x {n_instances:>7} instances, max '
          f'{max_moves:>3} moves: build {built:5.2f} s + plan '
          f'{result.seconds:5.2f} s = {total:5.2f} s; {len(result.moves)} '
          f'moves, sigma {e.before.sigma:.3f} -> {e.after.sigma:.3f}, '
          f'overloaded hosts {e.before.overloaded} -> '
          f'{e.after.overloaded}{verdict}')


def quality(label: str, make_fleet, max_moves: int, seeds: int) -> None:
    gaps, fast, slow = [], [], []
    for seed in range(seeds):
        problem = fleets.problem(make_fleet(seed),
                                 policy(max_moves, min_gain=0.0))
        found = heuristic.plan(problem)
        best = exact.solve(problem)
        gaps.append((found.efficacy.after.objective - best.objective)
                    / best.objective)
        fast.append(found.seconds)
        slow.append(best.seconds)
    gaps = np.array(gaps) * 100
    within = int((gaps <= TARGET_GAP * 100 + 1e-9).sum())
    print(f'{label}, {max_moves} moves, {seeds} fleets: gap to the '
          f'optimum median {np.median(gaps):.2f} %, max {gaps.max():.2f} '
          f'%, within 5 %: {within}/{seeds}; heuristic '
          f'{np.mean(fast) * 1000:.0f} ms, exact '
          f'{np.mean(slow) * 1000:.0f} ms per fleet')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='skip 10,000 hosts and the larger small fleets')
    args = parser.parse_args()
    default_moves = inputs.Policy().limits.max_moves
    print('Planning time')
    speed(1000, 10_000, default_moves)
    speed(1000, 10_000, 100)
    if not args.quick:
        speed(10_000, 100_000, default_moves)
        speed(10_000, 100_000, 100)
    print('Heuristic against the exact optimum (baseline)')
    quality('6 hosts x 30 instances',
            lambda seed: fleets.random_fleet(seed, 6, 30), 5, 20)
    quality('4 hosts x 14 instances, zones, closed hosts, anti-affinity',
            fleets.constrained_fleet, 4, 40)
    if not args.quick:
        quality('8 hosts x 60 instances',
                lambda seed: fleets.random_fleet(seed, 8, 60), 10, 20)


if __name__ == '__main__':
    main()
