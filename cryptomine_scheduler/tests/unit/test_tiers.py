"""Tiers and costs from aggregate properties (:mod:`.tiers`)."""

import testtools

from cryptomine_scheduler.placement import tiers
from cryptomine_scheduler.placement.tiers import Reading
from cryptomine_scheduler.placement.tiers import Tier
from cryptomine_scheduler.replan import cluster


class ReadTest(testtools.TestCase):

    def test_rules(self):
        cases = [
            # (tiers, costs as (aggregate's hosts, value), reading)
            ((), (), Reading()),
            (('home',), ((1, '5'),), Reading()),
            (('burst',), (), Reading(Tier.BURST, 0.0)),
            (('burst',), ((4, '0'),), Reading(Tier.BURST, 0.0)),
            ((' Burst ',), ((4, '1.25'),), Reading(Tier.BURST, 1.25)),
            # Equal costs of two aggregates are one cost.
            (('burst', 'home'), ((4, '2'), (4, '2.0')),
             Reading(Tier.BURST, 2.0)),
            # The highest of aggregates of the same size.
            (('burst',), ((4, '2'), (4, '3.5')), Reading(Tier.BURST, 3.5)),
            # A smaller aggregate overrides a larger one, cheaper or not.
            (('burst',), ((4, '2'), (1, '0.5')), Reading(Tier.BURST, 0.5)),
            (('burst',), ((1, '7'), (2, '3'), (4, '2')),
             Reading(Tier.BURST, 7.0)),
            # An unreadable override leaves the pool's cost.
            (('burst',), ((4, '2'), (1, 'cheap')),
             Reading(Tier.BURST, 2.0, ('cheap',))),
            (('burst',), ((1, 'x'), (1, '-1'), (1, 'nan'), (1, 'inf'),
                          (2, '1')),
             Reading(Tier.BURST, 1.0, ('x', '-1', 'nan', 'inf'))),
            (('burst',), ((1, 'x'),), Reading(Tier.BURST, 0.0, ('x',))),
        ]
        for tier_values, costs, expected in cases:
            self.assertEqual(expected, tiers.read(tier_values, costs),
                             (tier_values, costs))

    def test_compute_host_tier(self):
        host = cluster.ComputeHost('h', 1, 1)
        self.assertEqual(Tier.HOME, host.tier)
        self.assertEqual(Tier.BURST, cluster.ComputeHost(
            'h', 1, 1, burst_cost_per_hour=0.0).tier)
