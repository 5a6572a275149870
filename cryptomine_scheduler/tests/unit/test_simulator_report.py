import dataclasses
import json
import os

import fixtures
from matplotlib import image
from oslotest import base

from cryptomine_scheduler.simulator import comparison
from cryptomine_scheduler.simulator import report
from cryptomine_scheduler.simulator import synthetic

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
        for line, figures in zip(lines[1:], result.figures, strict=True):
            cells = line.split()
            self.assertEqual(figures.policy, cells[0])
            self.assertEqual(f'{figures.overload * 100:.2f}', cells[1])
            self.assertEqual(str(figures.migrations), cells[5])

    def test_files(self):
        result = small()
        folder = os.path.join(self.useFixture(fixtures.TempDir()).path,
                              'out')
        written = report.write(result, folder)
        self.assertEqual(['report.json', 'heatmap.png', 'sigma.png',
                          'cdf.png'], [os.path.basename(p) for p in written])
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
