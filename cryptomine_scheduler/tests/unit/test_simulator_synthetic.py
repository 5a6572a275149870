import numpy as np
from oslotest import base

from cryptomine_scheduler.placement.scoring import Accelerator
from cryptomine_scheduler.simulator import fleet
from cryptomine_scheduler.simulator import miners
from cryptomine_scheduler.simulator import synthetic


class TestSynthetic(base.BaseTestCase):

    def test_same_seed_same_trace(self):
        one = synthetic.scenario(seed=7, instances=80, hours=6)
        two = synthetic.scenario(seed=7, instances=80, hours=6)
        self.assertEqual(one.trace.instances, two.trace.instances)
        self.assertEqual(one.fleet, two.fleet)
        for field in ('cpu', 'rss_mb', 'gpu', 'vcpus', 'memory_mb'):
            np.testing.assert_array_equal(getattr(one.trace, field),
                                          getattr(two.trace, field))

    def test_another_seed_another_trace(self):
        one = synthetic.generate(seed=1, instances=40, hours=2)
        two = synthetic.generate(seed=2, instances=40, hours=2)
        self.assertFalse(np.array_equal(one.cpu, two.cpu, equal_nan=True))

    def test_profiles(self):
        trace = synthetic.generate(seed=3, instances=400, hours=24)
        self.assertEqual(288, trace.steps)
        kinds = {name.rsplit('-', 1)[0] for name in trace.instances}
        self.assertEqual({p.value for p in synthetic.Profile}, kinds)
        share = trace.cpu / trace.vcpus[:, None]
        profile = np.array([n.rsplit('-', 1)[0] for n in trace.instances])
        gpu = profile == 'gpu-miner'
        kinds = {'gpu-miner': Accelerator.GPU, 'asic-miner': Accelerator.ASIC}
        self.assertEqual([kinds.get(p) for p in profile],
                         list(trace.accelerators))
        self.assertGreater(np.nanmedian(trace.gpu[gpu]), 95)
        self.assertTrue(np.isnan(trace.gpu[~gpu]).all())
        self.assertGreater(np.nanmedian(share[profile == 'cpu-miner']), 0.9)
        bursty = share[profile == 'bursty']
        self.assertLess(np.nanmedian(bursty), 0.1)
        self.assertGreater(np.nanpercentile(bursty, 99), 0.5)
        # Some instances arrive later, every one lives without gaps.
        first = np.argmax(trace.alive, axis=1)
        self.assertTrue((first > 0).any() and (first == 0).any())
        lived = trace.alive.sum(axis=1)
        last = trace.steps - np.argmax(trace.alive[:, ::-1], axis=1)
        np.testing.assert_array_equal(last - first, lived)
        self.assertTrue((trace.rss_mb[trace.alive]
                         <= np.repeat(trace.memory_mb,
                                      lived)).all())

    def test_fleet_has_a_hot_gpu_row(self):
        case = synthetic.scenario(seed=5, instances=200, hours=12)
        gpu_hosts = [h for h in case.fleet.hosts if h.gpu is not None]
        self.assertTrue(gpu_hosts)
        hot = [h for h in gpu_hosts if h.gpu.ambient_c > 0]
        self.assertEqual(max(1, len(gpu_hosts) // 3), len(hot))
        on_gpu = np.array([k is Accelerator.GPU
                           for k in case.trace.accelerators])
        most = (case.trace.alive & on_gpu[:, None]).sum(axis=0).max()
        self.assertGreaterEqual(case.fleet.gpus.sum(), most)

    def test_fleet_has_asic_hosts_whose_miners_fail(self):
        case = synthetic.scenario(seed=5, instances=200, hours=12)
        asic_hosts = [h for h in case.fleet.hosts if h.asic is not None]
        self.assertTrue(asic_hosts)
        self.assertEqual(
            {fleet.AsicSpec(count=5, seed=5, **synthetic.FAILURES)},
            {h.asic for h in asic_hosts})
        on_asic = np.array([k is Accelerator.ASIC
                            for k in case.trace.accelerators])
        most = (case.trace.alive & on_asic[:, None]).sum(axis=0).max()
        self.assertGreaterEqual(case.fleet.asics.sum(), most)
        health = miners.fleet_health(case.fleet, case.trace.steps,
                                     case.trace.step)
        self.assertFalse(health.up.all())
        self.assertLess(health.hashrate_ratio[health.up].min(), 0.6)
