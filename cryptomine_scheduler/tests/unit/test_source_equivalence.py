"""The host and instances sources report what psutil reports.

They used to take every figure from psutil; they now read procfs
themselves.  Each test computes the figures both ways from the same
input, psutil's way being the code the sources had, and compares the
samples field by field: the host's from written procfs trees (psutil
reads them through ``psutil.PROCFS_PATH``), the guests' from processes
that look like qemu guests, idle so that both ways read the same
counters.  A guest's CPU time is read from its CPU clock, which psutil
reads from ``/proc/<pid>/stat`` rounded down to clock ticks: its CPU
share may be higher by up to two ticks (user and system time are
rounded apart) over the time it is a share of.
"""

import os
import subprocess
import sys
import time
import uuid

import fixtures
import psutil
from oslotest import base

from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests import guests
from cryptomine_scheduler.tests.config import collector_conf
from load_collector import sources
from load_collector.sources import host
from load_collector.sources import instances

MIB = 1024 * 1024
LOADAVG = (0.52, 0.61, 0.7)
# /proc/stat's first line: user nice system idle iowait irq softirq steal
# guest guest_nice, in clock ticks.
CPU_BEFORE = (1052380, 2210, 330157, 98213455, 40211, 0, 10833, 0, 5012, 3)
CPU_AFTER = (1053117, 2210, 330412, 98215203, 40247, 0, 10849, 0, 5390, 3)
MEMINFO = {'MemTotal': 65781812, 'MemFree': 1920316,
           'MemAvailable': 40127732, 'Buffers': 1112804,
           'Cached': 36028476, 'SwapCached': 18932, 'Active': 30188340,
           'Inactive': 29436840, 'Shmem': 1290044, 'SReclaimable': 2102372,
           'Slab': 2842896, 'SwapTotal': 8388604, 'SwapFree': 8115196,
           'Active(file)': 17410116, 'Inactive(file)': 18002200}


