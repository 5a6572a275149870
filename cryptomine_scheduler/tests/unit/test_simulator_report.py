import dataclasses
import json
import os

import fixtures
import numpy as np
from matplotlib import image
from oslotest import base

from cryptomine_scheduler.placement.scoring import Accelerator
from cryptomine_scheduler.simulator import comparison
from cryptomine_scheduler.simulator import engine
from cryptomine_scheduler.simulator import fleet
from cryptomine_scheduler.simulator import report
from cryptomine_scheduler.simulator import synthetic
from cryptomine_scheduler.tests.simulation import asic_host
from cryptomine_scheduler.tests.simulation import trace

NAN = np.nan

POLICIES = ('nova-spread', 'load-aware', 'watcher')


def small() -> comparison.Comparison:
    case = synthetic.scenario(seed=3, instances=40, hours=2)
    return comparison.compare(case.trace, case.fleet, POLICIES)


class TestReport(base.BaseTestCase):

    def test_table_has_a_row_per_policy(self):
        result = small()
        lines = report.table(result).splitlines()
        self.assertEqual(len(POLICIES) + 1, len(lines))
        self.assertEqual('policy', lines[0].split()[0])
        self.assertIn('GPU hot %', lines[0])  # the fleet has GPU hosts
        migrations = report.rows(result)[0].index('migrations')
        for line, figures in zip(lines[1:], result.figures, strict=True):
            cells = line.split()
            self.assertEqual(figures.policy, cells[0])
            self.assertEqual(f'{figures.overload * 100:.2f}', cells[1])
            self.assertEqual(f'{figures.even_overload * 100:.2f}', cells[2])
            self.assertEqual(str(figures.migrations), cells[migrations])

    def test_files(self):
        result = small()
        folder = os.path.join(self.useFixture(fixtures.TempDir()).path,
                              'out')
        written = report.write(result, folder)
        self.assertEqual(['report.json', 'heatmap.png', 'gpu-heatmap.png',
                          'sigma.png', 'cdf.png'],
                         [os.path.basename(p) for p in written])
        with open(written[0]) as f:
            data = json.load(f)
        self.assertEqual([dataclasses.asdict(f) for f in result.figures],
                         data['policies'])
        self.assertEqual(40, data['trace']['instances'])
        self.assertEqual(len(result.fleet.hosts), data['fleet']['hosts'])
        self.assertEqual(300.0, data['settings']['replan_interval'])
        for png in written[1:]:
            pixels = image.imread(png)
            with self.subTest(plot=png):
                self.assertGreater(min(pixels.shape[:2]), 200)
                self.assertGreater(pixels.std(), 0.0)  # not blank


#: Two GPUs at 50 degC idle (no chassis heat, 20 degC ambient), 50 degC
#: more at full load, slowing down at 90.
WARM = fleet.GpuSpec(count=2, slowdown_c=90, idle_c=30, full_c=80,
                     chassis_c=0, ambient_c=20)
GPU, ASIC = Accelerator.GPU, Accelerator.ASIC
# vm0 and vm1 on gpu-000; nova-spread puts vm2 on the sick asic-000
# (a tie: the first) and vm3 on asic-001.
MINING = trace(cpu=[[0.1, 0.1], [0.1, NAN], [0.1, 0.1], [0.1, 0.1]],
               vcpus=[1] * 4, memory_mb=[1024] * 4,
               accelerators=(GPU, GPU, ASIC, ASIC),
               gpu=[[100, 100], [50, NAN], [NAN] * 2, [NAN] * 2])
MINING_FLEET = fleet.Fleet((
    fleet.HostSpec('gpu-000', 16, 65536, gpu=WARM),
    asic_host('asic-000', sick='sag'), asic_host('asic-001')))


class TestMiningSection(base.BaseTestCase):

    def test_figures_worked_out_by_hand(self):
        result = comparison.compare(MINING, MINING_FLEET,
                                    ('nova-spread', 'load-aware'))
        headings, body = report.rows(result)
        section = [headings.index(h) for h in
                   ('GPU hot %', 'GPU hash lost %', 'ASIC hash lost %',
                    'migrations', 'GB moved')]
        # vm0's GPU would reach 100 degC: it does (90 - 50) / 50 = 80 %
        # of its work at 90 (hot), two steps; vm1's reaches 75 (15 of
        # headroom), one step.  Hot: 2 of 3 GPU-steps; lost: (0.2 + 0 +
        # 0.2) / (1 + 0.5 + 1).  vm2's miner hashes at 40 %, two steps,
        # vm3's at 100 %: (0.6 * 2) / 4 lost.  Ours puts both on
        # asic-001.
        self.assertEqual([['66.67', '16.00', '30.00', '0', '0.0'],
                          ['66.67', '16.00', '0.00', '0', '0.0']],
                         [[row[k] for k in section] for row in body])

    def test_the_section_shows_the_devices_the_fleet_has(self):
        cpu = fleet.HostSpec('cpu-000', 16, 65536)
        for hosts, shown in (
                ((cpu,), []),
                ((cpu, MINING_FLEET.hosts[0]),
                 ['GPU hot %', 'GPU hash lost %']),
                ((cpu, MINING_FLEET.hosts[1]), ['ASIC hash lost %']),
                (MINING_FLEET.hosts,
                 ['GPU hot %', 'GPU hash lost %', 'ASIC hash lost %'])):
            work = trace(cpu=[[0.1]], vcpus=[1], memory_mb=[1024])
            result = comparison.compare(work, fleet.Fleet(hosts),
                                        ('nova-spread',))
            headings, _ = report.rows(result)
            with self.subTest(hosts=[h.name for h in hosts]):
                self.assertEqual(shown, [
                    h for h in headings
                    if ('GPU' in h or 'ASIC' in h) and 'sigma' not in h])

    def test_cold_migrations_shown_when_some_guest_may_move_cold(self):
        work = trace(cpu=[[0.1]], vcpus=[1], memory_mb=[1024])
        for kinds, shown in ((frozenset(), False),
                             (frozenset([Accelerator.ASIC]), True)):
            result = comparison.compare(
                work, MINING_FLEET, ('load-aware-replan',),
                engine.Settings(cold_migration=kinds))
            headings, rows = report.rows(result)
            with self.subTest(kinds=kinds):
                self.assertEqual(shown, 'cold moves' in headings)
                self.assertEqual([k.value for k in kinds], json.loads(
                    json.dumps(report.describe(result)))['settings'][
                        'cold_migration'])

    def test_sigma_of_each_kind_only_on_a_fleet_of_several(self):
        cpu = fleet.HostSpec('cpu-000', 16, 65536)
        for hosts, shown in (
                ((cpu,), []),
                (MINING_FLEET.hosts[1:], []),  # ASIC hosts alone
                ((cpu, MINING_FLEET.hosts[0]),
                 ['sigma CPU hosts %', 'sigma GPU hosts %']),
                (MINING_FLEET.hosts,
                 ['sigma GPU hosts %', 'sigma ASIC hosts %'])):
            work = trace(cpu=[[0.1]], vcpus=[1], memory_mb=[1024])
            result = comparison.compare(work, fleet.Fleet(hosts),
                                        ('nova-spread',))
            headings, rows = report.rows(result)
            with self.subTest(hosts=[h.name for h in hosts]):
                self.assertEqual(shown, [h for h in headings
                                         if h.startswith('sigma ')])
                self.assertNotIn('-', [rows[0][headings.index(h)]
                                       for h in shown])
