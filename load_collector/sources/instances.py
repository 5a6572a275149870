"""Per-guest CPU and memory of qemu/kvm processes, from procfs.

A process is a guest when the first word of its command line matches
``[collector] instance_cmdline_regex`` and it has a ``-uuid`` argument
(libvirt always passes the nova instance UUID that way).  Only the
processes started since the last cycle are looked at: those whose IDs
the kernel gave since then, found from the ID it gave last (in
``/proc/loadavg``) without listing ``/proc`` unless it gave many.  Each
is looked at once, in the order of the IDs: one read of a command line
without ``-uuid`` rules a process out (one started less than
:data:`SETTLE` seconds ago is looked at again, since it may yet execute
qemu), psutil reads the others.  Each known guest then costs a
``pread`` of its ``/proc/<pid>/statm``, kept open, for its RSS (the
open file stays bound to that process even if its PID is reused, so a
guest gone is noticed there first), and a read of its process CPU
clock, the CPU time of all its threads.  (``/proc/<pid>/stat`` holds
both, the CPU time rounded down to clock ticks, but costs the kernel
half as much again as the two.)

A guest's CPU percentage is a share of the host CPUs nova gives guests
(see :mod:`load_collector.cpu_set`), as many as the sample's ``cpus``:
the host source's count of this cycle when it ran first, else this
source's own count at start.
"""

import dataclasses
import os
import re
import time
import uuid
from collections.abc import Iterable

import psutil

from cryptomine_scheduler.telemetry import sample
from load_collector import cpu_set
from load_collector import sources

MIB = 1024 * 1024
_CLOCK_TICKS = os.sysconf('SC_CLK_TCK')
_PAGE_SIZE = os.sysconf('SC_PAGE_SIZE')
# The field of /proc/<pid>/stat after the ")" that ends the command name
# that gives when the process started (22, clock ticks after boot).
_START = 19
#: Linux's clock of a whole process's CPU time (``CPUCLOCK_SCHED`` of
#: ``MAKE_PROCESS_CPUCLOCK`` in its posix-timers.h), bound once.
_SCHED_CLOCK = 2
_clock_ns = time.clock_gettime_ns
#: Seconds a process that is no guest is looked at again: libvirt forks,
#: prepares the child, and only then executes qemu in it.
SETTLE = 5.0
#: The most IDs given since the last cycle that are looked up one by one;
#: more, and /proc is listed (which costs as much as ~100 look-ups).
PROBE_LIMIT = 64


def cpu_clock(pid: int) -> int:
    """The clock ID of ``pid``'s CPU time, all its threads together."""
    return (~pid << 3) | _SCHED_CLOCK


def read_usage(statm: int, clock: int) -> tuple[float, int]:
    """Return (CPU seconds, RSS bytes) of a process from its open
    /proc/<pid>/statm and its :func:`cpu_clock`; OSError if it is gone."""
    line = os.pread(statm, 256, 0)
    if not line:
        raise ProcessLookupError('process exited')
    # The read above fails first for a process gone, whose clock ID
    # another may take over.
    return (_clock_ns(clock) / 1e9,
            int(line.split(None, 2)[1]) * _PAGE_SIZE)


def instance_uuid(cmdline: list[str], pattern: re.Pattern) -> str | None:
    """Return the instance UUID of a guest command line, else None."""
    if not cmdline or not pattern.search(cmdline[0]):
        return None
    try:
        value = cmdline[cmdline.index('-uuid') + 1]
        return str(uuid.UUID(value))
    except (ValueError, IndexError):
        return None


@dataclasses.dataclass(slots=True)
class _Guest:
    statm_fd: int
    clock: int
    uuid: str
    cpu_seconds: float
    seen_at: float


def _may_be_guest(pid: int) -> bool:
    """False when ``pid``'s command line has no ``-uuid`` argument (then
    :func:`instance_uuid` finds none either); OSError if it is gone."""
    with open(f'/proc/{pid}/cmdline', 'rb') as cmdline:
        return b'-uuid' in cmdline.read()


def _started(pid: int) -> float:
    """When ``pid`` started, in seconds after boot; OSError if gone."""
    with open(f'/proc/{pid}/stat', 'rb') as stat:
        line = stat.read()
    return int(line[line.rindex(b')') + 2:].split()[_START]) / _CLOCK_TICKS


def _last_pid(loadavg: int) -> int:
    """The ID the kernel gave last to a process or thread, from an open
    /proc/loadavg: unchanged, none was started since."""
    return int(os.pread(loadavg, 256, 0).rsplit(None, 1)[-1])


def _leads_process(pid: int) -> bool:
    """Whether ``pid`` is a process rather than another thread of one
    (``/proc/<tid>`` answers for every thread, though unlisted); OSError
    if it is gone."""
    with open(f'/proc/{pid}/status', 'rb') as status:
        return b'\nTgid:\t%d\n' % pid in status.read()


def _listed_pids() -> list[int]:
    """The processes ``/proc`` lists."""
    return [int(name) for name in os.listdir('/proc') if name.isdigit()]


