"""The simulated collectors' history, summarised as the controller does.

:class:`History` keeps the last samples of many series (hosts, or
instances) of the same metrics, one sample per simulation step at most,
and computes every series' statistics
(:class:`~cryptomine_scheduler.history.summaries.Stat`) at once with
:func:`~cryptomine_scheduler.history.summaries.window_stats`, as the
controller's :class:`~cryptomine_scheduler.history.summaries.SummaryBook`
does (the unit tests check that they agree): a window keeps the samples
no older than ``window`` seconds before the series' newest one, a missing
reading (NaN) is left out of every statistic and keeps the EWMA.  SummaryBook
itself takes a Python call per series and sample, too slow for a
thousand instances over thousands of steps.
"""

import dataclasses

import numpy as np

from cryptomine_scheduler.history import summaries


@dataclasses.dataclass(frozen=True)
class Summaries:
    """The state of every series: ``stats[series, metric, Stat]``;
    ``samples`` is 0 (and ``newest`` NaN) for a series never sampled."""

    newest: np.ndarray
    samples: np.ndarray
    stats: np.ndarray


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
        stats = summaries.window_stats(times, values, known, self.ewma)
        return Summaries(newest=newest, samples=inside.sum(axis=0),
                         stats=stats)
