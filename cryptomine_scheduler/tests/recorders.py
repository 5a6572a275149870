"""An in-memory :class:`~cryptomine_scheduler.replan.executor.Recorder`."""

import dataclasses
from collections.abc import Callable

from cryptomine_scheduler.db import plans
from cryptomine_scheduler.replan import executor


@dataclasses.dataclass(frozen=True)
class Call:
    """One report: ``status`` is None for a start."""

    plan_id: str
    position: int
    at: float
    status: executor.ActionStatus | None = None
    error: str | None = None
    cause: plans.ActionCause | None = None


class ListRecorder:
    """Keeps every call in order; ``on_start(position)`` runs after each
    start is recorded (to stop a round from inside it)."""

    def __init__(self, clock: Callable[[], float],
                 on_start: Callable[[int], None] | None = None):
        self.clock = clock
        self.on_start = on_start
        self.calls: list[Call] = []

    def action_started(self, plan_id: str, position: int) -> None:
        self.calls.append(Call(plan_id, position, self.clock()))
        if self.on_start is not None:
            self.on_start(position)

    def action_finished(self, plan_id: str, position: int,
                        status: executor.ActionStatus,
                        error: str | None = None,
                        cause: plans.ActionCause | None = None) -> None:
        self.calls.append(Call(plan_id, position, self.clock(), status,
                               error, cause))

    def started(self) -> list[int]:
        """Positions started, in order."""
        return [c.position for c in self.calls if c.status is None]

    def finished(self) -> dict[int, tuple[executor.ActionStatus,
                                          str | None,
                                          plans.ActionCause | None]]:
        """Position -> (status, error, cause) of every finish."""
        return {c.position: (c.status, c.error, c.cause)
                for c in self.calls if c.status is not None}

    def concurrency(self, moves) -> tuple[int, int]:
        """The most moves running at once, overall and on one host."""
        running: set[int] = set()
        most = most_per_host = 0
        for call in self.calls:
            if call.status is None:
                running.add(call.position)
            else:
                running.discard(call.position)
            hosts = [h for p in running
                     for h in (moves[p].source, moves[p].destination)]
            most = max(most, len(running))
            most_per_host = max(most_per_host, max(
                (hosts.count(h) for h in hosts), default=0))
        return most, most_per_host
