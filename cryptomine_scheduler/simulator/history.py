"""The simulated collectors' history, summarised as the controller does.

:class:`History` keeps the last samples of many series (hosts, or
instances) of the same metrics, one sample per simulation step at most,
and computes every series' :class:`~cryptomine_scheduler.summaries.Stat`
at once with numpy.  The statistics are those of
:func:`cryptomine_scheduler.summaries.summarise` and the EWMA that of
:class:`~cryptomine_scheduler.summaries.SummaryBook` (the unit tests
check that they agree): a window keeps the samples no older than
``window`` seconds before the series' newest one, a missing reading
(NaN) is left out of every statistic and keeps the EWMA.  SummaryBook
itself takes a Python loop per series and sample, too slow for a
thousand instances over thousands of steps.
"""

import dataclasses

import numpy as np

from cryptomine_scheduler.summaries import Stat


@dataclasses.dataclass(frozen=True)
class Summaries:
    """The state of every series: ``stats[series, metric, Stat]``;
    ``samples`` is 0 (and ``newest`` NaN) for a series never sampled."""

    newest: np.ndarray
    samples: np.ndarray
    stats: np.ndarray


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


class History:
    """Rolling samples of ``series`` series of ``metrics`` metrics.

    Each series keeps its last ``depth`` samples: at one sample per step
    at most, ``depth`` must be the window divided by the step, plus one.
    """

    def __init__(self, series: int, metrics: int, window: float,
                 half_life: float, depth: int):
        self.window = window
        self.half_life = half_life
        self.times = np.full((depth, series), -np.inf)
        self.values = np.full((depth, series, metrics), np.nan)
        self.ewma = np.full((series, metrics), np.nan)
        self.ewma_time = np.full(series, -np.inf)
        self._count = np.zeros(series, dtype=np.int64)

    def add(self, timestamp: float, values: np.ndarray,
            sampled: np.ndarray | None = None) -> None:
        """Record one sample of every series where ``sampled`` (all by
        default); ``values`` is (series, metrics), later than any before.
        """
        if sampled is None:
            sampled = np.ones(len(values), dtype=bool)
        which = np.flatnonzero(sampled)
        slot = self._count[which] % len(self.times)
        self._count[which] += 1
        self.times[slot, which] = timestamp
        self.values[slot, which] = values[which]
        alpha = 1.0 - 2.0 ** (-(timestamp - self.ewma_time)
                              / self.half_life)
        moved = self.ewma + alpha[:, None] * (values - self.ewma)
        # A missing reading keeps the average; a first one sets it.
        ewma = np.where(np.isnan(values), self.ewma,
                        np.where(np.isnan(self.ewma), values, moved))
        self.ewma = np.where(sampled[:, None], ewma, self.ewma)
        self.ewma_time = np.where(sampled, timestamp, self.ewma_time)

    def summaries(self) -> Summaries:
        """Every series' statistics over its window."""
        order = np.argsort(self.times, axis=0, kind='stable')
        times = np.take_along_axis(self.times, order, axis=0)
        values = np.take_along_axis(self.values, order[:, :, None], axis=0)
        taken = np.isfinite(times)                       # (depth, series)
        newest = np.where(self._count > 0, self.ewma_time, np.nan)
        with np.errstate(invalid='ignore'):
            inside = taken & (times >= newest - self.window)
        known = inside[:, :, None] & ~np.isnan(values)   # (d, s, m)
        count = known.sum(axis=0)
        stats = np.full(self.ewma.shape + (len(Stat),), np.nan)
        stats[..., Stat.EWMA] = self.ewma
        stats[..., Stat.LAST] = _last_known(values, known)
        stats[..., Stat.P95] = _percentile(values, known, 95.0)
        zeroed = np.where(known, values, 0.0)
        with np.errstate(invalid='ignore', divide='ignore'):
            mean = zeroed.sum(axis=0) / count
            spread = np.where(known, values - mean, 0.0)
            stats[..., Stat.MEAN] = mean
            stats[..., Stat.STD] = np.sqrt((spread ** 2).sum(axis=0)
                                           / count)
            stamp = np.where(known, times[:, :, None], 0.0)
            centred = np.where(known, stamp - stamp.sum(axis=0) / count,
                               0.0)
            span = (centred ** 2).sum(axis=0)
            slope = (centred * spread).sum(axis=0) / span * 60.0
        stats[..., Stat.TREND] = np.where(
            count == 0, np.nan, np.where(span > 0, slope, 0.0))
        return Summaries(newest=newest, samples=inside.sum(axis=0),
                         stats=stats)