def write_procfs(root: str, cpu: tuple[int, ...], meminfo: dict) -> None:
    """Write /proc/stat, /proc/meminfo and /proc/vmstat as Linux does."""
    with open(os.path.join(root, 'stat'), 'w') as out:
        out.write('cpu  ' + ' '.join(map(str, cpu)) + '\n')
        for n in range(2):
            out.write(f'cpu{n} ' + ' '.join(str(v // 2) for v in cpu) + '\n')
        out.write('intr 1 2 3\nctxt 123456\nbtime 1700000000\n')
    with open(os.path.join(root, 'meminfo'), 'w') as out:
        for name, kib in meminfo.items():
            out.write(f'{name + ":":<16}{kib:>8} kB\n')
        out.write('HugePages_Total:       0\n')
    with open(os.path.join(root, 'vmstat'), 'w') as out:
        out.write('nr_free_pages 480079\npswpin 12\npswpout 34\n')


def psutil_host_load() -> sample.HostLoad:
    """What the host source computed with psutil."""
    load_1, load_5, load_15 = os.getloadavg()
    memory = psutil.virtual_memory()
    swap = psutil.swap_memory()
    return sample.HostLoad(
        cpu_percent=psutil.cpu_percent(interval=None),
        load_1=load_1, load_5=load_5, load_15=load_15,
        mem_used_mb=(memory.total - memory.available) / MIB,
        mem_available_mb=memory.available / MIB,
        mem_percent=memory.percent,
        swap_used_mb=swap.used / MIB,
        swap_percent=swap.percent)


def wire(host_load: sample.HostLoad,
         loads: list[sample.InstanceLoad] = ()) -> dict:
    """The wire form of a sample holding ``host_load`` and ``loads``."""
    return sample.LoadSample(
        host='compute-7', seq=1, timestamp=1700000000.0,
        host_load=host_load, instances=tuple(loads),
        collector=sample.CollectorCounters(0, 0, 0, 0)).to_wire()


class TestHostLoad(base.BaseTestCase):

    CASES = {
        'typical': (CPU_BEFORE, CPU_AFTER, MEMINFO),
        'a counter going backwards': (
            CPU_BEFORE, CPU_AFTER[:4] + (40000,) + CPU_AFTER[5:], MEMINFO),
        'no time elapsed': (CPU_BEFORE, CPU_BEFORE, MEMINFO),
        'available over total (a container)': (
            CPU_BEFORE, CPU_AFTER,
            {**MEMINFO, 'MemAvailable': MEMINFO['MemTotal'] + 1}),
        'MemAvailable 0 (a kernel bug)': (
            CPU_BEFORE, CPU_AFTER, {**MEMINFO, 'MemAvailable': 0}),
        'no MemAvailable (before Linux 3.14)': (
            CPU_BEFORE, CPU_AFTER,
            {k: v for k, v in MEMINFO.items() if k != 'MemAvailable'}),
        'no swap': (CPU_BEFORE, CPU_AFTER,
                    {**MEMINFO, 'SwapTotal': 0, 'SwapFree': 0}),
    }

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MockPatch('os.getloadavg',
                                           return_value=LOADAVG))

    def both_ways(self, before, after, meminfo) -> tuple[dict, dict]:
        root = self.useFixture(fixtures.TempDir()).path
        self.useFixture(fixtures.MockPatch('psutil.PROCFS_PATH', root))
        write_procfs(root, before, meminfo)
        psutil.cpu_percent(interval=None)  # as the source did at start
        source = host.HostSource(collector_conf(), procfs=root)
        self.addCleanup(source.close)
        write_procfs(root, after, meminfo)
        draft = sources.SampleDraft()
        source.collect(draft)
        return wire(psutil_host_load()), wire(draft.host_load)

    def test_same_as_psutil(self):
        for case, (before, after, meminfo) in self.CASES.items():
            with self.subTest(case=case):
                expected, got = self.both_ways(before, after, meminfo)
                for field, value in expected['host_load'].items():
                    self.assertEqual(value, got['host_load'][field], field)
                self.assertEqual(expected, got)

    def test_comparison_sees_a_difference(self):
        expected, got = self.both_ways(CPU_BEFORE, CPU_AFTER, MEMINFO)
        other, _ = self.both_ways(CPU_BEFORE, CPU_AFTER[:3] + (
            CPU_AFTER[3] + 100,) + CPU_AFTER[4:], MEMINFO)
        self.assertEqual(expected, got)
        self.assertNotEqual(other['host_load']['cpu_percent'],
                            got['host_load']['cpu_percent'])


class PsutilGuests:
    """What the instances source computed, finding the guests among
    ``pids`` with psutil and reading their CPU time and RSS with it."""

    def __init__(self, pids: list[int], pattern):
        self._guests = {}
        for pid in pids:
            process = psutil.Process(pid)
            guest_uuid = instances.instance_uuid(process.cmdline(), pattern)
            if guest_uuid is not None:
                self._guests[pid] = [process, guest_uuid, 0.0,
                                     process.create_time()]
        self._cpus = psutil.cpu_count()

    def collect(self, now: float) -> dict[str, tuple[sample.InstanceLoad,
                                                      float]]:
        """Each guest's load by UUID, and the largest difference the
        clock ticks' rounding may make to its CPU share."""
        loads = {}
        tick = 1.0 / os.sysconf('SC_CLK_TCK')
        for guest in self._guests.values():
            process, guest_uuid, cpu_before, seen_at = guest
            cpu_seconds = sum(process.cpu_times()[:2])
            elapsed = max(now - seen_at, 1e-6)
            share = (cpu_seconds - cpu_before) / elapsed / self._cpus
            guest[2:] = [cpu_seconds, now]
            loads[guest_uuid] = (sample.InstanceLoad(
                guest_uuid, min(max(share * 100.0, 0.0), 100.0),
                process.memory_info().rss / MIB),
                2 * tick / elapsed / self._cpus * 100.0)
        return loads


class TestInstanceLoads(base.BaseTestCase):

    def not_a_guest(self) -> int:
        """A process with a ``-uuid`` argument that is no qemu."""
        process = subprocess.Popen(
            [sys.executable, '-c', guests.IDLE, '-uuid', str(uuid.uuid4())])
        self.addCleanup(process.wait)
        self.addCleanup(process.kill)
        return process.pid

    def wait_until_idle(self, pids: list[int]) -> None:
        processes = [psutil.Process(pid) for pid in pids]
        previous = None
        for _ in range(100):
            used = [p.cpu_times()[:2] for p in processes]
            if used == previous:
                return
            previous = used
            time.sleep(0.2)
        self.fail('the fake guests keep using CPU')

    def same_as_psutil(self, source, fake, pids):
        """Two cycles of ``source`` report ``fake``'s guests as psutil
        would, field by field."""
        reference = PsutilGuests(pids, source._pattern)
        clock = self.useFixture(fixtures.MockPatch(
            'load_collector.sources.instances.time')).mock
        for now in (time.time(), time.time() + 10.0):
            with self.subTest(now=now):
                clock.time.return_value = now
                draft = sources.SampleDraft()
                source.collect(draft)
                # Guests of other tests may run beside ours.
                got = sorted((i for i in draft.instances
                              if i.uuid in fake.uuids), key=lambda i: i.uuid)
                expected = reference.collect(now)
                self.assertEqual(sorted(fake.uuids), [i.uuid for i in got])
                host_load = sample.HostLoad(*range(9))
                got_wire = wire(host_load, got)
                for have in got_wire['instances']:
                    want, rounding = expected[have['uuid']]
                    self.assertAlmostEqual(want.cpu_percent,
                                           have.pop('cpu_percent'),
                                           delta=rounding)
                    want = wire(host_load, [want])['instances'][0]
                    del want['cpu_percent']
                    self.assertEqual(want, have)

    def test_same_as_psutil(self):
        fake = self.useFixture(guests.FakeGuests(5))
        pids = [p.pid for p in fake.processes] + [self.not_a_guest()]
        self.wait_until_idle(pids)
        source = instances.InstanceSource(collector_conf())
        self.addCleanup(source.close)
        self.same_as_psutil(source, fake, pids)

    def test_guests_started_later_same_as_psutil(self):
        # Found by looking up the IDs given since the first cycle rather
        # than in the listing of /proc.
        self.useFixture(fixtures.MockPatch(
            'load_collector.sources.instances.PROBE_LIMIT', 10**6))
        source = instances.InstanceSource(collector_conf())
        self.addCleanup(source.close)
        source.collect(sources.SampleDraft())
        fake = self.useFixture(guests.FakeGuests(5))
        pids = [p.pid for p in fake.processes] + [self.not_a_guest()]
        self.wait_until_idle(pids)
        self.same_as_psutil(source, fake, pids)
