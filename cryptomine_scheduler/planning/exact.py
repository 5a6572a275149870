"""The exact planner: the same problem as a mixed-integer programme.

For small fleets only (``N * H`` binaries): it measures how far the
heuristic is from the optimum.  Variables are ``x[i, h]`` (instance ``i``
on host ``h``), ``e[h, r]``, bounded below by every tangent of the
piecewise-linear square of ``u[h, r] - t[r]``, and ``s[h, d]``, bounded
below by the tangents of the square of the count of instances holding
a device of kind ``d`` on ``h`` at every whole count (exact there, as
counts are whole); solved by HiGHS
through :func:`scipy.optimize.milp`.  ``min_gain`` does not apply: the
optimum is the optimum.
"""

import dataclasses
import time

import numpy as np
from scipy import optimize
from scipy import sparse

from cryptomine_scheduler.planning import problem as problem_mod
from cryptomine_scheduler.planning.problem import Problem


class NoSolution(RuntimeError):
    """HiGHS found no optimal solution in time."""


@dataclasses.dataclass(frozen=True)
class Optimum:
    placement: np.ndarray
    objective: float
    seconds: float


def _allowed(p: Problem) -> np.ndarray:
    """(N, H) where each instance may be (its own host always)."""
    n, h = len(p.instances), len(p.hosts)
    src = p.current
    ok = p.zone[None, :] == p.zone[src][:, None]
    ok &= (p.wants_accelerator[:, None] & ~p.host_accelerators[None, :]) == 0
    ok &= p.accepts_moves[None, :]
    ok &= p.movable[:, None]
    ok[np.arange(n), src] = True
    return ok.reshape(n, h)


def solve(p: Problem, time_limit: float = 60.0) -> Optimum:
    """The optimal placement; raise :class:`NoSolution` if none in time."""
    started = time.perf_counter()
    n, h, r = len(p.instances), len(p.hosts), p.capacity.shape[1]
    kinds = len(problem_mod.DEVICES)
    nx, ne, ns = n * h, h * r, h * kinds

    def x(i, k):
        return i * h + k

    def e(k, res):
        return nx + k * r + res

    def s(k, kind):
        return nx + ne + k * kinds + kind

    cost = np.zeros(nx + ne + ns)
    cost[nx:nx + ne] = np.repeat(p.weights[None, :], h, axis=0).ravel()
    cost[:nx] = np.tile(p.host_cost, n)
    cost[nx + ne:] = (p.limits.device_weight * p.device_pressure
                      / np.maximum(p.device_count, 1.0)).ravel()
    stay = x(np.arange(n), p.current)
    cost[stay] -= p.move_cost
    upper = np.ones(nx + ne + ns)
    upper[:nx] = _allowed(p).ravel()
    upper[nx:] = np.inf
    integrality = np.r_[np.ones(nx), np.zeros(ne + ns)]

    rows, lower_b, upper_b = [], [], []

    def add(coeffs: dict[int, float], lo: float, hi: float) -> None:
        rows.append(coeffs)
        lower_b.append(lo)
        upper_b.append(hi)

    for i in range(n):                                # one host each
        add({x(i, k): 1.0 for k in range(h)}, 1.0, 1.0)
    add({int(j): 1.0 for j in stay},                  # at most max_moves
        n - p.limits.max_moves, np.inf)
    target = p.target()
    tangents = problem_mod.tangent_points()
    load_ceiling = p.load_ceiling()
    alloc_ceiling = p.alloc_ceiling()
    for k in range(h):
        for res in range(r):
            share = {x(i, k): p.demand[i, res] / p.capacity[k, res]
                     for i in range(n) if p.demand[i, res]}
            offset = target[res] - p.base[k, res] / p.capacity[k, res]
            # u - t = sum(share * x) - offset; e >= a * (2 (u - t) - a)
            # for the tangents at the deviations this host can reach.
            reach = (-offset - problem_mod.GRID,
                     sum(share.values()) - offset + problem_mod.GRID)
            for a in tangents[(tangents >= reach[0])
                              & (tangents <= reach[1])]:
                add({**{j: 2 * a * v for j, v in share.items()},
                     e(k, res): -1.0}, -np.inf, a * a + 2 * a * offset)
            add(share, -np.inf, load_ceiling[k, res] + 1e-9
                - p.base[k, res] / p.capacity[k, res])
        for res in range(p.alloc_demand.shape[1]):
            add({x(i, k): p.alloc_demand[i, res] for i in range(n)},
                -np.inf, alloc_ceiling[k, res] + 1e-9)
    room = p.device_room()
    for kind in range(kinds):
        holders = np.flatnonzero(p.holds == kind)
        if not len(holders):
            continue
        for k in range(h):
            count = {x(i, k): 1.0 for i in holders}
            add(count, -np.inf, room[k, kind] + 1e-9)
            # s >= a * (2 n - a) for every whole count a it can reach.
            for a in range(int(min(room[k, kind], len(holders))) + 1):
                add({**{j: 2.0 * a for j in count}, s(k, kind): -1.0},
                    -np.inf, float(a * a))
    for g in np.unique(p.anti_affinity[p.anti_affinity >= 0]):
        members = np.flatnonzero(p.anti_affinity == g)
        already = np.bincount(p.current[members], minlength=h)
        for k in range(h):
            add({x(i, k): 1.0 for i in members}, -np.inf,
                max(1, already[k]))

    matrix = sparse.lil_matrix((len(rows), nx + ne + ns))
    for row, coeffs in enumerate(rows):
        for col, value in coeffs.items():
            matrix[row, col] = value
    result = optimize.milp(
        cost, integrality=integrality,
        bounds=optimize.Bounds(np.zeros(nx + ne + ns), upper),
        constraints=optimize.LinearConstraint(
            matrix.tocsr(), np.array(lower_b), np.array(upper_b)),
        options={'time_limit': time_limit, 'disp': False})
    if result.status != 0:
        raise NoSolution(f'HiGHS: {result.message}')
    placement = result.x[:nx].reshape(n, h).argmax(axis=1)
    return Optimum(placement=placement, objective=p.objective(placement),
                   seconds=time.perf_counter() - started)
