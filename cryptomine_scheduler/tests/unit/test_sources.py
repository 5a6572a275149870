import os
import re
import subprocess
import sys
import time
import uuid

import fixtures
import psutil
from oslotest import base

from cryptomine_scheduler.tests import guests
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.config import collector_conf
from load_collector import cmd as collector_cmd
from load_collector import sources
from load_collector.sources import host
from load_collector.sources import instances

PATTERN = re.compile(
    r'(^|/)(qemu-system-[a-z0-9_]+|qemu-kvm|kvm)$')
UUID = '6f1c0a5e-3b7e-4c1e-9d59-0f2f6a4e8b11'




class TestInstanceUuid(base.BaseTestCase):

    CASES = [
        (['/usr/bin/qemu-system-x86_64', '-name', 'x', '-uuid', UUID], UUID),
        (['qemu-kvm', '-uuid', UUID.upper()], UUID),
        (['/usr/libexec/qemu-kvm', '-uuid', UUID], UUID),
        (['kvm', '-uuid', UUID], UUID),
        (['qemu-system-aarch64', '-uuid'], None),
        (['qemu-system-x86_64', '-uuid', 'not-a-uuid'], None),
        (['qemu-system-x86_64', '-name', 'x'], None),
        (['/usr/bin/python3', '-uuid', UUID], None),
        (['qemu-img', 'convert', '-uuid', UUID], None),
        ([], None),
    ]

    def test_table(self):
        for cmdline, expected in self.CASES:
            with self.subTest(cmdline=cmdline):
                self.assertEqual(expected,
                                 instances.instance_uuid(cmdline, PATTERN))


class TestGivenSince(base.BaseTestCase):

    LISTED = [1, 5, 300, 1000, 1001, 1002, 1200, 4000000]

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MockPatch(
            'load_collector.sources.instances._listed_pids',
            return_value=self.LISTED))

    def given(self, before, last):
        return list(instances.given_since(before, last))

    def test_first_look_takes_every_process(self):
        self.assertEqual(self.LISTED, self.given(None, 1001))

    def test_a_few_ids_are_probed_all(self):
        self.assertEqual([1001, 1002, 1003], self.given(1000, 1003))

    def test_many_ids_are_those_listed(self):
        self.assertEqual([1001, 1002, 1200], self.given(1000, 1300))

    def test_ids_wrapped_around(self):
        self.assertEqual([1, 5, 1200, 4000000], self.given(1002, 10))

    def test_none_given(self):
        self.assertEqual([], self.given(1000, 1000))


class TestHostSource(base.BaseTestCase):

    def test_reads_this_machine(self):
        draft = sources.SampleDraft()
        host.HostSource(collector_conf()).collect(draft)
        load = draft.host_load
        memory = psutil.virtual_memory()
        self.assertTrue(0.0 <= load.cpu_percent <= 100.0)
        self.assertAlmostEqual(memory.total / host.MIB,
                               load.mem_used_mb + load.mem_available_mb,
                               delta=memory.total / host.MIB * 0.05)
        self.assertGreaterEqual(load.load_1, 0.0)


class TestReadUsage(base.BaseTestCase):
    """A process's CPU clock and statm, read as the source reads a guest's."""

    def setUp(self):
        super().setUp()
        self.statm = os.open(f'/proc/{os.getpid()}/statm', os.O_RDONLY)
        self.addCleanup(os.close, self.statm)

    def test_clock_is_the_process_cpu_time(self):
        # The clock of this whole process is the one process_time reads.
        clock = instances.cpu_clock(os.getpid())
        before = time.process_time()
        cpu_seconds, _ = instances.read_usage(self.statm, clock)
        after = time.process_time()
        self.assertLessEqual(before, cpu_seconds)
        self.assertLessEqual(cpu_seconds, after)

    def test_rss_is_psutils(self):
        _, rss = instances.read_usage(self.statm,
                                      instances.cpu_clock(os.getpid()))
        expected = psutil.Process().memory_info().rss
        self.assertAlmostEqual(expected, rss, delta=expected * 0.05)

    def test_process_gone(self):
        process = subprocess.Popen([sys.executable, '-c', ''])
        statm = os.open(f'/proc/{process.pid}/statm', os.O_RDONLY)
        self.addCleanup(os.close, statm)
        process.wait()
        self.assertRaises(OSError, instances.read_usage, statm,
                          instances.cpu_clock(process.pid))


