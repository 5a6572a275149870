"""Per-guest CPU and memory of qemu/kvm processes, from procfs.

A process is a guest when the first word of its command line matches
``[collector] instance_cmdline_regex`` and it has a ``-uuid`` argument
(libvirt always passes the nova instance UUID that way).  ``/proc`` is
listed only when a process was started since it was last listed (the
PID the kernel gave last, in ``/proc/loadavg``, changed) or one is left
to look at again; the processes are looked at only when what it lists
changed, and then only the new ones, in the order of their PIDs: one
read of a command line without ``-uuid`` rules a process out (one started
less than :data:`SETTLE` seconds ago is looked at again, since it may
yet execute qemu), psutil reads the others.  A process is told by its
PID and the inode number of its ``/proc/<pid>`` directory, which a PID
reused by another process does not keep.  Each known guest then costs
one ``pread`` of its ``/proc/<pid>/stat``, kept open: CPU time and RSS
are both in that line, and the open file stays bound to that process
even if its PID is reused.

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

import psutil

from cryptomine_scheduler import sample
from load_collector import cpu_set
from load_collector import sources

MIB = 1024 * 1024
_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied)
_CLOCK_TICKS = os.sysconf('SC_CLK_TCK')
_PAGE_SIZE = os.sysconf('SC_PAGE_SIZE')
# Fields of /proc/<pid>/stat after the ")" that ends the command name:
# utime and stime (fields 14 and 15, clock ticks), starttime (22, clock
# ticks after boot), rss (24, pages).
_UTIME, _STIME, _START, _RSS = 11, 12, 19, 21
#: Seconds a process that is no guest is looked at again: libvirt forks,
#: prepares the child, and only then executes qemu in it.
SETTLE = 5.0


def read_stat(fd: int) -> tuple[float, int]:
    """Return (CPU seconds, RSS bytes) from an open /proc/<pid>/stat."""
    line = os.pread(fd, 4096, 0)
    if not line:
        raise ProcessLookupError('process exited')
    # Only the fields up to the RSS are split off.
    fields = line[line.rindex(b')') + 2:].split(None, _RSS + 1)
    ticks = int(fields[_UTIME]) + int(fields[_STIME])
    return ticks / _CLOCK_TICKS, int(fields[_RSS]) * _PAGE_SIZE


def instance_uuid(cmdline: list[str], pattern: re.Pattern) -> str | None:
    """Return the instance UUID of a guest command line, else None."""
    if not cmdline or not pattern.search(cmdline[0]):
        return None
    try:
        value = cmdline[cmdline.index('-uuid') + 1]
        return str(uuid.UUID(value))
    except (ValueError, IndexError):
        return None


@dataclasses.dataclass
class _Guest:
    stat_fd: int
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


def _last_pid(loadavg: int) -> bytes:
    """The PID (or thread ID) the kernel gave last, from an open
    /proc/loadavg: unchanged, no process was started since."""
    return os.pread(loadavg, 256, 0).rsplit(None, 1)[-1]


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
        # What /proc listed (PID -> inode number) when every process in
        # it was last looked at, but those that could not be read then,
        # and the PID given last before that listing.
        self._looked_at: dict[str, int] = {}
        self._loadavg = os.open('/proc/loadavg', os.O_RDONLY)
        self._last_pid = b''
        self._undecided = False

    def _discover(self, pid: int, uptime: float) -> bool:
        """Follow ``pid`` if it is a guest; False if it cannot be told
        yet (gone, or so young that it may still execute qemu)."""
        try:
            process = psutil.Process(pid) if _may_be_guest(pid) else None
            guest_uuid = (None if process is None else
                          instance_uuid(process.cmdline(), self._pattern))
            if guest_uuid is None:
                return uptime - _started(pid) >= SETTLE
            started = process.create_time()
            fd = os.open(f'/proc/{pid}/stat', os.O_RDONLY)
        except (*_GONE, OSError):
            return False
        # Until the next cycle, the best estimate of the guest's load is
        # its average since it started.
        self._guests[pid] = _Guest(fd, guest_uuid, 0.0, started)
        return True

    def _forget(self, pid: int) -> None:
        os.close(self._guests.pop(pid).stat_fd)
        # Its PID may come back as another process.
        self._looked_at.pop(str(pid), None)

    def _look_at_new_processes(self) -> None:
        # Listing /proc is most of a cycle's cost on a host with few new
        # processes: skipped when none was started and none is left to
        # look at again.
        last_pid = _last_pid(self._loadavg)
        if last_pid == self._last_pid and not self._undecided:
            return
        self._last_pid = last_pid
        listed = {entry.name: entry.inode() for entry in os.scandir('/proc')}
        if listed == self._looked_at:
            return
        new = sorted(int(name) for name, inode in listed.items()
                     if self._looked_at.get(name) != inode
                     and name.isdigit())
        uptime = _uptime()
        self._undecided = False
        for pid in new:
            # A guest's own entry is new again when the kernel dropped it
            # from its cache; its stat file tells whether it is still it.
            if pid not in self._guests and not self._discover(pid, uptime):
                del listed[str(pid)]
                self._undecided = True
        self._looked_at = listed

    def collect(self, draft: sources.SampleDraft) -> None:
        now = time.time()
        self._look_at_new_processes()
        # Once per guest and cycle: names bound here, bounds compared
        # inline (min and max calls cost a tenth of the loop).
        append, load, cpus = (draft.instances.append, sample.InstanceLoad,
                              draft.cpus or self._cpus)
        for pid, guest in list(self._guests.items()):
            try:
                cpu_seconds, rss = read_stat(guest.stat_fd)
            except OSError:
                self._forget(pid)
                continue
            elapsed = now - guest.seen_at
            percent = (cpu_seconds - guest.cpu_seconds) / (
                elapsed if elapsed > 1e-6 else 1e-6) / cpus * 100.0
            guest.cpu_seconds, guest.seen_at = cpu_seconds, now
            append(load(guest.uuid, 0.0 if percent < 0.0 else
                        100.0 if percent > 100.0 else percent, rss / MIB))

    def close(self) -> None:
        for pid in list(self._guests):
            self._forget(pid)
        os.close(self._loadavg)
