"""One host cannot blow up the controller: 50 samples at every
per-sample limit, each listing other guests, over the real RabbitMQ."""

import json
import time

import psutil

from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.functional import base
from cryptomine_scheduler.tests.functional import test_poison

#: The per-sample limits the controller runs with (its defaults).
INSTANCES, GPUS, MINERS = 512, 32, 512
SAMPLES = 50


def maximal(seq: int, now: float):
    """A sample at the count limits, its guests all new."""
    return samples.make(
        host='compute-big', seq=seq, timestamp=now - SAMPLES + seq,
        instances=[samples.instance(seq * INSTANCES + n)
                   for n in range(INSTANCES)],
        gpus=[samples.gpu(i) for i in range(GPUS)],
        asics=[samples.asic(n) for n in range(MINERS)])


def rss(process: psutil.Process) -> int:
    """Resident memory of a controller and its children, in bytes."""
    tree = [process, *process.children(recursive=True)]
    return sum(p.memory_info().rss for p in tree)


class TestMaximalSamples(test_poison.BusTestCase):

    def test_memory_and_snapshot_stay_bounded(self):
        controller = psutil.Process(self.start_controller().pid)
        before = rss(controller)
        publisher = self._publisher()
        now = time.time()
        for seq in range(SAMPLES):
            publisher.publish(samples.payload(maximal(seq, now)))
        # Stored and summarised (counted once in the summaries).
        waiting.wait_for(
            lambda: self.client().get_ingest_stats()['stored'] >= SAMPLES,
            timeout=base.WAIT)
        grown = rss(controller) - before
        # 25,600 guests were listed; a snapshot shows those the host's
        # newest sample lists, nova's (guests of the last 300 s) and
        # the full one alike.
        for since in (300.0, None):
            with self.subTest(instances_since=since):
                snap = self.client(timeout=60).get_load_snapshot(since)
                self.assertEqual(INSTANCES, len(snap.instances))
                self.assertEqual({'compute-big'},
                                 {i.host for i in snap.instances.values()})
        wire = self.client()._client.prepare(version='1.2').call(
            {}, 'get_load_snapshot', instances_since=300.0)
        size = len(json.dumps(wire))
        self.assertLess(size, 2 ** 20, f'nova snapshot of {size:,} bytes')
        self.assertLess(grown, 150 * 2 ** 20,
                        f'the controller grew by {grown / 2**20:.0f} MiB')