class TestInstanceSource(base.BaseTestCase):

    def _collect(self, source):
        draft = sources.SampleDraft()
        source.collect(draft)
        return {i.uuid: i for i in draft.instances}

    def test_finds_guests_and_their_memory(self):
        fake = self.useFixture(guests.FakeGuests(3))
        time.sleep(0.3)
        found = self._collect(instances.InstanceSource(collector_conf()))
        # Guests of other tests may run beside ours.
        self.assertLessEqual(set(fake.uuids), set(found))
        for guest in fake.processes:
            rss = psutil.Process(guest.pid).memory_info().rss / host.MIB
            uuid = fake.uuids[fake.processes.index(guest)]
            self.assertAlmostEqual(rss, found[uuid].rss_mb, delta=rss * 0.2)

    def test_cpu_share_matches_what_the_kernel_counted(self):
        busy = self.useFixture(guests.FakeGuests(1, guests.BUSY))
        idle = self.useFixture(guests.FakeGuests(1))
        source = instances.InstanceSource(collector_conf())
        process = psutil.Process(busy.processes[0].pid)
        self._collect(source)
        before, started = sum(process.cpu_times()[:2]), time.time()
        time.sleep(1.0)
        found = self._collect(source)
        used, elapsed = (sum(process.cpu_times()[:2]) - before,
                         time.time() - started)
        expected = used / elapsed / psutil.cpu_count() * 100.0
        # The machine may be busy with other tests: compare with what the
        # guest really got rather than with a whole core.
        self.assertAlmostEqual(expected, found[busy.uuids[0]].cpu_percent,
                               delta=max(2.0, expected * 0.25))
        self.assertLess(found[idle.uuids[0]].cpu_percent,
                        found[busy.uuids[0]].cpu_percent / 5)

    def test_guest_that_exits_disappears(self):
        fake = self.useFixture(guests.FakeGuests(2))
        time.sleep(0.2)
        source = instances.InstanceSource(collector_conf())
        self.assertLessEqual(set(fake.uuids), set(self._collect(source)))
        fake.processes[0].kill()
        fake.processes[0].wait()
        found = set(self._collect(source))
        self.assertIn(fake.uuids[1], found)
        self.assertNotIn(fake.uuids[0], found)

    def test_guest_started_later_is_found(self):
        first = self.useFixture(guests.FakeGuests(1))
        self._wait_for_exec(first.processes[0].pid)
        source = instances.InstanceSource(collector_conf())
        self.addCleanup(source.close)
        self.assertIn(first.uuids[0], self._collect(source))
        later = self.useFixture(guests.FakeGuests(1))
        # Until exec has set up its arguments, a process's command line
        # reads empty, or its parent's, and the process is no guest.
        self._wait_for_exec(later.processes[0].pid)
        found = self._collect(source)
        self.assertIn(first.uuids[0], found)
        self.assertIn(later.uuids[0], found)

    def test_guest_executed_after_it_was_seen_is_found(self):
        # libvirt forks, prepares the child, then executes qemu in it: a
        # cycle in between must not rule the process out for good.
        guest_uuid = str(uuid.uuid4())
        child = subprocess.Popen(
            [sys.executable, '-c', 'import os, sys; sys.stdin.readline(); '
             f'os.execv(sys.executable, ["qemu-system-x86_64", "-c", '
             f'{guests.IDLE!r}, "-uuid", "{guest_uuid}"])'],
            stdin=subprocess.PIPE)
        self.addCleanup(child.wait)
        self.addCleanup(child.kill)
        source = instances.InstanceSource(collector_conf())
        self.addCleanup(source.close)
        self.assertNotIn(guest_uuid, self._collect(source))
        child.stdin.write(b'go\n')
        child.stdin.close()
        self._wait_for_exec(child.pid)
        self.assertIn(guest_uuid, self._collect(source))

    def test_threads_are_not_guests(self):
        # /proc/<tid> answers for every thread, with its process's command
        # line: a guest's threads, looked up by ID, must not be guests.
        code = ('import threading, time\n'
                'threading.Thread(target=time.sleep, args=(3600,)).start()\n'
                'print(flush=True)\n' + guests.IDLE)
        for probe_limit in (10**6, 0):  # IDs looked up, /proc listed
            with self.subTest(probe_limit=probe_limit):
                self.useFixture(fixtures.MockPatch(
                    'load_collector.sources.instances.PROBE_LIMIT',
                    probe_limit))
                source = instances.InstanceSource(collector_conf())
                self.addCleanup(source.close)
                self._collect(source)
                guest_uuid = str(uuid.uuid4())
                guest = subprocess.Popen(
                    ['qemu-system-x86_64', '-c', code, '-uuid', guest_uuid],
                    executable=sys.executable, stdout=subprocess.PIPE)
                self.addCleanup(guest.wait)
                self.addCleanup(guest.kill)
                guest.stdout.readline()  # its thread runs
                self.assertEqual(2, psutil.Process(guest.pid).num_threads())
                draft = sources.SampleDraft()
                source.collect(draft)
                self.assertEqual(1, [i.uuid for i in draft.instances]
                                 .count(guest_uuid))

    @staticmethod
    def _wait_for_exec(pid: int) -> None:
        path = f'/proc/{pid}/cmdline'

        def executed() -> bool:
            with open(path, 'rb') as read:
                return read.read().startswith(b'qemu-system-x86_64\0')

        waiting.wait_for(executed, waiting.PATIENCE)

    def test_other_processes_ignored_with_custom_pattern(self):
        fake = self.useFixture(guests.FakeGuests(1))
        source = instances.InstanceSource(
            collector_conf(instance_cmdline_regex=r'(^|/)qemu-kvm$'))
        self.assertNotIn(fake.uuids[0], self._collect(source))


class TestLoadSources(base.BaseTestCase):

    def test_entry_points(self):
        loaded = collector_cmd.load_sources(collector_conf())
        self.assertEqual([host.HostSource, instances.InstanceSource],
                         [type(s) for s in loaded])

    def test_only_the_configured_sources_are_imported(self):
        manager = collector_cmd.check_sources(collector_conf(sources=['host']))
        self.assertEqual(['host'], manager.names())

    def test_unknown_source_is_a_clear_error(self):
        err = self.assertRaises(SystemExit, collector_cmd.load_sources,
                                collector_conf(sources=['host', 'nvml-typo']))
        self.assertIn("'nvml-typo'", str(err))
