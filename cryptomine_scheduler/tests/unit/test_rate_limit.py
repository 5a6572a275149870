from oslo_config import cfg
from oslotest import base

from cryptomine_scheduler.ingest import rate_limit
from cryptomine_scheduler.tests import config as test_config

T0 = 1_000_000.0


def take_all(limit: rate_limit.HostRateLimit, host: str, count: int,
             now: float) -> int:
    """How many of ``count`` samples of ``host`` at ``now`` are let in."""
    return sum(limit.take(host, now) for _ in range(count))


class TestHostRateLimit(base.BaseTestCase):

    def test_burst_then_empty(self):
        limit = rate_limit.HostRateLimit(rate=0.1, burst=5)
        self.assertEqual(5, take_all(limit, 'h', 5, T0))
        self.assertFalse(limit.take('h', T0))
        self.assertTrue(limit.take('other', T0))  # a bucket per host

    def test_refills_at_rate(self):
        limit = rate_limit.HostRateLimit(rate=0.5, burst=2)
        self.assertEqual(2, take_all(limit, 'h', 2, T0))
        self.assertFalse(limit.take('h', T0 + 1.9))  # 0.95 token
        self.assertTrue(limit.take('h', T0 + 2.0))  # 1 token
        self.assertFalse(limit.take('h', T0 + 2.0))

    def test_refill_capped_at_burst(self):
        limit = rate_limit.HostRateLimit(rate=1.0, burst=3)
        self.assertEqual(3, take_all(limit, 'h', 3, T0))
        self.assertEqual(3, take_all(limit, 'h', 10, T0 + 3600.0))

    def test_clock_set_back_refills_nothing(self):
        limit = rate_limit.HostRateLimit(rate=1.0, burst=2)
        self.assertEqual(2, take_all(limit, 'h', 2, T0))
        self.assertFalse(limit.take('h', T0 - 100.0))
        self.assertFalse(limit.take('h', T0 - 99.5))  # counted from -100
        self.assertTrue(limit.take('h', T0 - 99.0))

    def test_rejected_sample_takes_no_token(self):
        limit = rate_limit.HostRateLimit(rate=1.0, burst=1)
        self.assertTrue(limit.take('h', T0))
        for _ in range(5):
            self.assertFalse(limit.take('h', T0 + 0.5))
        self.assertTrue(limit.take('h', T0 + 1.0))

    def test_give_back(self):
        limit = rate_limit.HostRateLimit(rate=0.001, burst=2)
        self.assertEqual(2, take_all(limit, 'h', 2, T0))
        limit.give_back(['h', 'h', 'h', 'unknown'])  # capped at burst
        self.assertEqual(2, take_all(limit, 'h', 5, T0))
        self.assertEqual(1, len(limit))  # give_back adds no host

    def test_tracks_at_most_max_hosts_forgetting_the_least_recent(self):
        limit = rate_limit.HostRateLimit(rate=0.001, burst=1, max_hosts=3)
        for host in ('a', 'b', 'c'):
            self.assertTrue(limit.take(host, T0))
        self.assertFalse(limit.take('a', T0))  # a seen again: b is oldest
        self.assertTrue(limit.take('d', T0))
        self.assertEqual(3, len(limit))
        self.assertFalse(limit.take('a', T0))  # still tracked, still empty
        self.assertTrue(limit.take('b', T0))  # forgotten: a full bucket
        self.assertEqual(3, len(limit))
        for n in range(1000):
            limit.take(f'h{n}', T0)
        self.assertEqual(3, len(limit))


class TestDefaults(base.BaseTestCase):
    """The default limits let a collector's full replay through."""

    def setUp(self):
        super().setUp()
        conf = cfg.ConfigOpts()
        test_config.register_all_opts(conf)
        conf([])
        c = conf.controller
        self.limit = rate_limit.HostRateLimit(c.host_sample_rate,
                                              c.host_sample_burst)
        self.interval = conf.collector.interval
        self.buffer_size = conf.collector.buffer_size

    def test_replay_of_a_full_buffer_after_an_outage_is_let_in(self):
        now = T0
        for _ in range(100):  # sampling as usual
            self.assertTrue(self.limit.take('h', now))
            now += self.interval
        # The bus was down while the collector filled its buffer; when it
        # comes back, the buffer arrives at once, then sampling goes on.
        now += self.buffer_size * self.interval
        self.assertEqual(self.buffer_size,
                         take_all(self.limit, 'h', self.buffer_size, now))
        for _ in range(100):
            now += self.interval
            self.assertTrue(self.limit.take('h', now))

    def test_a_flood_is_cut_to_the_rate(self):
        burst = self.limit.burst
        self.assertEqual(burst, take_all(self.limit, 'h', burst + 1000, T0))
        let_in = sum(take_all(self.limit, 'h', 100, T0 + second)
                     for second in range(1, 61))
        self.assertEqual(60 * self.limit.rate, let_in)
