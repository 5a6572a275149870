import dataclasses

import numpy as np
from oslotest import base

from cryptomine_scheduler.simulator import fleet
from cryptomine_scheduler.simulator import miners
from cryptomine_scheduler.tests.simulation import asic_host

STEP = 300.0
DAY_STEPS = 288
#: One kind of failure each: (kind, spec fields).
KINDS = (
    ('failure', {'failure_rate_per_day': 0.2, 'down_hours': 6.0}),
    ('sag', {'sag_rate_per_day': 0.2, 'sag_hours': 6.0, 'sag_min': 0.3,
             'sag_max': 0.6}),
    ('error', {'error_rate_per_day': 0.2, 'error_hours': 6.0,
               'error_burst_per_min': 60.0}),
)


def health(steps: int, host: str = 'asic-000', count: int = 50,
           **fields) -> miners.MinerHealth:
    return miners.host_health(fleet.AsicSpec(count=count, **fields), host,
                              steps, STEP)


def sick(h: miners.MinerHealth, base_errors: float = 0.5) -> np.ndarray:
    return ~h.up | (h.hashrate_ratio < 1) | (h.errors_per_min > base_errors)


class TestFailureInjection(base.BaseTestCase):

    def test_each_kind_strikes_as_often_and_as_long_as_asked(self):
        # 0.2 events a day of 6 h: 5 % of the time (1 - exp(-0.05) with
        # overlaps, plus part of a step each), over 50 miners x 100 days.
        for kind, fields in KINDS:
            with self.subTest(kind=kind):
                h = health(100 * DAY_STEPS, **fields)
                share = sick(h).mean()
                self.assertTrue(0.045 < share < 0.055, share)

    def test_what_each_kind_does(self):
        for kind, fields in KINDS:
            h = health(20 * DAY_STEPS, **fields)
            down, sagging = ~h.up, h.hashrate_ratio < 1
            erring = h.errors_per_min > 0.5
            with self.subTest(kind=kind):
                if kind == 'failure':
                    # A dead miner hashes nothing and reports no error.
                    self.assertTrue(down.any())
                    np.testing.assert_array_equal(down, sagging)
                    self.assertTrue((h.hashrate_ratio[down] == 0).all())
                    self.assertTrue((h.errors_per_min[down] == 0).all())
                    self.assertTrue((h.errors_per_min[~down] == 0.5).all())
                elif kind == 'sag':
                    self.assertTrue(h.up.all() and not erring.any())
                    ratios = h.hashrate_ratio[sagging]
                    self.assertTrue(((ratios >= 0.3) & (ratios <= 0.6)).all())
                    self.assertGreater(np.unique(ratios).size, 10)
                else:
                    self.assertTrue(h.up.all() and not sagging.any())
                    # Overlapping bursts add up.
                    extra = (h.errors_per_min[erring] - 0.5) / 60.0
                    np.testing.assert_allclose(np.round(extra), extra)
                    self.assertTrue((extra >= 1).all())

    def test_seeded_and_deterministic(self):
        fields = dict(failure_rate_per_day=1.0, sag_rate_per_day=1.0,
                      error_rate_per_day=1.0)
        one = health(DAY_STEPS, **fields)
        for name, other, same in (
                ('same spec and host', health(DAY_STEPS, **fields), True),
                ('another host', health(DAY_STEPS, 'asic-001', **fields),
                 False),
                ('another seed', health(DAY_STEPS, seed=1, **fields),
                 False)):
            with self.subTest(name):
                self.assertEqual(same, all(
                    np.array_equal(getattr(one, f.name),
                                   getattr(other, f.name))
                    for f in dataclasses.fields(one)))

    def test_a_shorter_run_sees_the_beginning_of_a_longer_one(self):
        fields = dict(failure_rate_per_day=2.0, sag_rate_per_day=2.0,
                      error_rate_per_day=2.0)
        short, long = health(30, **fields), health(DAY_STEPS, **fields)
        for f in dataclasses.fields(short):
            np.testing.assert_array_equal(getattr(short, f.name),
                                          getattr(long, f.name)[:30])

    def test_no_rate_no_failure(self):
        h = health(DAY_STEPS, count=3, errors_per_min=0.25)
        self.assertTrue(h.up.all())
        self.assertTrue((h.hashrate_ratio == 1).all())
        self.assertTrue((h.errors_per_min == 0.25).all())

    def test_the_fleet_s_miners_host_after_host(self):
        hosts = (fleet.HostSpec('cpu-000', 8, 8192),
                 asic_host('asic-000', miners=2, sick='failure'),
                 asic_host('asic-001', miners=3))
        h = miners.fleet_health(fleet.Fleet(hosts), 4, STEP)
        self.assertEqual([[False] * 2 + [True] * 3] * 4, h.up.tolist())
        empty = miners.fleet_health(fleet.Fleet(hosts[:1]), 4, STEP)
        self.assertEqual((4, 0), empty.up.shape)
