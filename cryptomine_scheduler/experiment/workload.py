"""The guests of an experiment: one per trace VM, with the flavor it
boots with and the schedule its player follows."""

import dataclasses
import math

import numpy as np

from cryptomine_scheduler.experiment import flavors as flavors_mod
from cryptomine_scheduler.experiment import player
from cryptomine_scheduler.simulator import traces


@dataclasses.dataclass(frozen=True)
class Guest:
    """Trace VM ``index`` (named ``instance`` in the trace) boots with
    the mapping's ``flavor`` and plays ``schedule`` (its ``start_at`` is
    set when the run starts)."""

    index: int
    instance: str
    flavor: str
    schedule: player.Schedule


def part(trace: traces.Trace, compression: float, duration: float,
         instances: int | None = None) -> traces.Trace:
    """The part of ``trace`` a run of ``duration`` seconds plays, at
    ``compression`` trace seconds per second, of its first
    ``instances`` VMs (None: all)."""
    steps = max(1, math.ceil(duration * compression / trace.step - 1e-9))
    kept = trace.head(steps, instances)
    if not kept.instances:
        raise ValueError('no trace VM runs in the part played')
    return kept


def _listed(values: np.ndarray, scale: float = 1.0,
            most: float = math.inf) -> list[float | None]:
    return [None if math.isnan(v) else round(min(v * scale, most), 4)
            for v in values.tolist()]


def guests(trace: traces.Trace, mapping: flavors_mod.Mapping,
           compression: float) -> tuple[Guest, ...]:
    """Every trace VM's guest; :class:`~.flavors.MappingError` if a VM
    has no flavor."""
    found = []
    step = trace.step / compression
    for i, name in enumerate(trace.instances):
        vcpus = int(trace.vcpus[i])
        flavor = mapping.flavor_for(vcpus, float(trace.memory_mb[i]))
        spec = mapping.created(flavor)
        memory_cap = (math.inf if spec is None
                      else max(0.0, spec.ram_mb - mapping.guest_reserve_mb))
        found.append(Guest(index=i, instance=name, flavor=flavor,
                           schedule=player.Schedule(
            start_at=0.0, step=step,
            vcpus=vcpus if spec is None else min(vcpus, spec.vcpus),
            cpu=_listed(trace.cpu[i]),
            memory_mb=_listed(trace.rss_mb[i], mapping.memory_scale,
                              memory_cap))))
    return tuple(found)
