"""What a run measured, as a simulator :class:`~cryptomine_scheduler.
simulator.engine.Run`, so the simulator's figures and plots apply.

The run's wall time is cut into the trace's steps, compressed (step
``k`` covers ``[start_at + k * s, start_at + (k + 1) * s)`` with ``s``
the trace's step over the compression) and stretched back to trace time:

* a host's CPU load at a step is the mean of the controller's samples
  (``cpu_percent``) within it; a step without one repeats the nearest
  step that has one, a host never sampled counts idle;
* a host is active at a step when it holds a server whose trace VM is
  alive then: each server is where it booted until a completed nova
  migration record moves it (at the record's update time);
* migrations are nova's completed records of the run's servers (the
  memory moved is the server's flavor's); failed ones count as moves
  refused, servers that went to ERROR as refused boots (nova cannot
  tell a lack of room from our filter's refusal).
"""

import dataclasses
import datetime

import numpy as np

from cryptomine_scheduler.experiment import record as record_mod
from cryptomine_scheduler.simulator import engine

#: nova's migration statuses of a move that happened.
DONE = ('completed', 'confirmed', 'finished')
FAILED = ('error', 'failed')


@dataclasses.dataclass(frozen=True)
class Measurements:
    """A run's record and what the cloud kept of it: each host's
    ``(Unix time, CPU %)`` samples by host name."""

    record: record_mod.Record
    history: dict[str, tuple[tuple[float, float], ...]]


def unix_time(text: str) -> float:
    """nova's timestamp (ISO 8601, UTC unless it says otherwise)."""
    moment = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _cpu(samples: tuple[tuple[float, float], ...], start: float,
         step: float, steps: int) -> np.ndarray:
    """(T,) mean CPU fraction per step, gaps filled from the nearest."""
    if not samples:
        return np.zeros(steps)
    times, values = np.array(samples, dtype=float).T
    slot = np.floor((times - start) / step).astype(np.int64)
    inside = (slot >= 0) & (slot < steps)
    total = np.bincount(slot[inside], values[inside], minlength=steps)
    count = np.bincount(slot[inside], minlength=steps)
    known = np.flatnonzero(count)
    if not known.size:
        return np.zeros(steps)
    means = total[known] / count[known] / 100.0
    nearest = np.abs(np.arange(steps)[:, None] - known[None, :]).argmin(1)
    return means[nearest]


def _moves(record: record_mod.Record) -> list[record_mod.MigrationRecord]:
    return sorted((m for m in record.migrations or () if m.status in DONE),
                  key=lambda m: unix_time(m.updated_at or m.created_at))


def run(found: Measurements, alive: np.ndarray,
        template: engine.Run) -> engine.Run:
    """The measured run; ``alive`` is the (N, T) trace VMs' lives.

    ``template`` is the simulator's run of the same trace on a CPU-only
    fleet: the measured run is a copy with what was measured in place of
    what was simulated (the players load CPU and memory only, so the
    template's accelerator readings, of no device, stay).  The hosts'
    sizes are not measured: each counts as one, in the even overload.
    """
    record = found.record
    trace_step = template.step
    setup = record.setup
    step = trace_step / setup.compression
    steps = alive.shape[1]
    servers = [s for s in record.servers()
               if s.status == 'ACTIVE' and s.host]
    moves = _moves(record)
    names = sorted(set(found.history) | {s.host for s in servers if s.host}
                   | {m.source for m in moves} | {m.destination
                                                  for m in moves})
    index = {name: i for i, name in enumerate(names)}
    cpu = np.stack([_cpu(found.history.get(n, ()), record.start_at, step,
                         steps) for n in names], axis=1) if names else \
        np.zeros((steps, 0))
    # Where each server is at the middle of each step.
    middles = record.start_at + (np.arange(steps) + 0.5) * step
    active = np.zeros((steps, len(names)), dtype=bool)
    by_id = {s.id: s for s in servers}
    migrations = []
    for server in servers:
        where = np.full(steps, index[server.host])
        for move in moves:
            if move.server_id != server.id:
                continue
            at = unix_time(move.updated_at or move.created_at)
            where[middles >= at] = index[move.destination]
        lives = alive[server.trace_index]
        active[np.flatnonzero(lives), where[lives]] = True
    for move in moves:
        server = by_id[move.server_id]
        start = unix_time(move.created_at) - record.start_at
        end = unix_time(move.updated_at or move.created_at) - record.start_at
        migrations.append(engine.Migration(
            instance=server.trace_index, source=index[move.source],
            destination=index[move.destination],
            start=start * setup.compression, end=end * setup.compression,
            memory_mb=server.memory_mb))
    ended = record.ended_at or record.start_at + setup.duration
    servers_all = record.servers()
    return dataclasses.replace(
        template, policy=f'measured {setup.policy.policy}',
        hosts=tuple(names), kinds=('cpu',) * len(names), cpu=cpu,
        memory=np.zeros_like(cpu),
        vcpus=np.ones(len(names)), active=active,
        migrations=tuple(migrations), plan_seconds=(),
        boots=len(servers_all), no_room_boots=0,
        refused_boots=sum(s.status == 'ERROR' for s in servers_all),
        refused_migrations=sum(m.status in FAILED
                               for m in record.migrations or ()),
        seconds=ended - record.start_at)
