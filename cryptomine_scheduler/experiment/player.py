# ruff: noqa: UP006, UP035 - the guest may run Python 3.6
"""The load player: a trace VM's CPU and memory, inside its guest.

Runs on a stock cloud image (Python 3.6 or later, standard library
only): cloud-init writes this file and its schedule into the guest and
starts ``python3 player.py schedule.json``.  The schedule (JSON)::

    {"start_at": 1700000000.0,  # Unix time of step 0 (absent: now)
     "step": 30.0,              # seconds per step (already compressed)
     "vcpus": 2,                # one worker process per vCPU
     "cpu": [0.5, 1.7, null],   # busy vCPUs per step (null: idle)
     "memory_mb": [512, 600, null]}

Worker ``k`` keeps its vCPU busy ``min(1, max(0, cpu - k))`` of every
:data:`PERIOD`: it spins until its own CPU time for the period reaches
that share (so a guest that loses time to its neighbours still does
the work asked) and sleeps the rest.  The main process holds a
bytearray of the step's memory and writes one byte per page of it each
step, so the guest's RSS follows the trace.  A player that starts late
joins the schedule where it stands; it exits after the last step, or
cleanly (status 0, workers stopped) on SIGTERM or SIGINT.
"""

import json
import math
import os
import signal
import sys
import time
from typing import List
from typing import NamedTuple
from typing import Optional

#: Seconds of one busy/idle cycle of a worker.
PERIOD = 0.1
#: Bytes between the writes that make memory resident.
PAGE = 4096


class Schedule(NamedTuple):
    """What the player reproduces; see the module docstring."""

    start_at: float
    step: float
    vcpus: int
    cpu: List[Optional[float]]
    memory_mb: List[Optional[float]]

    @property
    def end(self) -> float:
        return self.start_at + self.step * len(self.cpu)

    def position(self, now: float) -> int:
        """The step at Unix time ``now`` (may be outside the schedule)."""
        return int(math.floor((now - self.start_at) / self.step))

    def duty(self, worker: int, step: int) -> float:
        """The busy share of worker ``worker``'s vCPU at ``step``."""
        if not 0 <= step < len(self.cpu) or self.cpu[step] is None:
            return 0.0
        return min(1.0, max(0.0, self.cpu[step] - worker))

    def memory_bytes(self, step: int) -> int:
        if not 0 <= step < len(self.memory_mb):
            return 0
        value = self.memory_mb[step]
        return int(max(0.0, value or 0.0) * 1024 * 1024)


def load(path: str, now: float) -> Schedule:
    """The schedule in JSON file ``path``; step 0 at ``now`` unless it
    says when."""
    with open(path) as f:
        data = json.load(f)
    cpu = list(data['cpu'])
    memory = list(data.get('memory_mb') or [None] * len(cpu))
    if len(memory) != len(cpu):
        raise ValueError('cpu and memory_mb differ in length')
    step = float(data['step'])
    vcpus = int(data.get('vcpus', 1))
    if step <= 0 or vcpus < 1:
        raise ValueError('step must be above 0 and vcpus at least 1')
    start = data.get('start_at')
    return Schedule(start_at=now if start is None else float(start),
                    step=step, vcpus=vcpus, cpu=cpu, memory_mb=memory)


class _Stop(Exception):
    """SIGTERM or SIGINT arrived."""


def _raise_stop(signum, frame):
    raise _Stop()


def _spin(until_cpu: float, until_wall: float) -> None:
    while time.process_time() < until_cpu and time.time() < until_wall:
        pass


def work(schedule: Schedule, worker: int) -> None:
    """Keep one vCPU as busy as the schedule says, until its end."""
    while True:
        now = time.time()
        if now >= schedule.end:
            return
        step = schedule.position(now)
        if step < 0:
            time.sleep(min(schedule.start_at - now, 1.0))
            continue
        duty = schedule.duty(worker, step)
        period_end = now + PERIOD
        if duty > 0.0:
            _spin(time.process_time() + duty * PERIOD, period_end)
        rest = period_end - time.time()
        if rest > 0:
            time.sleep(rest)


def _touch(size: int) -> bytearray:
    """A bytearray of ``size`` bytes with every page written."""
    block = bytearray(size)
    for offset in range(0, size, PAGE):
        block[offset] = 1
    return block


def hold_memory(schedule: Schedule) -> None:
    """Hold the schedule's memory, step by step, until its end."""
    held = bytearray()
    while True:
        now = time.time()
        if now >= schedule.end:
            return
        step = schedule.position(now)
        size = schedule.memory_bytes(step)
        if size != len(held):
            held = bytearray()  # free the old block first
            held = _touch(size)
        else:
            for offset in range(0, size, PAGE):
                held[offset] = (held[offset] + 1) & 0xff
        upcoming = schedule.start_at + schedule.step * (max(step, -1) + 1)
        time.sleep(max(0.0, min(upcoming, schedule.end) - time.time()))


def _start_worker(schedule: Schedule, worker: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    status = 0
    try:
        signal.signal(signal.SIGTERM, _raise_stop)
        signal.signal(signal.SIGINT, _raise_stop)
        work(schedule, worker)
    except _Stop:
        pass
    except BaseException:  # a forked child must never return
        status = 1
    os._exit(status)


def _stop(workers: List[int]) -> None:
    for pid in workers:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in workers:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def play(schedule: Schedule) -> None:
    """Play ``schedule``: one worker process per vCPU, memory here."""
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    workers = []  # type: List[int]
    try:
        for k in range(schedule.vcpus):
            workers.append(_start_worker(schedule, k))
        hold_memory(schedule)
    except _Stop:
        pass
    finally:
        _stop(workers)


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write('usage: player.py SCHEDULE.json\n')
        return 2
    try:
        schedule = load(args[0], time.time())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        sys.stderr.write(f'player: cannot read {args[0]}: {exc}\n')
        return 2
    play(schedule)
    return 0


if __name__ == '__main__':
    sys.exit(main())
