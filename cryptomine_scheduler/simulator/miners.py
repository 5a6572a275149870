"""ASIC miners' health over a run: seeded failure injection.

Each miner of an ASIC host (:class:`~.fleet.AsicSpec`) is healthy until
an event strikes it.  Three kinds, each a Poisson process of its own
rate per miner and day, each event lasting an exponentially distributed
time of its own mean:

* death (``failure_rate_per_day``, ``down_hours``): the miner is
  unavailable: it hashes nothing and reports no errors;
* sag (``sag_rate_per_day``, ``sag_hours``): a board's hashrate falls to
  a share of its baseline drawn from ``[sag_min, sag_max]`` (the lowest
  of overlapping sags);
* error burst (``error_rate_per_day``, ``error_hours``): its hardware
  errors rise by ``error_burst_per_min``.

An event covers every step it overlaps.  The processes start a day
before the run, so a run may begin with sick miners.  Each (``seed``,
host name, miner, kind) draws from a generator of its own: a host's
miners do not depend on the other hosts, and a shorter run sees the
beginning of a longer one.

The hashrate ratio is against the miner's nominal baseline, where the
controller compares with a long EWMA of what the miner did (which a
sag of hours barely moves).
"""

import dataclasses
import math
import zlib

import numpy as np

from cryptomine_scheduler.simulator import fleet as fleet_mod

DAY = fleet_mod.DAY
#: Order of the kinds in the generators' seeds.
_DEATH, _SAG, _ERRORS = range(3)


@dataclasses.dataclass(frozen=True)
class MinerHealth:
    """Each miner's state per step, ``(steps, miners)`` arrays."""

    up: np.ndarray                # bool
    hashrate_ratio: np.ndarray    # of its baseline; 0 while down
    errors_per_min: np.ndarray    # 0 while down


def _events(seed: tuple[int, ...], rate_per_day: float,
            mean_hours: float, span: float) -> list[tuple]:
    """(start, end, uniform draw) of the events before ``span`` seconds,
    from a day before 0, drawn from a generator seeded with ``seed``."""
    events: list[tuple] = []
    if rate_per_day <= 0:
        return events
    rng = np.random.default_rng(seed)
    t = -DAY
    while True:
        t += rng.exponential(DAY / rate_per_day)
        if t >= span:
            return events
        events.append((t, t + rng.exponential(mean_hours * 3600.0),
                       rng.random()))


def _steps(start: float, end: float, step: float, steps: int) -> slice:
    """The steps ``[start, end)`` overlaps (possibly none)."""
    first = max(0, math.floor(start / step))
    return slice(first, max(first, min(steps, math.ceil(end / step))))


def host_health(spec: fleet_mod.AsicSpec, host: str, steps: int,
                step: float) -> MinerHealth:
    """The health of the miners of ``host`` (module docstring)."""
    up = np.ones((steps, spec.count), dtype=bool)
    ratio = np.ones((steps, spec.count))
    errors = np.full((steps, spec.count), spec.errors_per_min)
    span, name = steps * step, zlib.crc32(host.encode())
    for miner in range(spec.count):
        seed = (spec.seed, name, miner)
        for start, end, _ in _events(seed + (_DEATH,),
                                     spec.failure_rate_per_day,
                                     spec.down_hours, span):
            up[_steps(start, end, step, steps), miner] = False
        for start, end, u in _events(seed + (_SAG,), spec.sag_rate_per_day,
                                     spec.sag_hours, span):
            when = _steps(start, end, step, steps)
            ratio[when, miner] = np.minimum(
                ratio[when, miner],
                spec.sag_min + (spec.sag_max - spec.sag_min) * u)
        for start, end, _ in _events(seed + (_ERRORS,),
                                     spec.error_rate_per_day,
                                     spec.error_hours, span):
            errors[_steps(start, end, step, steps),
                   miner] += spec.error_burst_per_min
    return MinerHealth(up, np.where(up, ratio, 0.0),
                       np.where(up, errors, 0.0))


def fleet_health(fleet: fleet_mod.Fleet, steps: int,
                 step: float) -> MinerHealth:
    """Every miner of ``fleet``, host after host in its order."""
    parts = [host_health(h.asic, h.name, steps, step)
             for h in fleet.hosts if h.asic is not None]
    if not parts:
        empty = np.zeros((steps, 0))
        return MinerHealth(empty.astype(bool), empty, empty)
    return MinerHealth(*(np.concatenate([getattr(p, f.name) for p in parts],
                                        axis=1)
                         for f in dataclasses.fields(MinerHealth)))
