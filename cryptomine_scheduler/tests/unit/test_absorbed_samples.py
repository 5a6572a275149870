from oslotest import base

from cryptomine_scheduler.ingest import absorbed_samples
from cryptomine_scheduler.tests import samples


class TestAbsorbedSamples(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.book = absorbed_samples.AbsorbedSamples(window=100.0)

    def first(self, host: str, seq: int, timestamp: float) -> bool:
        return self.book.first_time(
            samples.make(host=host, seq=seq, timestamp=timestamp))

    def test_each_host_and_seq_once(self):
        self.assertTrue(self.first('a', 1, 10.0))
        self.assertTrue(self.first('b', 1, 10.0))
        self.assertFalse(self.first('a', 1, 10.0))
        self.assertTrue(self.first('a', 2, 20.0))

    def test_late_sample_within_the_window_once(self):
        self.first('a', 5, 50.0)
        self.assertTrue(self.first('a', 3, 30.0))
        self.assertFalse(self.first('a', 3, 30.0))
        self.assertFalse(self.first('a', 5, 50.0))

    def test_forgets_what_left_the_window(self):
        self.first('a', 1, 0.0)
        self.first('a', 2, 100.0)  # the window's edge: kept
        self.assertFalse(self.first('a', 1, 0.0))
        self.first('a', 3, 100.5)
        # Out of the summaries' window: absorbed again (then trimmed).
        self.assertTrue(self.first('a', 1, 0.0))
        self.assertFalse(self.first('a', 2, 100.0))
