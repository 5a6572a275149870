import numpy as np
from oslotest import base

from cryptomine_scheduler.history import mining
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.history import summaries
from cryptomine_scheduler.history.summaries import Stat
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests import samples


def summarise(times, values) -> np.ndarray:
    """``window_stats`` of one series: ``stats[metric, Stat]``."""
    values = np.array(values, dtype=float)[:, None, :]
    return summaries.window_stats(np.array(times)[:, None], values,
                                  ~np.isnan(values),
                                  np.zeros((1, values.shape[2])))[0]


class TestWindowStats(base.BaseTestCase):

    CASES = [
        # (times, values, expected {stat: value})
        ([0.0], [[7.0]], {Stat.LAST: 7, Stat.MEAN: 7, Stat.P95: 7,
                          Stat.STD: 0, Stat.TREND: 0}),
        ([0.0, 60.0, 120.0], [[1.0], [2.0], [3.0]],
         {Stat.LAST: 3, Stat.MEAN: 2, Stat.TREND: 1.0,
          Stat.STD: np.std([1, 2, 3])}),
        ([0.0, 30.0, 60.0, 90.0], [[10.0], [8.0], [6.0], [4.0]],
         {Stat.TREND: -4.0, Stat.P95: 9.7}),
        (list(np.arange(20.0)), [[float(v)] for v in range(1, 21)],
         {Stat.P95: 19.05, Stat.MEAN: 10.5}),
    ]

    def test_table(self):
        for times, values, expected in self.CASES:
            stats = summarise(times, values)
            for stat, value in expected.items():
                with self.subTest(times=times, stat=stat):
                    self.assertAlmostEqual(value, stats[0, stat], places=6)

    def test_metrics_are_independent_columns(self):
        stats = summarise([0.0, 60.0], [[1.0, 5.0], [3.0, 5.0]])
        self.assertEqual([2.0, 0.0], list(stats[:, Stat.TREND]))

    def test_agrees_with_numpy_on_series_with_gaps(self):
        rng = np.random.default_rng(7)
        for depth in (1, 2, 5, 60):
            times = np.sort(rng.uniform(0, 600, depth))
            values = rng.normal(50, 20, (depth, 4))
            values[rng.random((depth, 4)) < 0.3] = np.nan
            values[:, 3] = np.nan  # a metric never read
            stats = summarise(times, values)
            for m in range(3):
                known = ~np.isnan(values[:, m])
                series, stamps = values[known, m], times[known]
                with self.subTest(depth=depth, metric=m):
                    if not series.size:
                        self.assertTrue(np.isnan(stats[m, Stat.MEAN]))
                        continue
                    self.assertAlmostEqual(series[-1], stats[m, Stat.LAST])
                    self.assertAlmostEqual(series.mean(), stats[m, Stat.MEAN])
                    self.assertAlmostEqual(np.percentile(series, 95),
                                           stats[m, Stat.P95])
                    self.assertAlmostEqual(series.std(), stats[m, Stat.STD])
                    slope = (np.polyfit(stamps, series, 1)[0] * 60.0
                             if series.size > 1 else 0.0)
                    self.assertAlmostEqual(slope, stats[m, Stat.TREND])
            self.assertTrue(np.isnan(np.delete(stats[3], Stat.EWMA)).all())

    def test_autocorrelation_of_the_known_readings_in_order(self):
        rng = np.random.default_rng(3)
        level = np.zeros(400)
        for t in range(1, len(level)):
            level[t] = 0.9 * level[t - 1] + rng.normal()
        values = np.stack([level, rng.normal(size=400)], axis=1)
        values[rng.random(values.shape) < 0.2] = np.nan
        stats = summarise(np.arange(400.0), values)
        for m in range(2):
            series = values[~np.isnan(values[:, m]), m]
            spread = series - series.mean()
            with self.subTest(metric=m):
                self.assertAlmostEqual(
                    (spread[1:] * spread[:-1]).sum() / (spread ** 2).sum(),
                    stats[m, Stat.AUTOCORR])
        self.assertGreater(stats[0, Stat.AUTOCORR], 0.8)   # persists
        self.assertLess(abs(stats[1, Stat.AUTOCORR]), 0.2)  # noise

    def test_autocorrelation_unknown_under_three_readings_or_constant(self):
        for values in ([[1.0], [2.0]], [[4.0], [4.0], [4.0]]):
            with self.subTest(values=values):
                stats = summarise(np.arange(len(values), dtype=float),
                                  values)
                self.assertTrue(np.isnan(stats[0, Stat.AUTOCORR]))


