"""Per-guest CPU and memory of qemu/kvm processes, from procfs.

A process is a guest when the first word of its command line matches
``[collector] instance_cmdline_regex`` and it has a ``-uuid`` argument
(libvirt always passes the nova instance UUID that way).  Command lines
are read once per new PID; known guests cost two procfs reads per cycle.
"""

import dataclasses
import re
import time
import uuid

import psutil

from cryptomine_scheduler import sample
from load_collector import sources

MIB = 1024 * 1024
_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied)


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
    process: psutil.Process
    uuid: str
    cpu_seconds: float
    seen_at: float


class InstanceSource(sources.Source):
    """Fills :attr:`SampleDraft.instances`."""

    def __init__(self, conf):
        super().__init__(conf)
        self._pattern = re.compile(conf.collector.instance_cmdline_regex)
        self._cpus = psutil.cpu_count() or 1
        self._guests: dict[int, _Guest] = {}
        self._others: set[int] = set()

    def _discover(self, pid: int) -> None:
        try:
            process = psutil.Process(pid)
            guest_uuid = instance_uuid(process.cmdline(), self._pattern)
            if guest_uuid is None:
                self._others.add(pid)
                return
            # Until the next cycle, the best estimate of the guest's load is
            # its average since it started.
            self._guests[pid] = _Guest(process, guest_uuid, 0.0,
                                       process.create_time())
        except _GONE:
            return

    def collect(self, draft: sources.SampleDraft) -> None:
        now = time.time()
        pids = set(psutil.pids())
        self._others &= pids
        for pid in pids - self._others - self._guests.keys():
            self._discover(pid)
        for pid in list(self._guests):
            guest = self._guests[pid]
            try:
                with guest.process.oneshot():
                    times = guest.process.cpu_times()
                    rss = guest.process.memory_info().rss
            except _GONE:
                del self._guests[pid]
                continue
            cpu_seconds = times.user + times.system
            elapsed = max(now - guest.seen_at, 1e-6)
            share = (cpu_seconds - guest.cpu_seconds) / elapsed / self._cpus
            guest.cpu_seconds, guest.seen_at = cpu_seconds, now
            draft.instances.append(sample.InstanceLoad(
                uuid=guest.uuid,
                cpu_percent=min(max(share * 100.0, 0.0), 100.0),
                rss_mb=rss / MIB))
