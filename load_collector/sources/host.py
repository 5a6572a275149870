"""Whole-host CPU, load average, memory and swap, read from procfs.

The figures are psutil's (``cpu_percent(interval=None)``,
``virtual_memory()``, ``swap_memory()``) computed the same way from one
read of ``/proc/stat`` and one of ``/proc/meminfo`` per cycle, on files
kept open, instead of psutil's parse of every line of both and of
``/proc/vmstat``.  psutil itself answers where the kernel leaves out
``MemAvailable`` (before 3.14, or 0 by a kernel bug) or the swap lines.
"""

import os
import re

import psutil

from cryptomine_scheduler import sample
from load_collector import sources

MIB = 1024 * 1024
PROCFS = '/proc'
_CLOCK_TICKS = os.sysconf('SC_CLK_TCK')
# /proc/stat's first line: user nice system idle iowait irq softirq steal
# guest guest_nice (the last three from Linux 2.6.11, 2.6.24, 3.2).
_CPU_FIELDS = 10
_IDLE, _IOWAIT, _GUEST, _GUEST_NICE = 3, 4, 8, 9
_MEMINFO = re.compile(
    rb'^(MemTotal|MemFree|MemAvailable|SwapTotal|SwapFree):\s*(\d+)', re.M)


def _usage_percent(used: int, total: int) -> float:
    """``used`` of ``total`` in percent, rounded as psutil rounds it."""
    try:
        return round(float(used) / total * 100, 1)
    except ZeroDivisionError:
        return 0.0


def cpu_busy_percent(before: list[float], after: list[float]) -> float:
    """psutil's ``cpu_percent`` between two readings of :func:`cpu_times`.

    Guest time is already inside user and nice time; iowait is idle.
    """
    deltas = [max(0, b - a) for a, b in zip(before, after, strict=True)]
    total = sum(deltas)
    if len(deltas) > _GUEST:
        total -= deltas[_GUEST]
    if len(deltas) > _GUEST_NICE:
        total -= deltas[_GUEST_NICE]
    busy = total - deltas[_IDLE] - deltas[_IOWAIT]
    try:
        return round(busy / total * 100, 1)
    except ZeroDivisionError:
        return 0.0


class _ProcFile:
    """A procfs file kept open and read whole from its start."""

    def __init__(self, path: str):
        self._fd = os.open(path, os.O_RDONLY)

    def read(self) -> bytes:
        return os.pread(self._fd, 65536, 0)

    def close(self) -> None:
        """Close the file (again: nothing)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class HostSource(sources.Source):
    """Fills :attr:`SampleDraft.host_load`.

    ``procfs`` replaces ``/proc`` for tests.
    """

    def __init__(self, conf, procfs: str = PROCFS):
        super().__init__(conf)
        self._stat = _ProcFile(os.path.join(procfs, 'stat'))
        self._meminfo = _ProcFile(os.path.join(procfs, 'meminfo'))
        # The first reading only starts the CPU time delta.
        self._cpu_times = self._read_cpu_times()

    def _read_cpu_times(self) -> list[float]:
        """The host's CPU times in seconds, as psutil's ``cpu_times()``;
        notes the online CPUs they add up (one ``cpuN`` line each)."""
        stat = self._stat.read()
        self._cpus = stat.count(b'\ncpu')
        line = stat.split(b'\n', 1)[0]
        return [float(x) / _CLOCK_TICKS
                for x in line.split()[1:_CPU_FIELDS + 1]]

    def _cpu_percent(self) -> float:
        cpu_times = self._read_cpu_times()
        percent = cpu_busy_percent(self._cpu_times, cpu_times)
        self._cpu_times = cpu_times
        return percent

    def collect(self, draft: sources.SampleDraft) -> None:
        load_1, load_5, load_15 = os.getloadavg()
        cpu_percent = self._cpu_percent()
        mems = {name: int(kib) * 1024 for name, kib
                in _MEMINFO.findall(self._meminfo.read())}
        total = mems[b'MemTotal']
        available = mems.get(b'MemAvailable')
        if not available:
            memory = psutil.virtual_memory()
            total, available = memory.total, memory.available
        elif available > total:  # in a container, as psutil judges it
            available = mems[b'MemFree']
        if b'SwapTotal' in mems and b'SwapFree' in mems:
            swap_used = mems[b'SwapTotal'] - mems[b'SwapFree']
            swap_percent = _usage_percent(swap_used, mems[b'SwapTotal'])
        else:
            swap = psutil.swap_memory()
            swap_used, swap_percent = swap.used, swap.percent
        draft.cpus = self._cpus or None
        draft.host_load = sample.HostLoad(
            cpu_percent=cpu_percent,
            load_1=load_1, load_5=load_5, load_15=load_15,
            mem_used_mb=(total - available) / MIB,
            mem_available_mb=available / MIB,
            mem_percent=_usage_percent(total - available, total),
            swap_used_mb=swap_used / MIB,
            swap_percent=swap_percent)

    def close(self) -> None:
        self._stat.close()
        self._meminfo.close()
