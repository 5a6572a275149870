"""Whole-host CPU, load average, memory and swap, read from procfs.

The figures are psutil's (``cpu_percent(interval=None)``,
``virtual_memory()``, ``swap_memory()``) computed the same way from one
read of ``/proc/stat`` and one of ``/proc/meminfo`` per cycle, on files
kept open, instead of psutil's parse of every line of both and of
``/proc/vmstat``.  psutil itself answers where the kernel leaves out
``MemAvailable`` (before 3.14, or 0 by a kernel bug) or the swap lines.

The CPU figure is over the CPUs nova gives guests (see
:mod:`load_collector.cpu_set`): the first line of ``/proc/stat`` when
that is every CPU, else the sum of the set's ``cpuN`` lines (or the
first line less the other CPUs' lines, when they are fewer).  The
sample's ``cpus`` is the number of those CPUs online.
"""

import os
import re

import psutil
from oslo_log import log as logging

from cryptomine_scheduler.telemetry import sample
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


def _column_sums(lines: list[bytes]) -> list[int]:
    """The sums of each CPU time field of ``cpuN`` lines of /proc/stat
    (all as long: one kernel writes them)."""
    if not lines:
        return []
    fields = b' '.join(lines).split()
    width = len(fields) // len(lines)
    return [sum(map(int, fields[field::width]))
            for field in range(1, min(width, _CPU_FIELDS + 1))]


def _name(line: bytes) -> bytes:
    """How a ``cpuN`` line starts: ``b'cpuN '``."""
    return line[:line.index(b' ') + 1]


def _fields(line: bytes) -> list[int]:
    """The CPU time fields of a ``cpu`` line of /proc/stat."""
    return [int(x) for x in line.split()[1:_CPU_FIELDS + 1]]


class _SetTimes:
    """The summed CPU times of a set of CPUs, from /proc/stat.

    Their ``cpuN`` lines are found by position, looked up again only when
    the online CPUs changed (and at every reading while one of the set is
    offline).  When the set is most of the online CPUs, its times are the
    first line's (every CPU's) less the other CPUs' lines.
    """

    def __init__(self, cpus: frozenset[int]):
        self._cpus = cpus
        #: The CPU lines when located, those parsed (by position, 0 the
        #: first) and how they start (``b'cpuN '``), and whether they
        #: are the set's own or the others'.
        self._lines_located = -1
        self._numbers: list[int] = []
        self._names: list[bytes] = []
        self._others = False
        #: How the lines of the set's online CPUs start.
        self._set_names: frozenset[bytes] = frozenset()
        #: The set's CPUs offline, already logged.
        self._offline: set[int] = set()
        #: The last reading's lines and the set's summed times.
        self._lines: list[bytes] = []
        self._sums: list[int] = []

    @property
    def online(self) -> int:
        """How many CPUs of the set were online at the last reading."""
        return len(self._set_names)

    def _locate(self, lines: list[bytes]) -> None:
        """Find the CPUs' lines; log those of the set offline."""
        found = {cpu_set.line_cpu(line): number
                 for number, line in enumerate(lines[1:], 1)}
        inside = sorted(cpu for cpu in found if cpu in self._cpus)
        outside = sorted(cpu for cpu in found if cpu not in self._cpus)
        self._others = len(outside) + 1 < len(inside)
        parsed = outside if self._others else inside
        self._numbers = [found[cpu] for cpu in parsed]
        self._names = [b'cpu%d ' % cpu for cpu in parsed]
        self._set_names = frozenset(b'cpu%d ' % cpu for cpu in inside)
        self._lines_located = len(lines)
        offline = self._cpus.difference(found)
        for cpu in sorted(offline - self._offline):
            LOG.warning('Guest CPU %d is offline or absent: left out', cpu)
        for cpu in sorted(self._offline - offline):
            LOG.info('Guest CPU %d is online again', cpu)
        self._offline = offline

    def read(self, stat: bytes) -> float:
        """The set's busy percentage since the last reading, over its
        CPUs online at both (0.0 at the first)."""
        online = stat.count(b'\ncpu')
        lines = stat.split(b'\n', online + 1)[:online + 1]
        set_names = self._set_names
        parsed = ([lines[number] for number in self._numbers]
                  if len(lines) == self._lines_located else None)
        # The same CPUs online, on the same lines (when none of the set
        # was offline, the count and the parsed lines tell).
        if (self._offline or not set_names or parsed is None
                or not all(map(bytes.startswith, parsed, self._names))):
            self._locate(lines)
            parsed = [lines[number] for number in self._numbers]
        sums = _column_sums(parsed)
        if self._others:
            total = _fields(lines[0])
            sums = ([t - o for t, o in zip(total, sums, strict=True)]
                    if sums else total)
        if set_names is self._set_names:
            before, after = self._sums, sums
        else:
            both = set_names & self._set_names
            before, after = (
                _column_sums([line for line in reading[1:]
                              if _name(line) in both])
                for reading in (self._lines, lines))
        self._lines, self._sums = lines, sums
        return cpu_busy_percent(before, after) if before else 0.0


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
        self._set = None if guest.cpus is None else _SetTimes(guest.cpus)
        self._stat = _ProcFile(os.path.join(procfs, 'stat'))
        self._meminfo = _ProcFile(os.path.join(procfs, 'meminfo'))
        # The first reading only starts the CPU time delta.
        if self._set is None:
            self._cpu_times = self._read_cpu_times()
            LOG.info('Measuring CPU over %s', guest.origin)
            return
        self._set.read(self._stat.read())
        self._cpus = self._set.online
        if not self._cpus:
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
        return [x / _CLOCK_TICKS for x in _fields(stat.split(b'\n', 1)[0])]

    def _cpu_percent(self) -> float:
        if self._set is not None:
            percent = self._set.read(self._stat.read())
            self._cpus = self._set.online
            return percent
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
