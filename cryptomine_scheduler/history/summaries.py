"""Rolling per-host and per-instance load summaries (pure numpy).

For every series (a host, or an instance) the book keeps the samples of
the last ``window`` seconds and an exponentially weighted moving average
whose weight depends on the time between samples::

    alpha = 1 - 2 ** (-dt / half_life)
    ewma  = ewma + alpha * (value - ewma)

A summary holds, per metric: the last value, the EWMA, the mean, the
95th percentile and the standard deviation over the window, the
trend (least-squares slope, units per minute), and the lag-1
autocorrelation of the samples in time order (how much of a departure
from the window's mean is left one sample later: near 1 for a level that
persists, near 0 or below for noise and short spikes; NaN under three
readings or for a constant series).  Missing readings are NaN:
they are left out of every statistic (the EWMA keeps its value), and a
metric with no reading in the window summarises to NaN.
"""

import collections
import dataclasses
import enum
import math
import threading
from collections.abc import Hashable
from collections.abc import Iterable

import numpy as np


class Stat(enum.IntEnum):
    """Columns of :attr:`Summary.stats`."""

    LAST = 0
    EWMA = 1
    MEAN = 2
    P95 = 3
    STD = 4
    TREND = 5
    AUTOCORR = 6


@dataclasses.dataclass(frozen=True)
class Summary:
    """The state of one series; ``stats[metric_index, Stat]``."""

    newest: float
    samples: int
    stats: np.ndarray

    def get(self, metric_index: int, stat: Stat) -> float:
        return float(self.stats[metric_index, stat])


