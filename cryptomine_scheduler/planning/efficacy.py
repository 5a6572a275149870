"""How good a placement is: the figures a plan reports."""

import dataclasses

import numpy as np

from cryptomine_scheduler.planning.problem import Problem


@dataclasses.dataclass(frozen=True)
class Balance:
    """The fleet's predicted load under one placement.

    ``sigma`` and ``peak`` are over each host's weighted utilisation
    (0-1); ``overloaded`` counts hosts above the load limit in any
    resource.
    """

    objective: float
    sigma: float
    peak: float
    overloaded: int


@dataclasses.dataclass(frozen=True)
class Efficacy:
    """Before and after, and what it takes to get there."""

    before: Balance
    after: Balance
    moves: int
    gb_to_move: float

    @property
    def gain_per_move(self) -> float:
        if not self.moves:
            return 0.0
        return (self.before.objective - self.after.objective) / self.moves

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self),
                'gain_per_move': self.gain_per_move}


def balance(problem: Problem, placement: np.ndarray) -> Balance:
    """Score ``placement`` (see :class:`Balance`)."""
    utilisation = problem.load(placement) / problem.capacity
    weighted = utilisation @ problem.weights
    over = (utilisation > problem.limit + 1e-9).any(axis=1)
    return Balance(
        objective=problem.objective(placement),
        sigma=float(weighted.std()) if len(weighted) else 0.0,
        peak=float(weighted.max()) if len(weighted) else 0.0,
        overloaded=int(over.sum()))


def efficacy(problem: Problem, placement: np.ndarray) -> Efficacy:
    moved = placement != problem.current
    return Efficacy(
        before=balance(problem, problem.current),
        after=balance(problem, placement),
        moves=int(moved.sum()),
        gb_to_move=float(problem.memory_gb[moved].sum()))