class TestSummaryBook(base.BaseTestCase):

    def test_ewma_half_life(self):
        book = summaries.SummaryBook(1, window=600, half_life=60)
        book.add('h', 0.0, [0.0])
        book.add('h', 60.0, [100.0])  # one half-life later: halfway
        self.assertAlmostEqual(50.0, book.summaries(60.0)['h'].get(
            0, Stat.EWMA))
        book.add('h', 180.0, [100.0])  # two more: 50 + 50 * 3/4
        self.assertAlmostEqual(87.5, book.summaries(180.0)['h'].get(
            0, Stat.EWMA))

    def test_window_drops_old_samples(self):
        book = summaries.SummaryBook(1, window=100, half_life=10)
        for t in range(0, 300, 10):
            book.add('h', float(t), [float(t)])
        summary = book.summaries(290.0)['h']
        self.assertEqual(11, summary.samples)  # 190..290
        self.assertEqual(240.0, summary.get(0, Stat.MEAN))
        self.assertEqual(290.0, summary.newest)

    def test_window_bounds_memory_without_any_snapshot(self):
        book = summaries.SummaryBook(1, window=100, half_life=10)
        for t in range(0, 7200 * 10, 1):
            book.add('h', t / 10.0, [1.0])
        # Two simulated hours at 10 samples a second, never summarised:
        # only the window's 100 s are kept.
        self.assertEqual(1001, len(book._series['h'].times))

    def test_late_sample_enters_window_in_order(self):
        book = summaries.SummaryBook(1, window=600, half_life=60)
        book.add('h', 0.0, [0.0])
        book.add('h', 120.0, [20.0])
        book.add('h', 60.0, [10.0])  # replayed late
        summary = book.summaries(120.0)['h']
        self.assertEqual(20.0, summary.get(0, Stat.LAST))
        self.assertAlmostEqual(10.0, summary.get(0, Stat.TREND))

    def test_forget_after(self):
        book = summaries.SummaryBook(1, window=60, half_life=10,
                                     forget_after=60)
        book.add('gone', 0.0, [1.0])
        book.add('live', 100.0, [1.0])
        self.assertEqual({'live'}, set(book.summaries(100.0)))

    def test_batches_of_mixed_lengths_match_one_by_one(self):
        rng = np.random.default_rng(3)
        batched = summaries.SummaryBook(2, window=600, half_life=60, batch=3)
        for key in range(10):
            for t in range(key % 4 + 1):  # lengths 1 to 4
                batched.add(key, 10.0 * t, rng.normal(50, 10, 2))
        got = batched.summaries(100.0)
        for key, summary in got.items():
            alone = summaries.SummaryBook(2, window=600, half_life=60)
            series = batched._series[key]
            for stamp, row in zip(series.times, series.values, strict=True):
                alone.add(key, stamp, row)
            with self.subTest(key=key):
                np.testing.assert_allclose(
                    alone.summaries(100.0)[key].stats, summary.stats)
                self.assertEqual(key % 4 + 1, summary.samples)

    def test_summaries_of_some_keys_and_new_series(self):
        book = summaries.SummaryBook(1, window=600, half_life=60)
        book.add('old', 0.0, [1.0])
        book.add('new', 500.0, [2.0])
        book.add('old', 500.0, [3.0])
        self.assertEqual(['new'], book.first_seen_since(400.0))
        picked = book.summaries(500.0, keys=['new', 'absent'])
        self.assertEqual({'new'}, set(picked))
        self.assertEqual(2.0, picked['new'].get(0, Stat.LAST))

    def test_unchanged_series_reuse_their_summary(self):
        book = summaries.SummaryBook(1, window=60, half_life=10)
        book.add('a', 0.0, [1.0])
        first = book.summaries(1.0)['a']
        self.assertIs(first, book.summaries(2.0)['a'])
        book.add('a', 3.0, [2.0])
        self.assertIsNot(first, book.summaries(3.0)['a'])


