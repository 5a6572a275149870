"""The exact planner: the same problem as a mixed-integer programme.

Over a whole fleet it is for small fleets only (``N * H`` binaries): it
measures how far the heuristic is from the optimum.  Over an
:class:`Area` (some instances free to move among some hosts, every other
instance fixed where a placement puts it) it is how the heuristic
improves its best plan (:mod:`.heuristic`).

Variables are ``x[i, h]`` (free instance ``i`` on host ``h`` of the
area, where it may be), ``e[h, r]``, bounded below by every tangent of
the piecewise-linear square of ``u[h, r] - t[r]`` (``t`` the whole
fleet's target), and ``s[h, d]``, bounded below by the tangents of the
square of the count of instances holding a device of kind ``d`` on
``h`` (fixed holders included) at every whole count (exact there, as
counts are whole); solved by HiGHS through :func:`scipy.optimize.milp`.
Fixed instances are constants of each host's load, allocation, devices
held and anti-affinity counts.  As in the heuristic, a host already
over its allocation receives nothing.
"""

import dataclasses
import time

import numpy as np
from scipy import optimize
from scipy import sparse

from cryptomine_scheduler.planning import problem as problem_mod
from cryptomine_scheduler.planning.problem import Problem

#: Slack on every capacity, as in the heuristic's feasibility check.
EPS = 1e-9


class NoSolution(RuntimeError):
    """HiGHS found no optimal solution in time."""


@dataclasses.dataclass(frozen=True)
class Optimum:
    placement: np.ndarray
    objective: float
    seconds: float


@dataclasses.dataclass(frozen=True)
class Area:
    """What a solve may change: the ``free`` instances, (N,) bool, may go
    to the ``hosts``, (H,) bool (which hold their current host and where
    ``placement`` puts them); every other instance stays where
    ``placement``, (N,) int, puts it."""

    placement: np.ndarray
    free: np.ndarray
    hosts: np.ndarray

    @classmethod
    def everything(cls, p: Problem) -> 'Area':
        """Every instance free among every host: the whole fleet."""
        return cls(p.current.copy(), np.ones(len(p.instances), dtype=bool),
                   np.ones(len(p.hosts), dtype=bool))


def _allowed(p: Problem, area: Area) -> np.ndarray:
    """(N, H) where each instance may be (its own host always)."""
    n = len(p.instances)
    src = p.current
    ok = p.zone[None, :] == p.zone[src][:, None]
    ok &= (p.wants_accelerator[:, None] & ~p.host_accelerators[None, :]) == 0
    ok &= p.accepts_moves[None, :]
    ok &= p.movable[:, None]
    over = (p.allocated(src) > p.alloc_capacity + EPS).any(axis=1)
    ok &= ~over[None, :]
    fixed = ~area.free
    for g in np.unique(p.anti_affinity[p.anti_affinity >= 0]):
        members = p.anti_affinity == g
        taken = np.zeros(len(p.hosts), dtype=bool)
        taken[area.placement[members & fixed]] = True
        ok[members] &= ~taken
    ok[np.arange(n), src] = True
    return ok


