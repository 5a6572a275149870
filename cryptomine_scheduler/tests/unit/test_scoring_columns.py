"""The column rules give the scalar rules' answers, bit for bit."""

import dataclasses
import math
import random

import numpy as np
from oslotest import base

from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.placement import scoring_columns

A = scoring.Accelerator
KIND_SETS = (frozenset({A.CPU}), frozenset({A.GPU}), frozenset({A.ASIC}),
             frozenset({A.GPU, A.ASIC}))
DEMANDS = [scoring.Demand(accelerator=kind, accelerator_penalty=penalty,
                          devices=devices)
           for kind in (None, A.CPU, A.GPU, A.ASIC)
           for penalty in (0.0, 0.7)
           # a rig holding 3 of the host's GPUs or miners
           for devices in ((1, 3) if kind in (A.GPU, A.ASIC) else (0,))]


def maybe(rng: random.Random, low: float, high: float,
          nan_share: float = 0.3) -> float:
    """A reading in [low, high], NaN (no such reading) at times; now and
    then exactly a threshold's value."""
    if rng.random() < nan_share:
        return math.nan
    if rng.random() < 0.1:
        return float(rng.choice((0.0, 5.0, 80.0, 90.0, 30.0, 0.5, 1.0,
                                 40.0, 3000.0)))
    return rng.uniform(low, high)


def random_estimate(rng: random.Random) -> scoring.Estimate:
    gpus = float(rng.choice((0, 1, 4, 8)))
    asics = float(rng.choice((0, 2, 3)))
    devices = scoring.Devices(
        gpu_count=gpus if rng.random() > 0.2 else math.nan,
        gpu_free=float(rng.randint(0, int(gpus))),
        gpu_free_thermal_headroom_c=maybe(rng, -5.0, 80.0),
        gpu_free_power_rise_w=maybe(rng, 0.0, 500.0),
        gpu_utilization_percent=maybe(rng, 0.0, 100.0),
        asic_count=asics if rng.random() > 0.2 else math.nan,
        asic_free=float(rng.randint(0, int(asics))),
        asic_hashrate_ratio=maybe(rng, 0.0, 1.3),
        hashrate_per_watt=maybe(rng, 0.0, 150.0),
        counted=rng.choice(KIND_SETS + (frozenset(),)))
    return scoring.Estimate(
        cpu_percent=maybe(rng, 0.0, 130.0, 0.05),
        mem_percent=maybe(rng, 0.0, 130.0, 0.05),
        gpu_thermal_headroom_c=maybe(rng, -5.0, 40.0),
        gpu_power_headroom_percent=maybe(rng, -5.0, 60.0),
        asic_errors_per_min=maybe(rng, 0.0, 60.0),
        accelerators=rng.choice(KIND_SETS), devices=devices,
        inlet_temperature_c=maybe(rng, 15.0, 50.0),
        chassis_power_w=maybe(rng, 1000.0, 4000.0),
        chassis_power_cap_w=rng.choice((math.nan, 0.0, 2500.0, 3000.0,
                                        3500.0)))


def random_thresholds(rng: random.Random) -> scoring.Thresholds:
    return scoring.Thresholds(
        max_cpu_percent=rng.choice((80.0, 90.0, 100.0)),
        max_mem_percent=rng.choice((80.0, 90.0)),
        min_gpu_thermal_headroom_c=rng.choice((0.0, 5.0)),
        min_gpu_power_headroom_percent=rng.choice((0.0, 2.0)),
        max_asic_errors_per_min=rng.choice((10.0, 30.0)),
        min_asic_hashrate_ratio=rng.choice((0.0, 0.5)),
        max_inlet_temperature_c=rng.choice((35.0, 40.0)),
        max_chassis_power_w=rng.choice((0.0, 3000.0)))


class TestSameAnswers(base.BaseTestCase):
    """Random hosts (NaN readings, values at their limits, every kind),
    every demand, several weights and thresholds: each host's overage,
    refusal and score by the columns equals the scalar rule's."""

    HOSTS = 400

    def test_every_host_every_demand(self):
        rng = random.Random(7)
        ests = [random_estimate(rng) for _ in range(self.HOSTS)]
        limits = [random_thresholds(rng) for _ in range(4)]
        rows = np.array([rng.randrange(len(limits)) for _ in ests])
        costs = [rng.choice((None, None, 0.0, 1.5, 12.0)) for _ in ests]
        hard = np.array([rng.random() < 0.5 for _ in ests])
        # What the request adds, and the kinds aggregates declare.
        add_cpu = np.array([rng.uniform(0.0, 40.0) for _ in ests])
        add_mem = np.array([rng.uniform(0.0, 20.0) for _ in ests])
        declared = [rng.choice((None, None) + KIND_SETS) for _ in ests]
        loaded = [dataclasses.replace(
            scoring.with_load(est, cpu, mem),
            accelerators=scoring.offered(kinds, est))
            for est, cpu, mem, kinds in zip(ests, add_cpu, add_mem,
                                            declared, strict=True)]
        columns = scoring_columns.Columns.of(ests).with_load(
            add_cpu, add_mem, np.array([scoring_columns.kind_mask(k)
                                        for k in declared]))
        limit_columns = scoring_columns.Limits.of(limits, rows)
        burst = np.array([math.nan if c is None else c for c in costs])
        over = scoring_columns.overage(columns, limit_columns)
        self.assertEqual(
            [scoring.overage(e, limits[r]) for e, r in zip(loaded, rows,
                                                         strict=True)],
            over.tolist())
        for weights in (scoring.Weights(1, 1, 1, 1, 1, 1, 1, 1),
                        scoring.Weights(2, 0, 0.5, 0, 3, 1, 0, 2)):
            for demand in DEMANDS:
                with self.subTest(demand=demand, weights=weights):
                    refused = scoring_columns.refused(
                        columns, limit_columns, demand, hard & (over > 0))
                    expected = [
                        scoring.refusal(e, limits[r], demand, bool(h and o),
                                        None) is not None
                        for e, r, h, o in zip(loaded, rows, hard,
                                                  over, strict=True)]
                    self.assertEqual(expected, refused.tolist())
                    self.assertGreater(sum(expected), 0)
                    self.assertLess(sum(expected), self.HOSTS)
                    scores = scoring_columns.score(
                        columns, weights, demand, over, burst)
                    self.assertEqual(
                        [scoring.score(e, weights, demand, o, c)
                         for e, o, c in zip(loaded, over.tolist(),
                                             costs, strict=True)],
                        scores.tolist())

    def test_kind_masks(self):
        self.assertEqual(0, scoring_columns.kind_mask(None))
        self.assertEqual(6, scoring_columns.kind_mask(KIND_SETS[3]))

    def test_take_keeps_the_order_asked(self):
        rng = random.Random(3)
        ests = [random_estimate(rng) for _ in range(5)]
        taken = scoring_columns.Columns.of(ests).take(np.array([4, 0, 4]))
        np.testing.assert_array_equal(
            [ests[4].cpu_percent, ests[0].cpu_percent, ests[4].cpu_percent],
            taken.cpu_percent)
