import numpy as np
from oslotest import base

from cryptomine_scheduler.history import summaries
from cryptomine_scheduler.history.summaries import Stat
from cryptomine_scheduler.simulator import history

STEP = 300.0


class TestHistoryMatchesSummaryBook(base.BaseTestCase):
    """The vectorised summaries equal SummaryBook's on the same samples."""

    def _compare(self, series: int, metrics: int, steps: int, window: float,
                 seed: int) -> None:
        rng = np.random.default_rng(seed)
        depth = int(window // STEP) + 1
        ours = history.History(series, metrics, window, 900.0, depth)
        book = summaries.SummaryBook(metrics, window, 900.0)
        for t in range(steps):
            values = rng.normal(50, 20, (series, metrics))
            values[rng.random((series, metrics)) < 0.15] = np.nan
            sampled = rng.random(series) < 0.8
            stamp = (t + 1) * STEP
            ours.add(stamp, values, sampled)
            for s in np.flatnonzero(sampled):
                book.add(s, stamp, values[s])
        got = ours.summaries()
        expected = book.summaries(steps * STEP)
        self.assertEqual(set(expected), set(np.flatnonzero(got.samples)))
        for s, summary in expected.items():
            with self.subTest(series=s):
                self.assertEqual(summary.samples, got.samples[s])
                self.assertEqual(summary.newest, got.newest[s])
                np.testing.assert_allclose(summary.stats, got.stats[s],
                                           rtol=1e-9, atol=1e-9)

    def test_window_wrapped_many_times(self):
        self._compare(series=40, metrics=3, steps=50, window=3600.0,
                      seed=1)

    def test_window_longer_than_the_run(self):
        self._compare(series=10, metrics=2, steps=5, window=3600.0, seed=2)

    def test_short_window(self):
        self._compare(series=10, metrics=2, steps=20, window=600.0, seed=3)

    def test_series_never_sampled_summarises_to_nothing(self):
        ours = history.History(2, 1, 600.0, 60.0, 3)
        ours.add(STEP, np.array([[5.0], [7.0]]), np.array([True, False]))
        got = ours.summaries()
        self.assertEqual([1, 0], got.samples.tolist())
        self.assertTrue(np.isnan(got.stats[1]).all())
        self.assertEqual(5.0, got.stats[0, 0, Stat.P95])
        self.assertEqual(0.0, got.stats[0, 0, Stat.TREND])
