import gzip
import os
import shutil

import fixtures
import numpy as np
from oslotest import base

from cryptomine_scheduler.placement.scoring import Accelerator
from cryptomine_scheduler.simulator import synthetic
from cryptomine_scheduler.simulator import traces
from cryptomine_scheduler.tests import shared_traces


class TestPlanetLab(base.BaseTestCase):

    def test_every_file_of_the_shared_day(self):
        path = shared_traces.require(self, shared_traces.PLANETLAB)
        trace = traces.read_planetlab(path)
        names = sorted(n for n in os.listdir(path) if n != 'SOURCE.txt')
        self.assertEqual(tuple(names), trace.instances)
        self.assertEqual((1052, 288), trace.cpu.shape)
        self.assertEqual(300.0, trace.step)
        for i, name in enumerate(names):
            with open(os.path.join(path, name)) as f:
                expected = [int(line) / 100.0 for line in f if line.strip()]
            np.testing.assert_array_equal(expected, trace.cpu[i])
        self.assertEqual({1}, set(trace.vcpus.tolist()))
        self.assertEqual(set(traces.PLANETLAB_MEMORY_MB),
                         set(trace.memory_mb.tolist()))
        np.testing.assert_array_equal(trace.memory_mb[:, None]
                                      * np.ones(288), trace.rss_mb)

    def _folder(self, **files) -> str:
        folder = self.useFixture(fixtures.TempDir()).path
        for name, text in files.items():
            with open(os.path.join(folder, name), 'wb') as f:
                f.write(text if isinstance(text, bytes) else text.encode())
        return folder

    def test_skips_files_that_are_not_series(self):
        folder = self._folder(**{'vm-b': '10\n20\n', 'vm-a': '5\n\n7\n',
                                 'README': 'Source: somewhere\n'})
        trace = traces.read_planetlab(folder, steps=2)
        self.assertEqual(('vm-a', 'vm-b'), trace.instances)
        np.testing.assert_array_equal([[0.05, 0.07], [0.1, 0.2]],
                                      trace.cpu)

    def test_every_file_has_a_day_of_lines(self):
        day = ''.join(f'{i % 100}\n' for i in range(288))
        self.assertEqual((2, 288), traces.read_planetlab(self._folder(
            a=day, b=gzip.compress(day.encode()))).cpu.shape)
        error = self.assertRaises(traces.TraceError, traces.read_planetlab,
                                  self._folder(a=day, b='5\n' * 200))
        self.assertIn('/b: cut short: 200 CPU % lines, expected 288 (a day '
                      'of 5-minute steps)', str(error))

    def test_or_as_many_as_the_longest(self):
        folder = self._folder(a='1\n2\n3\n', b='4\n5\n')
        error = self.assertRaises(traces.TraceError, traces.read_planetlab,
                                  folder, steps=None)
        self.assertIn('/b: cut short: 2 CPU % lines, expected 3 as the '
                      'longest file', str(error))
        self.assertEqual((1, 2), traces.read_planetlab(
            os.path.join(folder, 'b'), steps=None).cpu.shape)

    def test_rejects_out_of_range_values(self):
        folder = self._folder(vm='10\n140\n')
        error = self.assertRaises(traces.TraceError, traces.read_planetlab,
                                  folder, steps=2)
        self.assertIn("/vm:2: CPU % '140' is not 0-100", str(error))


class TestBitbrains(base.BaseTestCase):

    def test_every_file_of_the_shared_month(self):
        path = shared_traces.require(self, shared_traces.BITBRAINS)
        trace = traces.read_bitbrains(path)
        files = sorted(n for n in os.listdir(path) if n.endswith('.csv.gz'))
        self.assertEqual(100, len(files))
        self.assertEqual(sorted(n[:-len('.csv.gz')] for n in files),
                         sorted(trace.instances))
        self.assertEqual(300.0, trace.step)
        self.assertEqual(1372629804.0, trace.start)  # seconds, not ms
        # Ten days is 2,880 steps; the month is about 30 days.
        self.assertTrue(8600 < trace.steps < 8700, trace.steps)
        self.assertTrue(trace.alive.any(axis=1).all())
        for i, name in enumerate(trace.instances):
            rows = self._rows(os.path.join(path, name + '.csv.gz'))
            up = rows[:, 1] > 0
            with self.subTest(vm=name):
                self.assertEqual(rows[up, 1].max(), trace.vcpus[i])
                self.assertAlmostEqual(rows[up, 5].max() / 1024.0,
                                       trace.memory_mb[i])
                slot = np.rint((rows[up, 0] - trace.start) / 300).astype(int)
                alive = np.flatnonzero(trace.alive[i])
                self.assertEqual((slot.min(), slot.max()),
                                 (alive[0], alive[-1]))
                self.assertEqual(len(alive), alive[-1] - alive[0] + 1)
                alone = np.flatnonzero(np.bincount(slot)[slot] == 1)
                np.testing.assert_allclose(
                    rows[up][alone, 4] * rows[up][alone, 1] / 100.0,
                    trace.cpu[i, slot[alone]])
                np.testing.assert_allclose(rows[up][alone, 6] / 1024.0,
                                           trace.rss_mb[i, slot[alone]])

    @staticmethod
    def _rows(path: str) -> np.ndarray:
        """The file parsed on its own, with the standard library."""
        with gzip.open(path, 'rt') as f:
            next(f)
            return np.array([[float(v) for v in line.split(';')[:7]]
                             for line in f if line.strip()])

    def test_plain_and_gzipped_read_the_same(self):
        path = shared_traces.require(self, shared_traces.BITBRAINS)
        folder = self.useFixture(fixtures.TempDir()).path
        shutil.copy(os.path.join(path, '1.csv.gz'), folder)
        with gzip.open(os.path.join(path, '2.csv.gz'), 'rb') as src, \
                open(os.path.join(folder, '2.csv'), 'wb') as out:
            shutil.copyfileobj(src, out)
        both = traces.read_bitbrains(folder)
        plain = traces.read_bitbrains(os.path.join(folder, '2.csv'))
        self.assertEqual(('1', '2'), both.instances)
        one = both.instances.index('2')
        np.testing.assert_array_equal(
            plain.cpu[0], both.cpu[one][both.alive[one]])


