"""Small hand-made traces for simulator tests."""

import numpy as np

from cryptomine_scheduler.simulator import traces


def trace(cpu, vcpus, memory_mb, step: float = 300.0) -> traces.Trace:
    """Instances using ``cpu`` busy cores per step (a row each; NaN where
    absent) and their whole flavor memory."""
    cpu = np.array(cpu, dtype=float)
    memory = np.array(memory_mb, dtype=float)
    return traces.Trace(
        step=step, start=0.0,
        instances=tuple(f'vm{i}' for i in range(len(cpu))),
        vcpus=np.array(vcpus), memory_mb=memory,
        accelerators=(None,) * len(cpu), cpu=cpu,
        rss_mb=np.where(np.isnan(cpu), np.nan, memory[:, None]))
