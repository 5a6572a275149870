"""Tiers and costs from aggregate properties (:mod:`.tiers`)."""

import testtools

from cryptomine_scheduler import cluster
from cryptomine_scheduler import tiers
from cryptomine_scheduler.tiers import Reading
from cryptomine_scheduler.tiers import Tier


class ReadTest(testtools.TestCase):

    def test_rules(self):
        cases = [
            # (tiers, costs, reading)
            ((), (), Reading()),
            (('home',), ('5',), Reading()),
            (('burst',), (), Reading(Tier.BURST, 0.0)),
            (('burst',), ('0',), Reading(Tier.BURST, 0.0)),
            ((' Burst ',), ('1.25',), Reading(Tier.BURST, 1.25)),
            # Equal costs of two aggregates are one cost.
            (('burst', 'home'), ('2', '2.0'), Reading(Tier.BURST, 2.0)),
            # The highest of several.
            (('burst',), ('2', '3.5'), Reading(Tier.BURST, 3.5)),
            (('burst',), ('x', '-1', 'nan', 'inf', '1'),
             Reading(Tier.BURST, 1.0, ('x', '-1', 'nan', 'inf'))),
            (('burst',), ('x',), Reading(Tier.BURST, 0.0, ('x',))),
        ]
        for tier_values, costs, expected in cases:
            self.assertEqual(expected, tiers.read(tier_values, costs),
                             (tier_values, costs))

    def test_compute_host_tier(self):
        host = cluster.ComputeHost('h', 1, 1)
        self.assertEqual(Tier.HOME, host.tier)
        self.assertEqual(Tier.BURST, cluster.ComputeHost(
            'h', 1, 1, burst_cost_per_hour=0.0).tier)
