"""The fast planner: a vectorised beam search over moves and swaps.

Each step scores every (candidate instance, candidate destination) pair
at once with numpy, as the change of the objective (see :mod:`.problem`)
if that one instance moved, masks the infeasible pairs, and keeps the
best few resulting placements (the *beam*) for the next step, along
with the best exchange of two instances (on two resources, balance
often needs a CPU-heavy instance traded for a memory-heavy one; a beam
of one tries exchanges only where no single move helps).
Every placement is scored as its objective plus ``min_gain`` per
instance moved, and the best one seen wins: so each move must gain at
least ``min_gain`` net of its migration cost, a balanced fleet is left
alone, and at most ``max_moves`` instances move.
A beam ends a few steps after its last improvement.

Candidates are the instances on the most loaded hosts and the least
loaded destinations (all of them on a small fleet), which keeps a step
cheap on a large one.

The search is anytime, within ``Limits.planning_budget`` seconds: a
beam of one (greedy) first, for a plan fast (if it finds nothing, the
fleet is left alone), then beams of each width of ``WIDTHS`` in turn,
each from the current placement, until one improves the best plan by
less than ``min_gain`` (not a move's worth), the next one would not
finish within what is left of the budget (its cost is foreseen from the
last beam's, in proportion to the width), or the budget runs out (it
is read before each placement of a beam is expanded); the best
placement seen wins.  A beam never takes a move back, so the best plan
is then polished: one of its moves undone and the best move or exchange
from there made instead, while that gains, for at most ``POLISH_TRIES``
moves undone.

Where every widening found a move's worth more, the moves interact
(the move budget binds on a small fleet, say), and what the optimum
differs by is rarely one move: it reassigns the moved instances in a
cycle, or exchanges one or two of them for others.  So the best plan is
then *refined*: a neighbourhood of it, the instances it moves and those
of one more host, or of two of the ``AREA_PAIRS`` first (``AREA_INSTANCES``
at most), free among the hosts its moves leave and reach and the hottest
and coldest others (``AREA_HOSTS`` at least), is solved exactly
(:func:`.exact.improve`), one host after another, then pair after pair,
again from each better plan, until none gains
a move's worth or the next solve, foreseen to take as long as the last,
would not end within the budget.  Ties go to the lowest index: the same
input gives the same plan whenever the search ends within its budget.
"""

import copy
import dataclasses
import itertools
import time
from collections.abc import Callable

import numpy as np

from cryptomine_scheduler.planning import efficacy as efficacy_mod
from cryptomine_scheduler.planning import exact
from cryptomine_scheduler.planning.problem import Problem
from cryptomine_scheduler.planning.problem import square

#: Hosts whose instances are candidates in one step, most loaded first.
SOURCE_HOSTS = 64
#: Destinations scored in one step, least loaded first.
DESTINATION_HOSTS = 128
#: Hosts on each side of the exchanges scored in one step.
SWAP_HOSTS = 16
#: Placements kept per step by the successive searches (docstring).
WIDTHS = (1, 2, 4, 16, 64)
#: Single moves each kept placement is expanded with.
BRANCH = 8
#: Steps without improvement before the search ends.
PATIENCE = 3
#: Moves taken back in polishing, at most.
POLISH_TRIES = 20
#: Instances an exact solve of the refinement frees, at most, and the
#: hosts it may place them on, at least (module docstring).
AREA_INSTANCES = 24
AREA_HOSTS = 8
#: Hosts, the first in that order, whose instances are freed by twos.
AREA_PAIRS = 4


@dataclasses.dataclass(frozen=True)
class Move:
    """One planned migration.

    ``gain`` is the objective's improvement when it is made, net of its
    cost; ``after`` are the positions of earlier moves out of
    ``destination`` that it relies on (their freed room): if one of them
    fails, this one is skipped.
    """

    instance: str
    source: str
    destination: str
    memory_mb: float
    gain: float
    after: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Plan:
    """The planner's answer."""

    placement: np.ndarray
    moves: tuple[Move, ...]
    efficacy: efficacy_mod.Efficacy
    seconds: float