def given_since(before: int | None, last: int) -> Iterable[int]:
    """The IDs of the processes started since the kernel gave ``before``
    (None: every process), up to ``last``, the ID it gave last.

    IDs are given in increasing order and wrap around; one not given
    since ``before`` belongs to the same process as then, or to none.
    When few were given, they are returned all, those of threads and of
    processes already gone included; when many, only those of the
    processes ``/proc`` lists.
    """
    if before is not None and 0 <= last - before <= PROBE_LIMIT:
        return range(before + 1, last + 1)
    listed = _listed_pids()
    if before is None:
        return listed
    if before < last:
        return [pid for pid in listed if before < pid <= last]
    return [pid for pid in listed if pid > before or pid <= last]


def _online_cpus() -> frozenset[int]:
    """The numbers of the CPUs online, from their ``/proc/stat`` lines."""
    with open('/proc/stat', 'rb') as stat:
        lines = stat.read().split(b'\n')[1:]
    return frozenset(cpu_set.line_cpu(line) for line in lines
                     if line.startswith(b'cpu'))


def _uptime() -> float:
    """Seconds since boot."""
    with open('/proc/uptime', 'rb') as uptime:
        return float(uptime.read().split()[0])


class InstanceSource(sources.Source):
    """Fills :attr:`SampleDraft.instances`."""

    def __init__(self, conf):
        super().__init__(conf)
        self._pattern = re.compile(conf.collector.instance_cmdline_regex)
        guest_cpus = cpu_set.guest_cpus(conf).cpus
        self._cpus = (psutil.cpu_count() if guest_cpus is None
                      else len(guest_cpus & _online_cpus())) or 1
        self._guests: dict[int, _Guest] = {}
        self._loadavg = os.open('/proc/loadavg', os.O_RDONLY)
        #: The ID given last when the new processes were looked at (None
        #: before the first look), and those to look at again with when
        #: they started, in seconds after boot (None: not read yet).
        self._last_pid: int | None = None
        self._undecided: dict[int, float | None] = {}

    def _look_at(self, pid: int, uptime: float,
                 started: float | None) -> None:
        """Follow ``pid`` if it is a guest; else note it in
        :attr:`_undecided` if it may yet execute qemu (it started less
        than :data:`SETTLE` seconds ago) or could not be read."""
        try:
            if _may_be_guest(pid):
                if not _leads_process(pid):
                    return  # a thread, whose ID no process ever takes
                process = psutil.Process(pid)
                guest_uuid = instance_uuid(process.cmdline(), self._pattern)
            else:
                guest_uuid = None
            if guest_uuid is None:
                started = _started(pid) if started is None else started
                if uptime - started < SETTLE:
                    self._undecided[pid] = started
                return
            created = process.create_time()
            fd = os.open(f'/proc/{pid}/statm', os.O_RDONLY)
        except (FileNotFoundError, ProcessLookupError, psutil.NoSuchProcess):
            return  # gone (or a zombie)
        except (OSError, psutil.AccessDenied):
            self._undecided[pid] = None
            return
        # Until the next cycle, the best estimate of the guest's load is
        # its average since it started.
        self._guests[pid] = _Guest(fd, cpu_clock(pid), guest_uuid, 0.0,
                                   created)

    def _forget(self, pid: int) -> None:
        os.close(self._guests.pop(pid).statm_fd)
        # Its PID may come back as another process.
        self._undecided[pid] = None

    def _look_at_new_processes(self) -> None:
        # Listing /proc costs more than reading 100 guests: done only
        # when many processes or threads were started since the last
        # look (see given_since).
        last_pid = _last_pid(self._loadavg)
        if last_pid == self._last_pid and not self._undecided:
            return
        new: set[int] = set()
        if last_pid != self._last_pid:
            new.update(given_since(self._last_pid, last_pid))
            self._last_pid = last_pid
        again, self._undecided = self._undecided, {}
        uptime = _uptime()
        # A guest's own PID may be among them: the cycle reads it, and
        # it is looked at again once it is gone.  A process's start time
        # is read again when its ID was given since.
        for pid in sorted(new.union(again)):
            if pid not in self._guests:
                self._look_at(pid, uptime,
                              None if pid in new else again[pid])

    def collect(self, draft: sources.SampleDraft) -> None:
        now = time.time()
        self._look_at_new_processes()
        # Once per guest and cycle: names bound here, bounds compared
        # inline (min and max calls cost a tenth of the loop).
        append, load, cpus = (draft.instances.append, sample.InstanceLoad,
                              draft.cpus or self._cpus)
        gone = []
        for pid, guest in self._guests.items():
            try:
                cpu_seconds, rss = read_usage(guest.statm_fd, guest.clock)
            except OSError:
                gone.append(pid)
                continue
            elapsed = now - guest.seen_at
            percent = (cpu_seconds - guest.cpu_seconds) / (
                elapsed if elapsed > 1e-6 else 1e-6) / cpus * 100.0
            guest.cpu_seconds, guest.seen_at = cpu_seconds, now
            append(load(guest.uuid, 0.0 if percent < 0.0 else
                        100.0 if percent > 100.0 else percent, rss / MIB))
        for pid in gone:
            self._forget(pid)

    def close(self) -> None:
        for pid in list(self._guests):
            self._forget(pid)
        os.close(self._loadavg)
