"""Rolling per-host and per-instance load summaries (pure numpy).

For every series (a host, or an instance) the book keeps the samples of
the last ``window`` seconds and an exponentially weighted moving average
whose weight depends on the time between samples::

    alpha = 1 - 2 ** (-dt / half_life)
    ewma  = ewma + alpha * (value - ewma)

A summary holds, per metric: the last value, the EWMA, the mean, the
95th percentile and the standard deviation over the window, and the
trend (least-squares slope, units per minute).  Missing readings are NaN:
they are left out of every statistic (the EWMA keeps its value), and a
metric with no reading in the window summarises to NaN.
"""

import bisect
import dataclasses
import enum
import math
import threading
import warnings
from collections.abc import Hashable

import numpy as np


class Stat(enum.IntEnum):
    """Columns of :attr:`Summary.stats`."""

    LAST = 0
    EWMA = 1
    MEAN = 2
    P95 = 3
    STD = 4
    TREND = 5


@dataclasses.dataclass(frozen=True)
class Summary:
    """The state of one series; ``stats[metric_index, Stat]``."""

    newest: float
    samples: int
    stats: np.ndarray

    def get(self, metric_index: int, stat: Stat) -> float:
        return float(self.stats[metric_index, stat])


def _trend(times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Least-squares slope per minute of each column (no NaN inside)."""
    centred = times - times.mean()
    spread = float(centred @ centred)
    if spread == 0:
        return np.zeros(values.shape[1])
    return (centred @ (values - values.mean(axis=0))) / spread * 60.0


def summarise(times: np.ndarray, values: np.ndarray,
              ewma: np.ndarray) -> np.ndarray:
    """Return the ``(metrics, len(Stat))`` statistics of one window.

    ``times`` has shape (n,), ``values`` shape (n, metrics), n >= 1.
    """
    stats = np.empty((values.shape[1], len(Stat)))
    stats[:, Stat.EWMA] = ewma
    missing = np.isnan(values)
    if not missing.any():
        stats[:, Stat.LAST] = values[-1]
        stats[:, Stat.MEAN] = values.mean(axis=0)
        stats[:, Stat.P95] = np.percentile(values, 95, axis=0)
        stats[:, Stat.STD] = values.std(axis=0)
        stats[:, Stat.TREND] = _trend(times, values)
        return stats
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)  # all-NaN columns
        stats[:, Stat.MEAN] = np.nanmean(values, axis=0)
        stats[:, Stat.P95] = np.nanpercentile(values, 95, axis=0)
        stats[:, Stat.STD] = np.nanstd(values, axis=0)
    for column in range(values.shape[1]):
        known = ~missing[:, column]
        series = values[known, column]
        stats[column, Stat.LAST] = series[-1] if series.size else math.nan
        stats[column, Stat.TREND] = (
            _trend(times[known], series[:, None])[0] if series.size
            else math.nan)
    return stats


class _Series:
    """Samples of one series within the window, kept in time order."""

    def __init__(self):
        self.times: list[float] = []
        self.values: list[tuple[float, ...]] = []
        self.ewma: np.ndarray | None = None
        self.ewma_time = -math.inf

    def add(self, timestamp, values, half_life) -> None:
        if timestamp >= self.ewma_time:
            row = np.asarray(values, dtype=float)
            if self.ewma is None:
                self.ewma = row
            else:
                dt = timestamp - self.ewma_time
                alpha = 1.0 - 2.0 ** (-dt / half_life)
                moved = self.ewma + alpha * (row - self.ewma)
                # A missing reading keeps the average; a first one sets it.
                self.ewma = np.where(np.isnan(row), self.ewma,
                                     np.where(np.isnan(self.ewma), row,
                                              moved))
            self.ewma_time = timestamp
        index = bisect.bisect_right(self.times, timestamp)
        self.times.insert(index, timestamp)
        self.values.insert(index, tuple(values))

    def trim(self, oldest: float) -> None:
        keep = bisect.bisect_left(self.times, oldest)
        if keep:
            del self.times[:keep]
            del self.values[:keep]


class SummaryBook:
    """Thread-safe rolling summaries of many series of the same metrics."""

    def __init__(self, metrics: int, window: float, half_life: float,
                 forget_after: float | None = None):
        self.metrics = metrics
        self.window = window
        self.half_life = half_life
        self.forget_after = forget_after
        self._series: dict[Hashable, _Series] = {}
        self._cache: dict[Hashable, Summary] = {}
        self._lock = threading.Lock()

    def add(self, key: Hashable, timestamp: float, values) -> None:
        """Record one sample of ``key``."""
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series()
            series.add(timestamp, values, self.half_life)
            # Trimmed here too, not only when a snapshot is built: the
            # window bounds memory whether or not anybody asks.
            series.trim(series.times[-1] - self.window)
            self._cache.pop(key, None)

    def summaries(self, now: float) -> dict[Hashable, Summary]:
        """Return the summary of every series, recomputing changed ones.

        Series with no sample in the window keep their last summary (its
        ``newest`` tells how stale it is) unless ``forget_after`` seconds
        have passed, then they are dropped.
        """
        with self._lock:
            for key in list(self._series):
                series = self._series[key]
                if (self.forget_after is not None
                        and now - series.ewma_time > self.forget_after):
                    del self._series[key]
                    self._cache.pop(key, None)
                    continue
                if key in self._cache:
                    continue
                series.trim(min(now, series.times[-1]) - self.window)
                self._cache[key] = Summary(
                    newest=series.times[-1], samples=len(series.times),
                    stats=summarise(np.asarray(series.times),
                                    np.asarray(series.values, dtype=float),
                                    series.ewma))
            return dict(self._cache)
