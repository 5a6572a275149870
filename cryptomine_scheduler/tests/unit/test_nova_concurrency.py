"""Concurrent requests through nova's handlers see only their own state."""

import gc
import random
import sys
import threading

import testtools
from nova import objects
from nova.scheduler import filters
from nova.scheduler import weights
from oslo_utils import uuidutils

from cryptomine_scheduler.scheduler import plugin
from cryptomine_scheduler.scheduler import requests
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests.unit import test_nova_plugin as base

HOSTS = 500
THREADS = 8
REQUESTS = 50  # per thread
FLAVORS = {
    # name: (vcpus, memory_mb, extra specs)
    'gpu': (2, 4096, {plugin.ACCELERATOR_SPEC: 'gpu'}),
    'cpu': (4, 8192, {}),
    'cpu-half': (8, 16384, {plugin.EXPECTED_LOAD_SPEC: '50'}),
    'asic': (1, 2048, {plugin.ACCELERATOR_SPEC: 'asic'}),
}


class TestConcurrentRequests(base.PluginTestCase):

    def build(self):
        super().build()
        rng = random.Random(13)
        self.hosts = []
        for i in range(HOSTS):
            name = f'compute-{i:04d}'
            kind = i % 8  # 0-1 GPU, 2 ASIC, the rest CPU only
            self.controller.report(
                name, cpu=rng.uniform(5.0, 99.0), mem=rng.uniform(10.0, 95.0),
                count=3,
                gpus=[samples.gpu(0, temp=rng.uniform(50.0, 86.0))]
                if kind < 2 else (),
                asics=[samples.asic(1)] if kind == 2 else ())
            self.hosts.append(self.host(name, vcpus=rng.choice((8, 16, 32)),
                                        ram_mb=rng.choice((32768, 65536))))

    def request_spec(self, flavor):
        vcpus, memory_mb, extra_specs = FLAVORS[flavor]
        return objects.RequestSpec(
            instance_uuid=uuidutils.generate_uuid(), flavor=objects.Flavor(
                vcpus=vcpus, memory_mb=memory_mb, root_gb=1,
                extra_specs=dict(extra_specs)))

    def schedule(self, flavor):
        """What nova's handlers make of a new request for ``flavor``: the
        hosts that pass, and the weighed ones in order."""
        spec = self.request_spec(flavor)
        passed = filters.HostFilterHandler().get_filtered_objects(
            [self.filter], self.hosts, spec)
        weighed = weights.HostWeightHandler().get_weighed_objects(
            [self.weigher], passed, spec)
        return ([h.host for h in passed],
                [(w.obj.host, w.weight) for w in weighed])

    def test_soft_policy(self):
        self.check_threads_get_the_single_threaded_results()

    def test_hard_policy(self):
        self.flags(overload_policy='hard', group='cryptomine')
        self.check_threads_get_the_single_threaded_results()

    def check_threads_get_the_single_threaded_results(self):
        expected = {flavor: self.schedule(flavor) for flavor in FLAVORS}
        # The flavors' results must differ for a mix-up to show.
        self.assertEqual(len(FLAVORS),
                         len({repr(r) for r in expected.values()}))
        start = threading.Barrier(THREADS)
        results: list[list[tuple[str, tuple]]] = [[] for _ in range(THREADS)]
        errors = []

        def worker(number):
            flavors = list(FLAVORS) * (REQUESTS // len(FLAVORS) + 1)
            random.Random(number).shuffle(flavors)
            try:
                start.wait()
                for flavor in flavors[:REQUESTS]:
                    results[number].append((flavor, self.schedule(flavor)))
            except Exception as exc:  # reported below, not lost in a thread
                errors.append(exc)

        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)  # interleave the threads finely
        self.addCleanup(sys.setswitchinterval, interval)
        threads = [threading.Thread(target=worker, args=(n,))
                   for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual([], errors)
        wrong = [(n, flavor) for n, done in enumerate(results)
                 for flavor, result in done if result != expected[flavor]]
        self.assertEqual(THREADS * REQUESTS, sum(map(len, results)))
        self.assertEqual([], wrong, f'{len(wrong)} of {THREADS * REQUESTS} '
                         'requests got another result than alone')


class Spec:
    """Stands for a RequestSpec: compared by identity."""


class TestRequestMap(testtools.TestCase):

    def test_value_per_owner_and_tag(self):
        states = requests.RequestMap()
        one, two = Spec(), Spec()
        states.put(one, 'a', 1)
        states.put(two, 'a', 2)
        self.assertEqual(1, states.get(one, 'a'))
        self.assertEqual(2, states.get(two, 'a'))
        self.assertIsNone(states.get(one, 'b'))  # next instance of one
        self.assertEqual(3, states.get_or_make(one, 'b', lambda: 3))
        self.assertIsNone(states.get(one, 'a'))

    def test_entry_goes_with_its_owner(self):
        states = requests.RequestMap()
        owner = Spec()
        states.put(owner, None, 'state')
        self.assertEqual(1, len(states))
        del owner
        gc.collect()
        self.assertEqual(0, len(states))

    def test_bounded(self):
        states = requests.RequestMap(limit=3)
        owners = [Spec() for _ in range(5)]
        for number, owner in enumerate(owners):
            states.put(owner, None, number)
        self.assertEqual(3, len(states))
        self.assertIsNone(states.get(owners[1], None))
        self.assertEqual(4, states.get(owners[4], None))

    def test_owner_without_weak_references(self):
        states = requests.RequestMap()
        owner = {'not': 'weakly referable'}
        states.put(owner, None, 'state')
        self.assertEqual('state', states.get(owner, None))