def _smallest(values: np.ndarray, count: int) -> np.ndarray:
    """Flat indices of the ``count`` smallest values of a matrix,
    smallest (then lowest index) first."""
    rows, width = values.shape
    if count < rows:
        # The count smallest values lie in the rows whose minimum is at
        # most the count-th smallest row minimum (ties included, so that
        # the lowest indices win them): a partition of the row minima
        # instead of every value.
        least = values.min(axis=1)
        rows = np.flatnonzero(least <= np.partition(least, count - 1)[
            count - 1])
    else:
        rows = np.arange(rows)
    part = (rows[:, None] * width + np.arange(width)).ravel()
    return part[np.lexsort((part, values[rows].ravel()))][:count]


class _State:
    """A placement being improved, with its per-host totals and score."""

    def __init__(self, problem: Problem):
        self.p = problem
        self.target = problem.target()
        self.host_weights = problem.host_weights()
        self.load_ceiling = problem.load_ceiling()
        #: What placement lets a host hold: a host already over it (a
        #: lowered allocation ratio) receives nothing, as nova refuses.
        self.room = problem.alloc_capacity
        self.placement = problem.current.copy()
        self.load = problem.load(self.placement)
        self.alloc = problem.allocated(self.placement)
        self.held = problem.held(self.placement)
        self.device_room = problem.device_room()
        #: Whether instances hold devices, and whether any is under
        #: pressure (the mining term can change).
        self.holding = bool((problem.holds >= 0).any())
        self.mining = self.holding and bool(
            problem.limits.device_weight
            and (problem.device_pressure > 0).any())
        #: What makes a host a source beyond its load: its cost, the
        #: pressure on its devices.
        self.extra = (problem.host_cost + problem.limits.device_weight
                      * problem.device_pressure.max(axis=1, initial=0.0))
        self.value = problem.objective(self.placement)
        self.moves = 0

    def copy(self) -> '_State':
        twin = copy.copy(self)
        twin.placement = self.placement.copy()
        twin.load = self.load.copy()
        twin.alloc = self.alloc.copy()
        twin.held = self.held.copy()
        return twin

    def score(self) -> float:
        """The objective plus ``min_gain`` per instance moved."""
        return self.value + self.p.limits.min_gain * self.moves

    def deviation(self) -> np.ndarray:
        return self.load / self.p.capacity - self.target

    def pressure(self, dev: np.ndarray) -> np.ndarray:
        """(H,) how much each host wants to shed: its load's deviation,
        its cost and the pressure on its devices."""
        return dev @ self.p.weights + self.extra

    def _hosts(self, dev: np.ndarray, hot: int,
               cold: int) -> tuple[np.ndarray, np.ndarray]:
        """Masks of the ``hot`` most loaded hosts and of the ``cold``
        least loaded hosts that accept moves."""
        pressure = self.pressure(dev)
        order = np.argsort(-pressure, kind='stable')
        hottest = np.zeros(len(self.p.hosts), dtype=bool)
        hottest[order[:hot]] = True
        order = np.argsort(pressure, kind='stable')
        order = order[self.p.accepts_moves[order]]
        coldest = np.zeros(len(self.p.hosts), dtype=bool)
        coldest[order[:cold]] = True
        return hottest, coldest

    def feasible(self, inst: np.ndarray, dest: np.ndarray) -> np.ndarray:
        """Mask of the moves ``inst`` to ``dest`` the constraints allow.

        ``inst`` and ``dest`` broadcast: a column and a row give the
        matrix of every pair, two equal-length vectors the pairwise moves.
        """
        p = self.p
        src = self.placement[inst]
        ok = (p.zone[dest] == p.zone[src]) & (dest != src)
        ok &= (p.wants_accelerator[inst] & ~p.host_accelerators[dest]) == 0
        ok &= p.accepts_moves[dest] | (dest == p.current[inst])
        for k in range(p.alloc_demand.shape[1]):
            ok &= (self.alloc[dest, k] + p.alloc_demand[inst, k]
                   <= self.room[dest, k] + 1e-9)
        for r in range(p.demand.shape[1]):
            ok &= ((self.load[dest, r] + p.demand[inst, r])
                   <= (self.load_ceiling[dest, r] + 1e-9)
                   * p.capacity[dest, r])
        if self.holding:
            kind = p.holds[inst]
            column = np.maximum(kind, 0)
            ok &= (kind < 0) | (self.held[dest, column] + p.hold_count[inst]
                                <= self.device_room[dest, column] + 1e-9)
        return ok & self._apart(inst, dest)

    def _swap_fits(self, first, second, a, b) -> np.ndarray:
        """Whether nova can make the exchange: one of the two migrations
        fits its destination as it is, and the other fits once the first
        has ended (nova holds a migrating guest on both hosts)."""
        free = self.room + 1e-9 - self.alloc
        into_a = into_b = into_a_after = into_b_after = True
        # A resource at a time: no (first, second, resource) temporaries.
        for k in range(free.shape[1]):
            need_first = self.p.alloc_demand[first, k]
            need_second = self.p.alloc_demand[second, k]
            free_a, free_b = free[a, k], free[b, k]
            into_b = into_b & (need_first <= free_b)
            into_a = into_a & (need_second <= free_a)
            into_a_after = into_a_after & (need_second - need_first
                                           <= free_a)
            into_b_after = into_b_after & (need_first - need_second
                                           <= free_b)
        return (into_b & into_a_after) | (into_a & into_b_after)

    def _apart(self, inst: np.ndarray, dest: np.ndarray,
               leaving: np.ndarray | None = None) -> np.ndarray:
        """False where ``dest`` holds another member of ``inst``'s
        anti-affinity group, ``leaving`` (which goes) aside."""
        groups = self.p.anti_affinity[inst]
        shape = np.broadcast_shapes(np.shape(inst), np.shape(dest),
                                    np.shape(leaving))
        ok = np.ones(shape, dtype=bool)
        for g in np.unique(groups[groups >= 0]):
            members = np.flatnonzero(self.p.anti_affinity == g)
            count = np.bincount(self.placement[members],
                                minlength=len(self.p.hosts))[dest]
            if leaving is not None:
                count = count - (self.p.anti_affinity[leaving] == g)
            ok &= ~((groups == g) & (count > 0))
        return ok

    def _moves_delta(self, inst, dest) -> np.ndarray:
        """+1 where a move takes an instance away from its home, -1 where
        it brings it back."""
        home = self.p.current[inst]
        return (dest != home) - (self.placement[inst] != home).astype(int)

    def delta(self, inst, dest, dev: np.ndarray,
              moved: np.ndarray | None = None) -> np.ndarray:
        """Objective change of moving ``inst`` to ``dest``, feasible or
        not (broadcast as in :meth:`feasible`); ``moved`` is their
        :meth:`_moves_delta` where known."""
        p = self.p
        src = self.placement[inst]
        if moved is None:
            moved = self._moves_delta(inst, dest)
        change = (p.move_cost[inst] * moved
                  + p.host_cost[dest] - p.host_cost[src])
        if self.mining:
            change = change + self._device_delta(inst, src, dest)
        for r, weight in enumerate(p.weights):
            if not weight:
                continue
            removed = p.demand[inst, r] / p.capacity[src, r]
            added = p.demand[inst, r] / p.capacity[dest, r]
            change = change + (
                self.host_weights[src, r]
                * (square(dev[src, r] - removed) - square(dev[src, r]))
                + self.host_weights[dest, r]
                * (square(dev[dest, r] + added) - square(dev[dest, r])))
        return change

    def _device_delta(self, inst, src, dest) -> np.ndarray:
        """Change of the mining term when ``inst`` goes from ``src`` to
        ``dest``: the ``k`` devices of its kind it holds fewer held on
        one, ``k`` more on the other."""
        p = self.p
        kind, k = p.holds[inst], p.hold_count[inst]
        column = np.maximum(kind, 0)
        per_device = p.device_pressure / np.maximum(p.device_count, 1.0)
        before, after = self.held[src, column], self.held[dest, column]
        change = k * (per_device[src, column] * (k - 2.0 * before)
                      + per_device[dest, column] * (2.0 * after + k))
        return p.limits.device_weight * np.where(kind >= 0, change, 0.0)

    def changes(self, inst: np.ndarray, dest: np.ndarray,
                dev: np.ndarray) -> np.ndarray:
        """Score change of each feasible move; inf where infeasible."""
        moved = self._moves_delta(inst, dest)
        change = (self.delta(inst, dest, dev, moved)
                  + self.p.limits.min_gain * moved)
        return np.where(self.feasible(inst, dest), change, np.inf)

    def best_moves(self, count: int) -> list[tuple[float, tuple]]:
        """The ``count`` best single moves: (score change, ((i, h),))."""
        dev = self.deviation()
        hot, cold = self._hosts(dev, SOURCE_HOSTS, DESTINATION_HOSTS)
        inst = np.flatnonzero(self.p.movable & hot[self.placement])
        dest = np.flatnonzero(cold)
        if not len(inst) or not len(dest):
            return []
        change = self.changes(inst[:, None], dest[None, :], dev)
        top = _smallest(change, count)
        change = change.ravel()
        return [(float(change[k]),
                 ((int(inst[k // len(dest)]), int(dest[k % len(dest)])),))
                for k in top if np.isfinite(change[k])]

    def best_swap(self) -> list[tuple[float, tuple]]:
        """The best exchange of two instances, if any is feasible."""
        p = self.p
        dev = self.deviation()
        hot, cold = self._hosts(dev, SWAP_HOSTS, SWAP_HOSTS)
        first = np.flatnonzero(
            p.movable & hot[self.placement]
            & p.accepts_moves[self.placement])[:, None]
        second = np.flatnonzero(p.movable & cold[self.placement])[None, :]
        if not first.size or not second.size:
            return []
        a, b = self.placement[first], self.placement[second]
        change = ((p.move_cost[first] + p.limits.min_gain)
                  * self._moves_delta(first, b)
                  + (p.move_cost[second] + p.limits.min_gain)
                  * self._moves_delta(second, a))
        ok = (a != b) & (p.zone[a] == p.zone[b])
        # Instances holding devices move alone (their device room).
        ok &= (p.holds[first] < 0) & (p.holds[second] < 0)
        ok &= (p.wants_accelerator[first] & ~p.host_accelerators[b]) == 0
        ok &= (p.wants_accelerator[second] & ~p.host_accelerators[a]) == 0
        ok &= self._swap_fits(first, second, a, b)
        for r in range(len(p.weights)):
            net = p.demand[second, r] - p.demand[first, r]
            for host, sign in ((a, 1.0), (b, -1.0)):
                ok &= (self.load[host, r] + sign * net
                       <= (self.load_ceiling[host, r] + 1e-9)
                       * p.capacity[host, r])
                shift = sign * net / p.capacity[host, r]
                change = change + self.host_weights[host, r] * (
                    square(dev[host, r] + shift) - square(dev[host, r]))
        ok &= self._apart(first, b, second) & self._apart(second, a, first)
        change = np.where(ok, change, np.inf)
        k = int(np.argmin(change))
        if not np.isfinite(change.flat[k]):
            return []
        i, j = divmod(k, change.shape[1])
        one, other = int(first[i, 0]), int(second[0, j])
        return [(float(change[i, j]), ((one, int(b[0, j])),
                                       (other, int(a[i, 0]))))]

    def options(self, swaps: bool) -> list[tuple[float, tuple]]:
        """Next steps worth trying: the best moves, and the best swap
        with ``swaps`` or when no move improves the score."""
        found = self.best_moves(BRANCH)
        if swaps or not found or found[0][0] >= 0:
            found += self.best_swap()
        return found

    def apply(self, inst: int, dest: int) -> None:
        p = self.p
        src = self.placement[inst]
        self.value += float(self.delta(inst, dest, self.deviation()))
        self.moves += int(self._moves_delta(inst, dest))
        self.load[src] -= p.demand[inst]
        self.load[dest] += p.demand[inst]
        self.alloc[src] -= p.alloc_demand[inst]
        self.alloc[dest] += p.alloc_demand[inst]
        kind = p.holds[inst]
        if kind >= 0:
            self.held[src, kind] -= p.hold_count[inst]
            self.held[dest, kind] += p.hold_count[inst]
        self.placement[inst] = dest


class _Budget:
    """The seconds a search may take, read from ``clock``."""

    def __init__(self, seconds: float, clock: Callable[[], float]):
        self.start = clock()
        self.deadline = self.start + seconds
        self.clock = clock

    def spent(self) -> bool:
        return self.clock() >= self.deadline


def _beam(root: _State, width: int, budget: _Budget) -> _State:
    """The best state a beam of ``width`` reaches from ``root`` (module
    docstring) before it stalls or ``budget`` is spent."""
    limits = root.p.limits
    best, beam, stale = root, [root], 0
    for _ in range(2 * limits.max_moves + PATIENCE):
        options, spent = [], False
        for k, state in enumerate(beam):
            spent = budget.spent()
            if spent:
                break  # the states expanded so far make the last step
            for change, steps in state.options(swaps=width > 1):
                options.append((state.score() + change, k, steps))
        chosen, seen = [], set()
        for _score, k, steps in sorted(options):
            state = beam[k].copy()
            for inst, dest in steps:
                state.apply(inst, dest)
            key = state.placement.tobytes()
            if key in seen or state.moves > limits.max_moves:
                continue
            seen.add(key)
            chosen.append(state)
            if len(chosen) == width:
                break
        if chosen and chosen[0].score() < best.score() - 1e-12:
            best, stale = chosen[0], 0
        else:
            stale += 1
        if not chosen or spent or stale >= PATIENCE:
            break
        beam = chosen
    return best


def _polish(best: _State, budget: _Budget) -> _State:
    """``best`` with one of its moves taken back and the best move or
    exchange made instead, while that lowers the score, for at most
    ``POLISH_TRIES`` moves taken back and while ``budget`` lasts (a beam
    never takes a move back)."""
    p = best.p
    tries = POLISH_TRIES
    improved = True
    while improved and tries > 0 and not budget.spent():
        improved = False
        for inst in np.flatnonzero(best.placement != p.current):
            tries -= 1
            back = np.array([p.current[inst]])
            if not np.isfinite(best.changes(np.array([inst]), back,
                                            best.deviation())[0]):
                continue  # its host has no room for it any more
            trial = best.copy()
            trial.apply(int(inst), int(back[0]))
            for change, steps in trial.options(swaps=True):
                if trial.score() + change >= best.score() - 1e-12:
                    continue
                found = trial.copy()
                for i, dest in steps:
                    found.apply(i, dest)
                if found.moves <= p.limits.max_moves:
                    best, improved = found, True
                    break
            if improved or tries <= 0 or budget.spent():
                break
    return best


def _areas(state: _State):
    """The neighbourhoods of ``state`` to solve exactly, in turn: the
    instances it moves, with those on one more host (the hosts the moves
    leave, then the others, hottest first), then with those on two of the
    first ``AREA_PAIRS`` of these hosts, free among the hosts the moves
    leave and reach and the hottest and coldest others."""
    p = state.p
    moved = np.flatnonzero(state.placement != p.current)
    pressure = state.pressure(state.deviation())
    hot = np.argsort(-pressure, kind='stable')
    cold = hot[::-1][p.accepts_moves[hot[::-1]]]
    chosen = dict.fromkeys(np.r_[p.current[moved], state.placement[moved]]
                           .tolist())
    for pair in itertools.zip_longest(hot.tolist(), cold.tolist()):
        for h in pair:
            if h is not None and len(chosen) < AREA_HOSTS:
                chosen.setdefault(h)
    hosts = np.zeros(len(p.hosts), dtype=bool)
    hosts[list(chosen)] = True
    leave = set(p.current[moved].tolist())
    order = sorted(hot[hosts[hot]].tolist(), key=lambda h: h not in leave)
    seen = set()
    for group in [*([h] for h in order),
                  *itertools.combinations(order[:AREA_PAIRS], 2)]:
        staying = np.flatnonzero(p.movable & np.isin(state.placement, group)
                                 & (p.current == state.placement))
        free = np.zeros(len(p.instances), dtype=bool)
        free[np.r_[moved, staying][:AREA_INSTANCES]] = True
        if free.tobytes() not in seen:
            seen.add(free.tobytes())
            yield exact.Area(state.placement, free, hosts)


def _refine(best: _State, budget: _Budget) -> _State:
    """``best`` improved by solving its neighbourhoods (:func:`_areas`)
    exactly, from each better plan again, until none gains a move's
    worth or the next solve, foreseen to take as long as the last one,
    would not finish within the budget."""
    p = best.p
    improved, last_cost = True, 0.0
    while improved:
        improved = False
        for area in _areas(best):
            started = budget.clock()
            if started + last_cost > budget.deadline:
                return best
            found = exact.improve(p, area, budget.deadline - started,
                                  p.limits.min_gain)
            last_cost = budget.clock() - started
            if found is None:
                return best
            reached = _sequence(p, found)[1]
            trial = best.copy()
            for inst in np.flatnonzero(reached != best.placement):
                trial.apply(int(inst), int(reached[inst]))
            if best.score() - trial.score() >= max(p.limits.min_gain,
                                                   1e-9):
                best, improved = trial, True
                break
    return best


def _search(problem: Problem, budget: _Budget) -> np.ndarray:
    """The best placement the successive beams find (module
    docstring)."""
    root = _State(problem)
    best = _beam(root, WIDTHS[0], budget)
    if best is root:
        return root.placement  # no move or exchange gains: left alone
    last_width, ended = WIDTHS[0], budget.clock()
    last_cost = ended - budget.start
    for width in WIDTHS[1:]:
        if ended + last_cost * width / last_width > budget.deadline:
            break  # it would not finish within the budget
        found = _beam(root, width, budget)
        last_width, started, ended = width, ended, budget.clock()
        last_cost = ended - started
        gained = best.score() - found.score()
        if gained > 0:
            best = found
        if max(gained, 0.0) < problem.limits.min_gain:
            break  # widening no longer finds a move's worth
    else:
        # Every widening found more: the moves interact, and exact
        # solves of neighbourhoods go on where the widest beam ended.
        return _refine(_polish(best, budget), budget).placement
    return _polish(best, budget).placement


def _sequence(problem: Problem, placement: np.ndarray
              ) -> tuple[list[Move], np.ndarray]:
    """Order the moves from ``problem.current`` to ``placement``, and
    the placement they reach.

    Best gain first among those feasible at their turn, so a move into a
    host comes after the moves out of it that make room; moves that never
    become feasible (nova would refuse them) are left out.
    """
    state = _State(problem)
    todo = np.flatnonzero(placement != problem.current)
    moves: list[Move] = []
    while len(todo):
        dev = state.deviation()
        change = np.where(state.feasible(todo, placement[todo]),
                          state.delta(todo, placement[todo], dev), np.inf)
        if not np.isfinite(change).any():
            break  # what is left nova would refuse: not planned
        k = int(np.argmin(change))
        inst, dest = int(todo[k]), int(placement[todo[k]])
        destination = problem.hosts[dest]
        moves.append(Move(
            instance=problem.instances[inst],
            source=problem.hosts[problem.current[inst]],
            destination=destination,
            memory_mb=float(problem.alloc_demand[inst, 1]),
            gain=-float(change[k]),
            after=tuple(n for n, m in enumerate(moves)
                        if m.source == destination)))
        state.apply(inst, dest)
        todo = np.delete(todo, k)
    return moves, state.placement


def plan(problem: Problem,
         clock: Callable[[], float] = time.perf_counter) -> Plan:
    """Improve ``problem.current`` within ``problem.limits.
    planning_budget`` seconds of ``clock``; see the module docstring."""
    started = clock()
    budget = _Budget(problem.limits.planning_budget, clock)
    moves, placement = _sequence(problem, _search(problem, budget))
    return Plan(placement=placement, moves=tuple(moves),
                efficacy=efficacy_mod.efficacy(problem, placement),
                seconds=clock() - started)
