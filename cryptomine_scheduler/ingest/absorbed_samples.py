"""Which samples the summaries already hold, by ``(host, seq)``.

Every controller summarises every valid sample, whoever stored it: the
one that stored it first, a peer consuming its own copy of the stream,
or this one again after a redelivery or a collector's replay.  The
database tells new from stored; only this book tells the summaries what
they already counted.  A host's sequence numbers are kept for one
summary window past its newest sample: an older one falls out of the
summaries anyway.
"""

import bisect
import threading
from array import array

from cryptomine_scheduler.telemetry import sample as sample_mod


class _HostSeqs:
    """One host's absorbed sequence numbers, sorted, with their times."""

    __slots__ = ('seqs', 'times')

    def __init__(self):
        self.seqs = array('q')
        self.times = array('d')

    def add(self, seq: int, timestamp: float, window: float) -> bool:
        index = bisect.bisect_left(self.seqs, seq)
        if index < len(self.seqs) and self.seqs[index] == seq:
            return False
        self.seqs.insert(index, seq)
        self.times.insert(index, timestamp)
        # Sequence numbers grow with time: the oldest sit in front.
        newest = max(self.times[-1], timestamp)
        keep = 0
        while (keep < len(self.times) - 1
               and self.times[keep] < newest - window):
            keep += 1
        if keep:
            del self.seqs[:keep]
            del self.times[:keep]
        return True


class AbsorbedSamples:
    """The ``(host, seq)`` of the samples summarised in the last
    ``window`` seconds of each host."""

    def __init__(self, window: float):
        self._window = window
        self._hosts: dict[str, _HostSeqs] = {}
        self._lock = threading.Lock()

    def first_time(self, sample: sample_mod.LoadSample) -> bool:
        """Note ``sample``; False if it was noted before."""
        with self._lock:
            seqs = self._hosts.get(sample.host)
            if seqs is None:
                seqs = self._hosts[sample.host] = _HostSeqs()
            return seqs.add(sample.seq, sample.timestamp, self._window)