class TestSnapshot(base.BaseTestCase):

    def test_wire_round_trip(self):
        tracker = snapshot.LoadTracker(window=600, half_life=60)
        for i in range(10):
            tracker.add(samples.make(host='a', seq=i, timestamp=1000.0 + i,
                                     cpu=10.0 * i,
                                     instances=[samples.instance(1, cpu=i)]))
        tracker.add(samples.make(host='b', seq=1, timestamp=1005.0, cpu=50))
        snap = snapshot.LoadSnapshot.from_wire(tracker.snapshot(1010.0))
        self.assertEqual({'a', 'b'}, set(snap.hosts))
        a = snap.hosts['a']
        self.assertEqual(10, a.samples)
        self.assertAlmostEqual(1.0, a.age)
        self.assertEqual(90.0, a.metric(sample.HostMetric.CPU_PERCENT,
                                        Stat.LAST))
        self.assertEqual(45.0, a.metric(sample.HostMetric.CPU_PERCENT,
                                        Stat.MEAN))
        guest = snap.instances[samples.instance(1).uuid]
        self.assertEqual('a', guest.host)
        self.assertEqual(9.0, guest.metric(sample.InstanceMetric.CPU_PERCENT,
                                           Stat.LAST))

    def test_instances_are_those_of_each_hosts_newest_sample(self):
        tracker = snapshot.LoadTracker(window=600, half_life=60)
        kept, gone, moved = (samples.instance(n) for n in (1, 2, 3))
        tracker.add(samples.make(host='a', seq=1, timestamp=1000.0,
                                 instances=[kept, gone, moved]))
        tracker.add(samples.make(host='b', seq=1, timestamp=1005.0,
                                 instances=[moved]))
        tracker.add(samples.make(host='a', seq=2, timestamp=1010.0,
                                 instances=[kept]))
        # A replayed older sample of 'a' does not bring them back.
        tracker.add(samples.make(host='a', seq=0, timestamp=990.0,
                                 instances=[kept, gone, moved]))
        snap = snapshot.LoadSnapshot.from_wire(tracker.snapshot(1010.0))
        self.assertEqual({kept.uuid: 'a', moved.uuid: 'b'},
                         {u: i.host for u, i in snap.instances.items()})

    def test_snapshot_of_a_writer_without_the_newest_stats(self):
        tracker = snapshot.LoadTracker(window=600, half_life=60)
        tracker.add(samples.make(host='a', seq=1, timestamp=1000.0, cpu=50,
                                 instances=[samples.instance(1, cpu=5)]))
        wire = tracker.snapshot(1000.0)
        wire['stats'] = wire['stats'][:Stat.AUTOCORR]
        for series in (*wire['hosts'].values(), *wire['instances'].values()):
            series['stats'] = [row[:Stat.AUTOCORR]
                               for row in series['stats']]
        snap = snapshot.LoadSnapshot.from_wire(wire)
        a = snap.hosts['a']
        self.assertEqual(50.0, a.metric(sample.HostMetric.CPU_PERCENT,
                                        Stat.LAST))
        self.assertTrue(np.isnan(a.metric(sample.HostMetric.CPU_PERCENT,
                                          Stat.AUTOCORR)))

    def test_snapshot_of_a_writer_without_the_newest_mining_metrics(self):
        tracker = snapshot.LoadTracker(window=600, half_life=60)
        tracker.add(samples.make(host='a', seq=1, timestamp=1000.0,
                                 gpus=[samples.gpu(0, temp=70.0)]))
        wire = tracker.snapshot(1000.0)
        known = mining.METRICS.index(mining.MiningMetric.INLET_TEMPERATURE)
        wire['mining_metrics'] = wire['mining_metrics'][:known]
        wire['hosts']['a']['mining'] = wire['hosts']['a']['mining'][:known]
        a = snapshot.LoadSnapshot.from_wire(wire).hosts['a']
        self.assertEqual(19.0, a.mining_metric(
            mining.MiningMetric.GPU_THERMAL_HEADROOM, Stat.LAST))
        self.assertTrue(np.isnan(a.mining_metric(
            mining.MiningMetric.INLET_TEMPERATURE, Stat.LAST)))
        # Mining metrics in another order are another layout.
        wire['mining_metrics'] = wire['mining_metrics'][::-1]
        self.assertRaises(snapshot.SnapshotVersionError,
                          snapshot.LoadSnapshot.from_wire, wire)

    def test_incompatible_snapshot_refused(self):
        wire = snapshot.LoadTracker(600, 60).snapshot(0.0)
        self.assertRaises(snapshot.SnapshotVersionError,
                          snapshot.LoadSnapshot.from_wire,
                          {**wire, 'version': 2})
        self.assertRaises(snapshot.SnapshotVersionError,
                          snapshot.LoadSnapshot.from_wire,
                          {**wire, 'host_metrics': ['cpu_percent']})
