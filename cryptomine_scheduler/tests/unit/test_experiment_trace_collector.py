"""The trace collector's samples: each fake host's load from the trace
VMs placed there."""

import testtools

from cryptomine_scheduler.experiment import player
from cryptomine_scheduler.experiment import trace_collector as tc
from cryptomine_scheduler.telemetry import signing
from cryptomine_scheduler.telemetry import validation
from cryptomine_scheduler.tests import fleets
from cryptomine_scheduler.tests import samples as test_samples

S1, S2 = fleets.server_uuid(1), fleets.server_uuid(2)
HOSTS = (tc.FakeHost('a', 4, 1000.0), tc.FakeHost('b', 4, 1000.0))


def schedule(cpu, memory=(100.0, 200.0), vcpus=2) -> player.Schedule:
    return player.Schedule(start_at=100.0, step=1.0, vcpus=vcpus,
                           cpu=list(cpu), memory_mb=list(memory))


class SamplesTest(testtools.TestCase):

    def loads(self, placed, now, seqs=None):
        found = tc.samples(HOSTS, placed, now, {} if seqs is None else seqs)
        return {s.host: (s.host_load.cpu_percent, s.host_load.mem_used_mb,
                         [(i.uuid, i.cpu_percent, i.rss_mb)
                          for i in s.instances]) for s in found}

    def test_guests_load_their_host_at_the_step_of_now(self):
        placed = [tc.Placed(S1, 'a', schedule([1.5, None])),
                  tc.Placed(S2, 'a', schedule([0.5, 2.0]))]
        self.assertEqual(
            {'a': (50.0, 200.0, [(S1, 37.5, 100.0), (S2, 12.5, 100.0)]),
             'b': (0.0, 0.0, [])}, self.loads(placed, 100.5))
        # Step 1: s1 is absent (idle), s2 busy 2 vCPUs.
        self.assertEqual(
            (50.0, 400.0, [(S1, 0.0, 200.0), (S2, 50.0, 200.0)]),
            self.loads(placed, 101.2)['a'])

    def test_before_and_after_the_trace_guests_idle(self):
        placed = [tc.Placed(S1, 'b', schedule([2.0, 2.0]))]
        for now in (99.9, 102.0):
            self.assertEqual((0.0, 0.0, [(S1, 0.0, 0.0)]),
                             self.loads(placed, now)['b'])

    def test_busy_vcpus_bounded_by_the_guest_and_the_host(self):
        placed = [tc.Placed(fleets.server_uuid(n), 'a', schedule([3.0, 3.0]))
                  for n in range(3)]
        # Each guest is 2 vCPUs at most: 6 busy on a host of 4 CPUs.
        cpu, _, guests = self.loads(placed, 100.0)['a']
        self.assertEqual(100.0, cpu)
        self.assertEqual([50.0] * 3, [g[1] for g in guests])

    def test_numbered_per_host_and_valid_when_signed(self):
        seqs = {}
        self.loads([], 100.0, seqs)
        found = tc.samples(HOSTS, [tc.Placed(S1, 'a', schedule([1.0]))],
                           100.0, seqs)
        self.assertEqual({'a': 2, 'b': 2}, {s.host: s.seq for s in found})
        for sample in found:
            wire = signing.envelope(sample.to_wire(), signing.derive_host_key(
                test_samples.SECRET, sample.host))
            self.assertEqual(sample, validation.validate(
                wire, test_samples.POLICY, now=100.0))
