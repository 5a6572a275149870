import dataclasses
import json

import fixtures
import numpy as np
from oslotest import base

from cryptomine_scheduler.placement.scoring import Accelerator
from cryptomine_scheduler.simulator import fleet
from cryptomine_scheduler.simulator import synthetic

YAML = """\
defaults:
  cpu_allocation_ratio: 8.0
groups:
  - name: cpu
    count: 3
    vcpus: 32
    memory_mb: 131072
  - name: gpu
    count: 2
    vcpus: 16
    memory_mb: 65536
    gpus: 8
    gpu_ambient_c: 4.0
  - name: asic
    vcpus: 4
    memory_mb: 8192
    asics: 20
    asic_sag_rate_per_day: 0.5
    asic_seed: 7
"""

INI = """\
[DEFAULT]
cpu_allocation_ratio = 8.0

[cpu]
count = 3
vcpus = 32
memory_mb = 131072

[gpu]
count = 2
vcpus = 16
memory_mb = 65536
gpus = 8
gpu_ambient_c = 4.0

[asic]
vcpus = 4
memory_mb = 8192
asics = 20
asic_sag_rate_per_day = 0.5
asic_seed = 7
"""

GROUPS = [
    {'name': 'cpu', 'count': 3, 'vcpus': 32, 'memory_mb': 131072},
    {'name': 'gpu', 'count': 2, 'vcpus': 16, 'memory_mb': 65536,
     'gpus': 8, 'gpu_ambient_c': 4.0},
    {'name': 'asic', 'vcpus': 4, 'memory_mb': 8192, 'asics': 20,
     'asic_sag_rate_per_day': 0.5, 'asic_seed': 7},
]


