"""The runner's wait for the players, against a clock it is given."""

import itertools

import fixtures
from oslotest import base

from cryptomine_scheduler.experiment import flavors
from cryptomine_scheduler.experiment import record as record_mod
from cryptomine_scheduler.experiment import runner
from cryptomine_scheduler.experiment import setup as setup_mod


class PlayedTest(base.BaseTestCase):

    def test_the_end_passing_between_two_clock_readings(self):
        # The clock moves 0.6 s at each reading and the run lasts 1 s:
        # the end passes after the loop's test, before its sleep.
        folder = self.useFixture(fixtures.TempDir())
        record = record_mod.Record(
            name='x', setup=setup_mod.Setup(
                trace='t', trace_format='csv', mapping='m', compression=1.0,
                duration=1.0, image='cirros', network='none'),
            resources=[], start_at=0.0)
        saver = runner.Saver(record, folder.join('record.json'))
        readings = itertools.count(0.6, 0.6)
        played = runner.Runner(
            None, saver, (), flavors.Mapping((), ()),
            timing=runner.Timing(poll=0.01),
            clock=lambda: next(readings), notify=lambda _: None)
        played._played(saver)
        self.assertAlmostEqual(1.8, record_mod.load(saver.path).ended_at)
