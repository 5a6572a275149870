"""The load player: its schedule, and the player run as a process."""

import ast
import json
import os
import signal
import subprocess
import sys

import fixtures
import psutil
from oslotest import base

from cryptomine_scheduler.experiment import player
from cryptomine_scheduler.experiment import userdata
from cryptomine_scheduler.tests import waiting


class ScheduleTest(base.BaseTestCase):

    SCHEDULE = player.Schedule(start_at=100.0, step=10.0, vcpus=2,
                               cpu=[1.7, None, 0.4], memory_mb=[2, None, 1])

    def test_busy_vcpus_fill_the_first_workers(self):
        self.assertEqual([1.0, 0.7],
                         [round(self.SCHEDULE.duty(k, 0), 6) for k in (0, 1)])
        self.assertEqual([0.4, 0.0],
                         [self.SCHEDULE.duty(k, 2) for k in (0, 1)])

    def test_idle_outside_the_trace_and_where_it_has_no_sample(self):
        for step in (-1, 1, 3):
            self.assertEqual(0.0, self.SCHEDULE.duty(0, step))
            self.assertEqual(0, self.SCHEDULE.memory_bytes(step))
        self.assertEqual(2 * 1024 * 1024, self.SCHEDULE.memory_bytes(0))

    def test_position_and_end(self):
        self.assertEqual(-1, self.SCHEDULE.position(99.9))
        self.assertEqual(0, self.SCHEDULE.position(100.0))
        self.assertEqual(2, self.SCHEDULE.position(129.9))
        self.assertEqual(130.0, self.SCHEDULE.end)

    def test_starts_now_unless_the_file_says_when(self):
        path = self.useFixture(fixtures.TempDir()).join('s.json')
        with open(path, 'w') as f:
            json.dump({'step': 2, 'cpu': [0.5]}, f)
        loaded = player.load(path, now=50.0)
        self.assertEqual((50.0, 2.0, 1, [0.5], [None]),
                         (loaded.start_at, loaded.step, loaded.vcpus,
                          loaded.cpu, loaded.memory_mb))

    def test_runs_on_python_3_6(self):
        # A stock cloud image may have an old Python.
        tree = ast.parse(userdata.player_source(), feature_version=(3, 6))
        imported = {alias.name.split('.')[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split('.')[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom)}
        self.assertLessEqual(imported, set(sys.stdlib_module_names))


#: Spin for argv[1] seconds.
SPIN = ('import sys, time\n'
        'end = time.monotonic() + float(sys.argv[1])\n'
        'while time.monotonic() < end:\n'
        '    pass\n')


class PlayerProcessTest(base.BaseTestCase):
    """The player as cloud-init starts it, measured from outside."""

    def start(self, **schedule) -> subprocess.Popen:
        path = self.useFixture(fixtures.TempDir()).join('schedule.json')
        with open(path, 'w') as f:
            json.dump(schedule, f)
        process = subprocess.Popen(
            [sys.executable, '-c', userdata.player_source(), path])
        self.addCleanup(lambda: process.poll() is None and process.kill())
        return process

    def cpu_seconds(self, process: subprocess.Popen) -> float:
        """CPU time of the player and its workers, once it has exited."""
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        self.assertEqual(0, process.returncode)
        return usage.ru_utime + usage.ru_stime

    def test_follows_the_trace_cpu(self):
        # Mean duty 50 % over 2.5 s of schedule, on one vCPU; beside it
        # a process that spins the whole time measures how much CPU this
        # machine gives one process now (all of it, when idle).
        process = self.start(step=1.25, vcpus=1, cpu=[0.25, 0.75],
                             memory_mb=[1, 1])
        spinner = subprocess.Popen([sys.executable, '-c', SPIN, '2.5'])
        self.addCleanup(lambda: spinner.poll() is None and spinner.kill())
        used = self.cpu_seconds(process) / 2.5
        available = min(1.0, self.cpu_seconds(spinner) / 2.5)
        # A machine too busy to give it its share gives it less; within
        # 15 points of 50 % when it can.
        self.assertGreater(used, 0.35 if available > 0.9 else
                           0.5 * min(0.5, available))
        self.assertLess(used, 0.65)

    def test_an_idle_trace_stays_idle(self):
        process = self.start(step=1.0, vcpus=1, cpu=[0.0], memory_mb=[0])
        self.assertLess(self.cpu_seconds(process), 0.15)

    def test_holds_the_memory_and_stops_cleanly_on_sigterm(self):
        process = self.start(step=60.0, vcpus=2, cpu=[0.05],
                             memory_mb=[64])
        found = psutil.Process(process.pid)
        waiting.wait_for(
            lambda: found.memory_info().rss > 60 * 1024 * 1024
            and len(found.children()) == 2, waiting.PATIENCE,
            seen=lambda: f'{found.memory_info().rss} bytes resident')
        workers = found.children()
        process.send_signal(signal.SIGTERM)
        self.assertEqual(0, process.wait(timeout=waiting.PATIENCE))
        self.assertFalse(any(w.is_running() for w in workers))