def _last_known(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The newest known value along axis 0 (NaN where none)."""
    depth = values.shape[0]
    position = depth - 1 - np.argmax(known[::-1], axis=0)
    last = np.take_along_axis(values, position[None], axis=0)[0]
    return np.where(known.any(axis=0), last, np.nan)


def _percentile(values: np.ndarray, known: np.ndarray,
                q: float) -> np.ndarray:
    """numpy's linear percentile of the known values along axis 0."""
    ordered = np.sort(np.where(known, values, np.inf), axis=0)
    count = known.sum(axis=0)
    rank = np.maximum(count - 1, 0) * q / 100.0
    low = np.floor(rank).astype(np.int64)
    high = np.minimum(low + 1, np.maximum(count - 1, 0))
    below = np.take_along_axis(ordered, low[None], axis=0)[0]
    above = np.take_along_axis(ordered, high[None], axis=0)[0]
    with np.errstate(invalid='ignore'):
        value = below + (above - below) * (rank - low)
    return np.where(count > 0, value, np.nan)


def window_stats(times: np.ndarray, values: np.ndarray, known: np.ndarray,
                 ewma: np.ndarray) -> np.ndarray:
    """The statistics of many series at once: ``stats[series, metric,
    Stat]``.

    ``times`` is (depth, series), ``values`` and ``known`` (the readings
    inside the window and not missing) are (depth, series, metrics),
    ``ewma`` is (series, metrics).  The rows of a series need not be in
    time order, except that LAST is the known value of the highest row
    and AUTOCORR pairs each known row with the known row above it.
    """
    count = known.sum(axis=0)
    stats = np.full(ewma.shape + (len(Stat),), np.nan)
    stats[..., Stat.EWMA] = ewma
    stats[..., Stat.LAST] = _last_known(values, known)
    stats[..., Stat.P95] = _percentile(values, known, 95.0)
    zeroed = np.where(known, values, 0.0)
    with np.errstate(invalid='ignore', divide='ignore'):
        mean = zeroed.sum(axis=0) / count
        spread = np.where(known, values - mean, 0.0)
        stats[..., Stat.MEAN] = mean
        stats[..., Stat.STD] = np.sqrt((spread ** 2).sum(axis=0) / count)
        stamp = np.where(known, times[:, :, None], 0.0)
        centred = np.where(known, stamp - stamp.sum(axis=0) / count, 0.0)
        span = (centred ** 2).sum(axis=0)
        slope = (centred * spread).sum(axis=0) / span * 60.0
    stats[..., Stat.TREND] = np.where(
        count == 0, np.nan, np.where(span > 0, slope, 0.0))
    stats[..., Stat.AUTOCORR] = _autocorrelation(spread, known)
    return stats


def _autocorrelation(spread: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation along axis 0 of the departures from the
    mean (``spread``, 0 where not ``known``): the sum of the products of
    consecutive known departures over the sum of their squares."""
    # Each known row paired with the previous known row of its series.
    rows = np.arange(len(known))[:, None, None]
    last = np.maximum.accumulate(np.where(known, rows, -1), axis=0)
    previous = np.concatenate([np.full_like(last[:1], -1), last[:-1]])
    earlier = np.take_along_axis(spread, np.maximum(previous, 0), axis=0)
    paired = known & (previous >= 0)
    product = np.where(paired, spread * earlier, 0.0).sum(axis=0)
    energy = (spread ** 2).sum(axis=0)
    enough = (known.sum(axis=0) >= 3) & (energy > 0)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(enough, product / energy, np.nan)


class _Series:
    """Samples of one series within the window, in time order, in numpy
    arrays (a row per sample) that grow by doubling: a Python object per
    reading would make millions of objects for a large fleet, and the
    garbage collector's passes over them would slow the whole
    controller."""

    __slots__ = ('_times', '_values', '_start', '_end', 'ewma', 'ewma_time',
                 'first_time')

    def __init__(self, metrics: int):
        self._times = np.empty(4)
        self._values = np.empty((4, metrics))
        self._start = self._end = 0
        self.ewma: np.ndarray | None = None
        self.ewma_time = -math.inf
        self.first_time = math.inf

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def times(self) -> np.ndarray:
        """The sample times in the window (a view)."""
        return self._times[self._start:self._end]

    @property
    def newest(self) -> float:
        """The time of the newest sample."""
        return self._times[self._end - 1]

    @property
    def values(self) -> np.ndarray:
        """The readings in the window, a row per sample (a view)."""
        return self._values[self._start:self._end]

    def add(self, timestamp: float, row: np.ndarray,
            half_life: float) -> None:
        if timestamp >= self.ewma_time:
            if self.ewma is None:
                self.ewma = row
            else:
                alpha = 1.0 - 2.0 ** ((self.ewma_time - timestamp)
                                      / half_life)
                moved = self.ewma + alpha * (row - self.ewma)
                # A missing reading keeps the average; a first one sets
                # it.  Both are rare: look for them only if NaN came out.
                missing = np.isnan(moved)
                if missing.any():
                    moved[missing] = np.where(np.isnan(row), self.ewma,
                                              row)[missing]
                self.ewma = moved
            self.ewma_time = timestamp
        if timestamp < self.first_time:
            self.first_time = timestamp
        end = self._end
        if end == len(self._times):
            self._make_room()
            end = self._end
        index = end
        if end > self._start and timestamp < self._times[end - 1]:
            index = self._start + int(np.searchsorted(
                self.times, timestamp, side='right'))
            self._times[index + 1:end + 1] = self._times[index:end]
            self._values[index + 1:end + 1] = self._values[index:end]
        self._times[index] = timestamp
        self._values[index] = row
        self._end = end + 1

    def _make_room(self) -> None:
        """Move the window to the front, doubling the arrays if over half
        full."""
        live = len(self)
        capacity = len(self._times) * (2 if 2 * live > len(self._times)
                                       else 1)
        times, values = np.empty(capacity), np.empty(
            (capacity, self._values.shape[1]))
        times[:live], values[:live] = self.times, self.values
        self._times, self._values = times, values
        self._start, self._end = 0, live

    def trim(self, oldest: float) -> None:
        if self._start < self._end and self._times[self._start] < oldest:
            self._start += int(np.searchsorted(self.times, oldest,
                                               side='left'))


class SummaryBook:
    """Thread-safe rolling summaries of many series of the same metrics.

    Summaries are computed when asked for, only for the series that
    changed since, and many series at once (``batch`` at a time, to bound
    the memory of the arrays).
    """

    def __init__(self, metrics: int, window: float, half_life: float,
                 forget_after: float | None = None, batch: int = 4096):
        self.metrics = metrics
        self.window = window
        self.half_life = half_life
        self.forget_after = forget_after
        self.batch = batch
        self._series: dict[Hashable, _Series] = {}
        self._cache: dict[Hashable, Summary] = {}
        self._forgot_at = -math.inf
        self._lock = threading.Lock()

    def add(self, key: Hashable, timestamp: float, values) -> None:
        """Record one sample of ``key``."""
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series(self.metrics)
            series.add(timestamp, np.array(values, dtype=float),
                       self.half_life)
            # Trimmed here too, not only when a snapshot is built: the
            # window bounds memory whether or not anybody asks.
            series.trim(series.newest - self.window)
            self._cache.pop(key, None)

    def first_time(self, key: Hashable) -> float | None:
        """When ``key`` was first sampled; None if it is not kept."""
        with self._lock:
            series = self._series.get(key)
            return None if series is None else series.first_time

    def first_seen_since(self, since: float) -> list[Hashable]:
        """The series whose first sample is ``since`` or later."""
        with self._lock:
            return [key for key, series in self._series.items()
                    if series.first_time >= since]

    def summaries(self, now: float, keys: Iterable[Hashable] | None = None
                  ) -> dict[Hashable, Summary]:
        """Return the summary of every series (or of those of ``keys``
        that exist), recomputing changed ones.

        Series with no sample in the window keep their last summary (its
        ``newest`` tells how stale it is) unless ``forget_after`` seconds
        have passed, then they are dropped.
        """
        self.forget(now)
        with self._lock:
            wanted = (list(self._series) if keys is None
                      else [k for k in keys if k in self._series])
            self._summarise([k for k in wanted if k not in self._cache],
                            now)
            return {key: self._cache[key] for key in wanted}

    def forget(self, now: float) -> list[Hashable]:
        """Drop the series silent for ``forget_after``; return their keys.

        Looking costs a pass over every series, so it is done at most ten
        times per ``forget_after``: a series goes up to 10 % late.
        """
        if (self.forget_after is None
                or now - self._forgot_at < self.forget_after / 10.0):
            return []
        with self._lock:
            self._forgot_at = now
            gone = [k for k, series in self._series.items()
                    if now - series.ewma_time > self.forget_after]
            for key in gone:
                del self._series[key]
                self._cache.pop(key, None)
        return gone

    def _summarise(self, keys: list[Hashable], now: float) -> None:
        """Summarise ``keys``, series of equal length together."""
        by_length: dict[int, list[Hashable]] = collections.defaultdict(list)
        for key in keys:
            series = self._series[key]
            series.trim(min(now, series.times[-1]) - self.window)
            by_length[len(series)].append(key)
        for length, group in by_length.items():
            for start in range(0, len(group), self.batch):
                chunk = group[start:start + self.batch]
                rows = [self._series[key] for key in chunk]
                times = np.stack([r.times for r in rows], axis=1)
                values = np.stack([r.values for r in rows], axis=1)
                stats = window_stats(times, values, ~np.isnan(values),
                                     np.array([r.ewma for r in rows]))
                for key, row, series_stats in zip(chunk, rows, stats,
                                                  strict=True):
                    self._cache[key] = Summary(
                        newest=float(row.times[-1]), samples=length,
                        stats=series_stats)