class TestFleetFile(base.BaseTestCase):

    def _file(self, name: str, text: str) -> str:
        path = self.useFixture(fixtures.TempDir()).join(name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def test_formats_agree(self):
        loaded = [
            fleet.load(self._file('f.yaml', YAML)),
            fleet.load(self._file('f.json', json.dumps(
                {'defaults': {'cpu_allocation_ratio': 8.0},
                 'groups': GROUPS}))),
            fleet.load(self._file('f.ini', INI)),
        ]
        for other in loaded[1:]:
            self.assertEqual(loaded[0], other)
        hosts = loaded[0].hosts
        self.assertEqual(('cpu-000', 'cpu-001', 'cpu-002', 'gpu-000',
                          'gpu-001', 'asic-000'), loaded[0].names)
        self.assertEqual([Accelerator.CPU] * 3 + [Accelerator.GPU] * 2
                         + [Accelerator.ASIC],
                         [h.accelerator for h in hosts])
        self.assertEqual({8.0}, {h.cpu_allocation_ratio for h in hosts})
        self.assertEqual(4.0, hosts[3].gpu.ambient_c)
        self.assertEqual([0, 0, 0, 8, 8, 0], loaded[0].gpus.tolist())
        self.assertEqual([0] * 5 + [20], loaded[0].asics.tolist())
        self.assertEqual(fleet.AsicSpec(count=20, sag_rate_per_day=0.5,
                                        seed=7), hosts[5].asic)
        self.assertEqual(frozenset({Accelerator.GPU}),
                         hosts[3].compute_host().accelerators)

    def test_mistakes_are_refused(self):
        for name, text, message in (
                ('f.yaml', 'groups:\n  - vcpus: 2\n    memry_mb: 4\n',
                 'unknown keys'),
                ('f.yaml', 'groups:\n  - vcpus: 2\n', 'memory_mb is '
                 'required'),
                ('f.yaml', 'groups:\n  - {vcpus: two, memory_mb: 4}\n',
                 'not an integer'),
                ('f.yaml', 'groups:\n  - {vcpus: 2, memory_mb: 4, '
                 'gpu_idle_c: 30}\n', 'without gpus'),
                ('f.yaml', 'groups:\n  - {vcpus: 2, memory_mb: 4, gpus: 8, '
                 'gpu_chassis_cap_w: 2000}\n',
                 'gpu_chassis_cap_w needs gpu_chassis_base_w'),
                ('f.yaml', 'hosts: 3\n', 'list of "groups"'),
                ('f.ini', '[a]\nvcpus = 2\nmemory_mb = 4\nasics = -1\n',
                 "asics='-1' must not be negative"),
                ('f.ini', '[a]\nvcpus = 2\nmemory_mb = 4\n'
                 'asic_sag_hours = 3\n', 'asic_* keys without asics'),
                ('f.yaml', 'groups:\n  - {vcpus: 2, memory_mb: 4, asics: 1, '
                 'asic_sag_min: 0.7}\n',
                 'expected asic_sag_min <= asic_sag_max <= 1, got 0.7 and '
                 '0.6'),
                ('f.yaml', 'groups:\n  - {vcpus: 2, memory_mb: 4, asics: 1, '
                 'asic_sag_max: 1.5}\n', 'asic_sag_max <= 1'),
                ('f.yaml', 'groups:\n  - {vcpus: 2, memory_mb: 4, asics: 1, '
                 'asic_seed: 0.5}\n', 'asic_seed=0.5 is not an integer'),
                ('f.txt', '', 'expected .yaml')):
            with self.subTest(message=message):
                error = self.assertRaises(fleet.FleetError, fleet.load,
                                          self._file(name, text))
                self.assertIn(message, str(error))

    def test_sizes_and_ratios_are_finite_and_positive(self):
        # Each would load, then divide by zero, truncate or poison every
        # figure with NaN.
        for name, text, message in (
                ('f.yaml', 'groups:\n  - {name: a, vcpus: 0, '
                 'memory_mb: 4}\n', 'f.yaml: a: vcpus=0 must be positive'),
                ('f.json', '{"groups": [{"name": "a", "vcpus": 2, '
                 '"memory_mb": 0}]}', 'memory_mb=0 must be positive'),
                ('f.ini', '[a]\ncount = 0\nvcpus = 2\nmemory_mb = 4\n',
                 "f.ini: [a]: count='0' must be positive"),
                ('f.yaml', 'groups:\n  - {vcpus: 7.9, memory_mb: 4}\n',
                 'vcpus=7.9 is not an integer'),
                ('f.ini', '[a]\nvcpus = 2\nmemory_mb = 4.5\n',
                 "memory_mb='4.5' is not an integer"),
                ('f.yaml', 'groups:\n  - {vcpus: true, memory_mb: 4}\n',
                 'vcpus=True is not an integer'),
                ('f.yaml', 'defaults: {cpu_allocation_ratio: .nan}\n'
                 'groups:\n  - {vcpus: 2, memory_mb: 4}\n',
                 'cpu_allocation_ratio=nan is not a finite number'),
                ('f.ini', '[a]\nvcpus = 2\nmemory_mb = 4\n'
                 'ram_allocation_ratio = 0\n',
                 'ram_allocation_ratio=\'0\' must be positive'),
                ('f.ini', '[a]\nvcpus = 2\nmemory_mb = 4\ngpus = 1\n'
                 'gpu_ambient_c = inf\n',
                 "gpu_ambient_c='inf' is not a finite number")):
            with self.subTest(message=message):
                error = self.assertRaises(fleet.FleetError, fleet.load,
                                          self._file(name, text))
                self.assertIn(message, str(error))

    def test_whole_numbers_in_any_spelling(self):
        loaded = fleet.load(self._file('f.ini', '[a]\nvcpus = 2.0\n'
                                       'memory_mb = 4096\ngpus = 0\n'))
        self.assertEqual((2, 4096), (loaded.hosts[0].vcpus,
                                     loaded.hosts[0].memory_mb))
        self.assertIsInstance(loaded.hosts[0].vcpus, int)
        self.assertIsNone(loaded.hosts[0].gpu)


class TestGpuModel(base.BaseTestCase):

    def test_each_gpu_heats_by_its_own_work_and_throttles(self):
        spec = fleet.GpuSpec(count=4, slowdown_c=90, idle_c=30, full_c=80,
                             chassis_c=4, ambient_c=2, ambient_swing_c=3,
                             drift_c_per_day=1, idle_power_percent=10,
                             full_power_percent=90)
        # A quarter of a day in: the swing is at its peak, the drift
        # 0.25; base = 30 + 4 * mean + ambient + 3 + 0.25, work = 50 u.
        for (name, ambient, work, temperature, delivered, power,
             throttled) in (
                ('one busy GPU', 2, [1, 0, 0, 0],
                 [86.25, 36.25, 36.25, 36.25], [1] * 4, [90, 10, 10, 10],
                 [False] * 4),
                # base 45.25: the busy ones would reach 95.25; they do
                # (90 - 45.25) / 50 of their work and stay at 90.
                ('a hot row', 10, [1, 1, 0, 0],
                 [90, 90, 45.25, 45.25], [0.895, 0.895, 1, 1],
                 [10 + 80 * 0.895] * 2 + [10, 10], [True, True, False,
                                                    False]),
                # base 93.75: over the limit even idle.
                ('hotter than slowdown', 60, [0.5, 0, 0, 0],
                 [93.75] * 4, [0] * 4, [10] * 4, [True] * 4)):
            heat = dataclasses.replace(spec, ambient_c=ambient).heat(
                np.array(work, dtype=float), fleet.DAY / 4)
            with self.subTest(name):
                np.testing.assert_allclose(temperature, heat.temperature_c)
                np.testing.assert_allclose(delivered, heat.delivered)
                np.testing.assert_allclose(power, heat.power_percent)
                self.assertEqual(throttled, heat.throttled.tolist())

    def test_the_bmc_cap_slows_down_the_working_gpus(self):
        # 300 W GPUs (45 W idle, 288 W busy) beside 400 W, capped at
        # 1.1 kW; a cool room (base 35 + 6 * 0.625).  Asked for 1, 1, 0.5
        # and 0, they would draw 1,421.5 W: the three working ones each
        # do 520 / 607.5 of their work, which brings the chassis to the
        # cap, and run as much cooler.
        spec = fleet.GpuSpec(count=4, power_limit_w=300.0,
                             chassis_base_w=400.0, chassis_cap_w=1100.0)
        asked = np.array([1.0, 1.0, 0.5, 0.0])
        heat = spec.heat(asked, 0.0)
        share = 520 / 607.5
        np.testing.assert_allclose([share] * 3 + [1], heat.delivered)
        self.assertEqual([True, True, True, False], heat.throttled.tolist())
        np.testing.assert_allclose(
            1100, 400 + (heat.power_percent * 3.0).sum())
        np.testing.assert_allclose(
            38.75 + 43 * asked * heat.delivered, heat.temperature_c)
        # Under the cap, or without one, nothing is held back.
        for cap in (1500.0, 0.0):
            with self.subTest(cap=cap):
                free = dataclasses.replace(spec, chassis_cap_w=cap).heat(
                    asked, 0.0)
                np.testing.assert_allclose([1] * 4, free.delivered)
                self.assertFalse(free.throttled.any())


class TestSized(base.BaseTestCase):

    def test_hosts_fit_the_trace(self):
        trace = synthetic.generate(seed=2, instances=60, hours=4)
        sized = fleet.sized(trace, count=5, load=0.5)
        busy = np.nansum(trace.cpu, axis=0).mean()
        vcpus = sized.vcpus.sum()
        self.assertTrue(0.4 < busy / vcpus <= 0.5, busy / vcpus)
        held = (trace.vcpus[:, None] * trace.alive).sum(axis=0).max()
        self.assertGreaterEqual(sized.allocatable[:, 0].sum(), 1.25 * held)
        self.assertGreaterEqual(sized.hosts[0].memory_mb * 1.25,
                                trace.memory_mb.max())