CSV = """\
# made by hand: columns in another order, a gap, a GPU guest
instance,timestamp,cpu_percent,vcpus,memory_mb,rss_mb,accelerator,gpu_percent
web,1000,50,2,4096,1000,,
web,1060,25,2,4096,1100,,
miner,1060,10,4,16384,8000,gpu,99
web,1180,100,2,4096,1200,,
"""


def write(test, text: str) -> str:
    """``text`` in a file of a temporary folder of ``test``."""
    path = test.useFixture(fixtures.TempDir()).join('trace.csv')
    with open(path, 'w') as f:
        f.write(text)
    return path


class TestCsv(base.BaseTestCase):

    def test_documented_format(self):
        trace = traces.read_csv(write(self, CSV))
        self.assertEqual(60.0, trace.step)
        self.assertEqual(1000.0, trace.start)
        self.assertEqual(('web', 'miner'), trace.instances)
        self.assertEqual([2, 4], trace.vcpus.tolist())
        self.assertEqual((None, Accelerator.GPU), trace.accelerators)
        # The gap at 1120 repeats the sample before it.
        np.testing.assert_array_equal([1.0, 0.5, 0.5, 2.0], trace.cpu[0])
        np.testing.assert_array_equal([np.nan, 0.4, np.nan, np.nan],
                                      trace.cpu[1])
        np.testing.assert_array_equal([np.nan, 99, np.nan, np.nan],
                                      trace.gpu[1])
        self.assertTrue(np.isnan(trace.gpu[0]).all())

    def test_round_trip(self):
        trace = synthetic.generate(seed=4, instances=40, hours=3)
        self.assertIn(Accelerator.GPU, trace.accelerators)
        path = self.useFixture(fixtures.TempDir()).join('out.csv')
        traces.write_csv(trace, path)
        again = traces.read_csv(path)
        self.assertEqual(trace.instances, again.instances)
        self.assertEqual(trace.accelerators, again.accelerators)
        np.testing.assert_array_equal(trace.vcpus, again.vcpus)
        np.testing.assert_array_equal(trace.memory_mb, again.memory_mb)
        np.testing.assert_allclose(trace.cpu, again.cpu, rtol=1e-12)
        np.testing.assert_array_equal(trace.rss_mb, again.rss_mb)
        np.testing.assert_array_equal(trace.gpu, again.gpu)
        self.assertEqual((trace.step, trace.start),
                         (again.step, again.start))

    def test_errors_name_the_problem(self):
        for text, message in (
                ('instance,timestamp\nvm,1\n', 'missing columns'),
                (CSV.replace('web,1180,100,2', 'web,1180,100,3'),
                 'flavor of web changed'),
                (CSV.replace(',gpu,99', ',fpga,99'), 'unknown accelerator'),
                (CSV.replace('1060,25', '1060,lots'), 'not a number'),
                (CSV.replace('web,1180,100,2', 'web,1180,100,'),
                 'vcpus is empty')):
            with self.subTest(message=message):
                error = self.assertRaises(traces.TraceError,
                                          traces.read_csv, write(self, text))
                self.assertIn(message, str(error))

    def test_numbers_must_be_finite_and_in_range(self):
        # The row's line in the file (the first line is a comment).
        for old, new, message in (
                ('web,1060,25', 'web,inf,25', ':4: timestamp=\'inf\' is not '
                 'finite'),
                ('1060,25,2', '1060,25,nan', ':4: vcpus=\'nan\' is not '
                 'finite'),
                ('1060,25,2', '1060,25,2.5', ":4: vcpus='2.5' is not an "
                 'integer'),
                ('1060,25,2', '1060,25,0', ":4: vcpus='0' is not >= 1"),
                ('1060,25', '1060,-500', ":4: cpu_percent='-500' is not "
                 '>= 0'),
                ('gpu,99', 'gpu,101', ":5: gpu_percent='101' is not 0-100"),
                ('4096,1100', '4096,-1', ":4: rss_mb='-1' is not >= 0"),
                ('1060,25,2,4096', '1060,25,2,-4096',
                 ":4: memory_mb='-4096' is not >= 0")):
            with self.subTest(message=message):
                path = write(self, CSV.replace(old, new, 1))
                error = self.assertRaises(traces.TraceError,
                                          traces.read_csv, path)
                self.assertIn(path + message, str(error))

    def test_a_guest_may_exceed_its_vcpus_a_little(self):
        # Bitbrains records up to 106 % of the provisioned cores.
        trace = traces.read_csv(write(self, CSV.replace('1060,25',
                                                        '1060,106.4')))
        self.assertAlmostEqual(2.128, trace.cpu[0, 1])


class TestTrace(base.BaseTestCase):

    def test_head_keeps_instances_alive_in_the_steps_kept(self):
        trace = traces.read_csv(write(self, CSV))
        first = trace.head(steps=1)
        self.assertEqual(('web',), first.instances)
        self.assertEqual((1, 1), first.cpu.shape)
        self.assertEqual(('web',), trace.head(instances=1).instances)
