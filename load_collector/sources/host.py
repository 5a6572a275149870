"""Whole-host CPU, load average, memory and swap through psutil."""

import os

import psutil

from cryptomine_scheduler import sample
from load_collector import sources

MIB = 1024 * 1024


class HostSource(sources.Source):
    """Fills :attr:`SampleDraft.host_load`."""

    def __init__(self, conf):
        super().__init__(conf)
        # The first call only starts psutil's CPU time delta.
        psutil.cpu_percent(interval=None)

    def collect(self, draft: sources.SampleDraft) -> None:
        load_1, load_5, load_15 = os.getloadavg()
        memory = psutil.virtual_memory()
        swap = psutil.swap_memory()
        draft.host_load = sample.HostLoad(
            cpu_percent=psutil.cpu_percent(interval=None),
            load_1=load_1, load_5=load_5, load_15=load_15,
            mem_used_mb=(memory.total - memory.available) / MIB,
            mem_available_mb=memory.available / MIB,
            mem_percent=memory.percent,
            swap_used_mb=swap.used / MIB,
            swap_percent=swap.percent)