class _Rows:
    """The constraint matrix, gathered as coordinates."""

    def __init__(self):
        self.rows, self.cols, self.values = [], [], []
        self.lower, self.upper = [], []
        self.count = 0

    def _append(self, rows, cols, values, count: int, lo, hi) -> None:
        self.rows.append(self.count + rows)
        self.cols.append(cols)
        self.values.append(values)
        self.lower.append(np.broadcast_to(lo, count).astype(float))
        self.upper.append(np.broadcast_to(hi, count).astype(float))
        self.count += count

    def add(self, cols: np.ndarray, coeffs: np.ndarray, lo, hi) -> None:
        """Rows ``lo <= coeffs @ x[cols] <= hi``: ``coeffs`` is (rows,
        len(cols)) or one row, ``lo`` and ``hi`` one value or one per
        row."""
        coeffs = np.broadcast_to(np.atleast_2d(coeffs),
                                 (np.atleast_2d(coeffs).shape[0],
                                  len(cols)))
        count = coeffs.shape[0]
        self._append(np.repeat(np.arange(count), len(cols)),
                     np.tile(cols, count), coeffs.ravel(), count, lo, hi)

    def add_sums(self, group: np.ndarray, count: int, lo, hi) -> None:
        """Rows ``lo <= sum of x[j] for j with group[j] == g <= hi``,
        one for each ``g`` below ``count``."""
        self._append(group, np.arange(len(group)), np.ones(len(group)),
                     count, lo, hi)

    def constraint(self, width: int) -> optimize.LinearConstraint:
        lower = np.concatenate(self.lower)
        matrix = sparse.csr_matrix(
            (np.concatenate(self.values),
             (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(len(lower), width))
        return optimize.LinearConstraint(matrix, lower,
                                         np.concatenate(self.upper))


def _solve(p: Problem, area: Area, move_price: float,
           time_limit: float) -> tuple[np.ndarray | None, bool]:
    """The best placement of ``area`` HiGHS finds (None: none) and
    whether it is optimal; ``move_price`` is added to each move's cost."""
    free = area.free
    hosts = np.flatnonzero(area.hosts)
    inst, host = np.nonzero(_allowed(p, area)[:, area.hosts] & free[:, None])
    host = hosts[host]
    r, kinds = p.capacity.shape[1], len(problem_mod.DEVICES)
    nx, ne, ns = len(inst), len(hosts) * r, len(hosts) * kinds
    # x, then e and d (the deviation u - t) by host and resource, then s.
    width = nx + 2 * ne + ns
    moves = host != p.current[inst]

    fixed = ~free
    fixed_load = p.load(area.placement, fixed)
    fixed_alloc = p.allocated(area.placement, fixed)
    fixed_held = p.held(area.placement, fixed)

    cost = np.zeros(width)
    cost[:nx] = p.host_cost[host] + moves * (p.move_cost[inst] + move_price)
    cost[nx:nx + ne] = p.host_weights()[hosts].ravel()
    cost[nx + 2 * ne:] = (p.limits.device_weight * p.device_pressure[hosts]
                      / np.maximum(p.device_count[hosts], 1.0)).ravel()
    lower, upper = np.zeros(width), np.r_[np.ones(nx),
                                          np.full(width - nx, np.inf)]
    rows = _Rows()
    free_ids = np.flatnonzero(free)
    rows.add_sums(np.searchsorted(free_ids, inst), len(free_ids),
                  1.0, 1.0)                           # one host each
    moved_fixed = int((area.placement[fixed] != p.current[fixed]).sum())
    rows.add(np.flatnonzero(moves), np.ones(1), -np.inf,
             p.limits.max_moves - moved_fixed)

    target = p.target()
    tangents = problem_mod.tangent_points()
    load_ceiling = p.load_ceiling()
    alloc_ceiling = p.alloc_ceiling()
    room = p.device_room()
    groups = np.unique(p.anti_affinity[p.anti_affinity >= 0])
    for slot, k in enumerate(hosts):
        at = np.flatnonzero(host == k)
        for res in range(r):
            share = p.demand[inst[at], res] / p.capacity[k, res]
            settled = fixed_load[k, res] / p.capacity[k, res]
            offset = target[res] - settled
            ceiling = load_ceiling[k, res] + EPS - settled
            # d = u - t = share @ x - offset, within what the host can
            # reach, and e >= a * (2 d - a) for the tangents there.
            e, d = nx + slot * r + res, nx + ne + slot * r + res
            lower[d] = -offset - EPS
            upper[d] = min(share.sum(), ceiling) - offset
            rows.add(np.r_[at, d], np.r_[share, -1.0], offset, offset)
            near = tangents[(tangents >= lower[d] - problem_mod.GRID)
                            & (tangents <= upper[d] + problem_mod.GRID)]
            rows.add(np.array([d, e]), np.c_[2 * near, -np.ones(len(near))],
                     -np.inf, near * near)
        for res in range(p.alloc_demand.shape[1]):
            rows.add(at, p.alloc_demand[inst[at], res], -np.inf,
                     alloc_ceiling[k, res] + EPS - fixed_alloc[k, res])
        for kind in range(kinds):
            holding = at[p.holds[inst[at]] == kind]
            if not len(holding):
                continue
            each = p.hold_count[inst[holding]]
            already = int(fixed_held[k, kind])
            rows.add(holding, each, -np.inf, room[k, kind] + EPS - already)
            # s >= a * (2 n - a) for every whole count n can reach.
            counts = np.arange(
                already, int(min(room[k, kind], already + each.sum()))
                + 1, dtype=float)
            s = nx + 2 * ne + slot * kinds + kind
            rows.add(np.r_[holding, s],
                     np.c_[2.0 * counts[:, None] * each[None, :],
                           -np.ones(len(counts))],
                     -np.inf, counts * counts - 2.0 * counts * already)
        for g in groups:
            members = p.anti_affinity == g
            together = at[members[inst[at]]]
            if len(together):
                before = int((p.current[members] == k).sum())
                placed_here = int((area.placement[members & fixed]
                                   == k).sum())
                rows.add(together, np.ones(1), -np.inf,
                         max(max(1, before) - placed_here, 0))

    result = optimize.milp(
        cost, integrality=np.r_[np.ones(nx), np.zeros(width - nx)],
        bounds=optimize.Bounds(lower, upper),
        constraints=rows.constraint(width),
        options={'time_limit': max(time_limit, 0.0), 'disp': False})
    if result.x is None:
        return None, False
    placement = area.placement.copy()
    chosen = result.x[:nx] > 0.5
    placement[inst[chosen]] = host[chosen]
    return placement, result.status == 0


def solve(p: Problem, time_limit: float = 60.0) -> Optimum:
    """The optimal placement; raise :class:`NoSolution` if none in time."""
    started = time.perf_counter()
    placement, optimal = _solve(p, Area.everything(p), 0.0, time_limit)
    if not optimal:
        raise NoSolution(f'HiGHS: no optimum in {time_limit} s')
    return Optimum(placement=placement, objective=p.objective(placement),
                   seconds=time.perf_counter() - started)


def improve(p: Problem, area: Area, time_limit: float,
            move_price: float = 0.0) -> np.ndarray | None:
    """The best placement of ``area`` HiGHS finds within ``time_limit``
    seconds, each move also costing ``move_price``; None if none."""
    return _solve(p, area, move_price, time_limit)[0]
