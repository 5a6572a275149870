"""Whole-host CPU, load average, memory and swap, read from procfs.

The figures are psutil's (``cpu_percent(interval=None)``,
``virtual_memory()``, ``swap_memory()``) computed the same way from one
read of ``/proc/stat`` and one of ``/proc/meminfo`` per cycle, on files
kept open, instead of psutil's parse of every line of both and of
``/proc/vmstat``.  psutil itself answers where the kernel leaves out
``MemAvailable`` (before 3.14, or 0 by a kernel bug) or the swap lines.

The CPU figure is over the CPUs nova gives guests (see
:mod:`load_collector.cpu_set`): the first line of ``/proc/stat`` when
that is every CPU, else the sum of the set's ``cpuN`` lines, found by
their position, which is looked up again only when a CPU went offline or
came back.  The sample's ``cpus`` is the number of those CPUs online.
"""

import os
import re

import psutil
from oslo_log import log as logging

from cryptomine_scheduler import sample
from load_collector import cpu_set
from load_collector import sources

LOG = logging.getLogger(__name__)
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
    """Fills :attr:`SampleDraft.host_load` and :attr:`SampleDraft.cpus`.

    ``procfs`` replaces ``/proc`` for tests.
    """

    def __init__(self, conf, procfs: str = PROCFS):
        super().__init__(conf)
        guest = cpu_set.guest_cpus(conf)
        if guest.unreadable:
            LOG.warning('Cannot read %s ([collector] nova_config_files)',
                        ', '.join(guest.unreadable))
        #: The guests' CPUs, None for all.
        self._guest_cpus = guest.cpus
        #: (line after the first of /proc/stat, b'cpuN ') of those online.
        self._layout: tuple[tuple[int, bytes], ...] = ()
        #: Those offline, already logged.
        self._offline: set[int] = set()
        self._stat = _ProcFile(os.path.join(procfs, 'stat'))
        self._meminfo = _ProcFile(os.path.join(procfs, 'meminfo'))
        # The first reading only starts the CPU time delta.
        if guest.cpus is None:
            self._cpu_times = self._read_cpu_times()
            LOG.info('Measuring CPU over %s', guest.origin)
            return
        self._set_times = self._read_set_times()
        if not self._set_times:
            self.close()
            raise cpu_set.CpuSetError(
                f'no CPU of {cpu_set.describe(guest.cpus)} (from '
                f'{guest.origin}) is online')
        LOG.info('Measuring CPU over %s (from %s), %d online',
                 cpu_set.describe(guest.cpus), guest.origin, self._cpus)

    def _read_cpu_times(self) -> list[float]:
        """The host's CPU times in seconds, as psutil's ``cpu_times()``;
        notes the online CPUs they add up (one ``cpuN`` line each)."""
        stat = self._stat.read()
        self._cpus = stat.count(b'\ncpu')
        line = stat.split(b'\n', 1)[0]
        return [float(x) / _CLOCK_TICKS
                for x in line.split()[1:_CPU_FIELDS + 1]]

    def _locate(self, lines: list[bytes]) -> None:
        """Find the guests' CPUs among ``lines``; log those offline."""
        found = {}
        for number, line in enumerate(lines):
            cpu = cpu_set.line_cpu(line)
            if cpu in self._guest_cpus:
                found[cpu] = number
        self._layout = tuple((number, b'cpu%d ' % cpu)
                             for cpu, number in sorted(found.items()))
        offline = self._guest_cpus.difference(found)
        for cpu in sorted(offline - self._offline):
            LOG.warning('Guest CPU %d is offline or absent: left out', cpu)
        for cpu in sorted(self._offline - offline):
            LOG.info('Guest CPU %d is online again', cpu)
        self._offline = offline

    def _read_set_times(self) -> dict[bytes, list[int]]:
        """The guests' online CPUs' times in clock ticks, by line name;
        notes how many they are."""
        stat = self._stat.read()
        online = stat.count(b'\ncpu')
        lines = stat.split(b'\n', online + 1)[1:online + 1]
        # Every guest CPU online still on its line, none back online
        # (when none was offline, one coming back moves another's line).
        if self._offline or not self._layout or not all(
                number < len(lines) and lines[number].startswith(name)
                for number, name in self._layout):
            self._locate(lines)
        self._cpus = len(self._layout)
        return {name: [int(x) for x in lines[number].split()
                       [1:_CPU_FIELDS + 1]]
                for number, name in self._layout}

    def _cpu_percent(self) -> float:
        if self._guest_cpus is None:
            cpu_times = self._read_cpu_times()
            percent = cpu_busy_percent(self._cpu_times, cpu_times)
            self._cpu_times = cpu_times
            return percent
        before, after = self._set_times, self._read_set_times()
        self._set_times = after
        # Over the CPUs online at both readings.
        both = [name for name in after if name in before]
        return cpu_busy_percent(
            [sum(times) for times in zip(*(before[n] for n in both),
                                         strict=True)],
            [sum(times) for times in zip(*(after[n] for n in both),
                                         strict=True)])

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
