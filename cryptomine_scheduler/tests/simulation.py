"""Small hand-made traces and fleets for simulator tests."""

import numpy as np

from cryptomine_scheduler.placement.scoring import Accelerator
from cryptomine_scheduler.simulator import fleet
from cryptomine_scheduler.simulator import traces

#: Failure injection that keeps every miner sick from before the start
#: to the end of any test: events at 1000 a day lasting 1000 h.
ALWAYS = {'rate_per_day': 1000.0, 'hours': 1000.0}


def trace(cpu, vcpus, memory_mb, step: float = 300.0,
          accelerators: tuple[Accelerator | None, ...] | None = None,
          gpu=None) -> traces.Trace:
    """Instances using ``cpu`` busy cores per step (a row each; NaN where
    absent) and their whole flavor memory, asking for ``accelerators``
    (none by default), their GPU busy ``gpu`` % (rows as ``cpu``)."""
    cpu = np.array(cpu, dtype=float)
    memory = np.array(memory_mb, dtype=float)
    return traces.Trace(
        step=step, start=0.0,
        instances=tuple(f'vm{i}' for i in range(len(cpu))),
        vcpus=np.array(vcpus), memory_mb=memory,
        accelerators=accelerators or (None,) * len(cpu), cpu=cpu,
        rss_mb=np.where(np.isnan(cpu), np.nan, memory[:, None]),
        gpu=None if gpu is None else np.array(gpu, dtype=float))


def asic_host(name: str, miners: int = 2, sick: str | None = None,
              **asic) -> fleet.HostSpec:
    """An 8-vCPU, 64 GiB ASIC host of ``miners`` miners (more
    :class:`~.fleet.AsicSpec` fields in ``asic``); ``sick``
    (``failure``, ``sag`` or ``error``) keeps them dead, sagging to 40 %
    of their baseline, or erring thousands of times a minute, all
    along."""
    if sick == 'failure':
        asic.update(failure_rate_per_day=ALWAYS['rate_per_day'],
                    down_hours=ALWAYS['hours'])
    elif sick is not None:
        asic.update({f'{sick}_rate_per_day': ALWAYS['rate_per_day'],
                     f'{sick}_hours': ALWAYS['hours']},
                    sag_min=0.4, sag_max=0.4)
    return fleet.HostSpec(name=name, vcpus=8, memory_mb=65536,
                          asic=fleet.AsicSpec(count=miners, **asic))
