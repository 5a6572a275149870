from oslotest import base

from cryptomine_scheduler.history import flavor_loads
from cryptomine_scheduler.history import placements
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests import samples


class TestFlavorLoads(base.BaseTestCase):

    def test_learned_after_min_guests_mean_of_the_latest(self):
        loads = flavor_loads.FlavorLoads(history=3, min_guests=2)
        loads.observe('m1', None, 90.0)
        self.assertEqual({}, loads.wire())
        for percent in (60.0, 30.0, 150.0):  # 150 is clipped to 100
            loads.observe('m1', None, percent)
        # The last three: 60, 30, 100.
        self.assertEqual({'m1': {'percent': 63.33, 'guests': 3,
                                 'images': {}}}, loads.wire())

    def test_image_learned_apart_and_preferred(self):
        loads = flavor_loads.FlavorLoads(history=10, min_guests=2)
        for image, percent in (('ubuntu', 20.0), ('ubuntu', 30.0),
                               ('miner', 95.0), ('miner', 85.0)):
            loads.observe('m1', image, percent)
        loads.observe('m1', 'rare', 50.0)
        table = loads.wire()
        self.assertEqual(56.0, table['m1']['percent'])
        self.assertEqual(['miner', 'ubuntu'],
                         sorted(table['m1']['images']))
        for image, expected in (('miner', 90.0), ('ubuntu', 25.0),
                                ('rare', 56.0), (None, 56.0)):
            with self.subTest(image=image):
                self.assertEqual(expected, flavor_loads.expected(
                    table, 'm1', image))
        self.assertIsNone(flavor_loads.expected(table, 'm2', 'miner'))
        self.assertIsNone(flavor_loads.expected(table, None, 'miner'))

    def test_bounded_least_recent_flavor_forgotten(self):
        loads = flavor_loads.FlavorLoads(history=5, min_guests=1, limit=2)
        loads.observe('old', None, 10.0)
        loads.observe('m1', None, 20.0)
        loads.observe('m2', None, 30.0)
        self.assertEqual(['m1', 'm2'], sorted(loads.wire()))


class TestTrackerLearns(base.BaseTestCase):
    """The controller learns from the guests nova placed, once warm."""

    GUEST = '6f1a2b3c-0000-4000-8000-00000000000{}'

    def setUp(self):
        super().setUp()
        self.now = [1000.0]
        self.book = placements.Placements(warmup=60, max_age=900,
                                          clock=lambda: self.now[0])
        self.tracker = snapshot.LoadTracker(
            window=600, half_life=30, placements=self.book,
            flavor_loads=flavor_loads.FlavorLoads(min_guests=2))

    def sample(self, seq: int, cpus: int | None, guests: dict[str, float]):
        self.tracker.add(samples.make(
            seq=seq, timestamp=self.now[0], cpus=cpus,
            collector=samples.COUNTERS,
            instances=[sample.InstanceLoad(uuid, cpu, 512.0)
                       for uuid, cpu in guests.items()]))

    def run_guests(self, cpus: int | None, shares: list[float]) -> dict:
        """Place guests of 4 vCPUs on a host of ``cpus``, sample them at
        ``shares`` (% of the host) through their warm-up; the snapshot."""
        guests = {self.GUEST.format(n): share
                  for n, share in enumerate(shares)}
        for uuid in guests:
            self.book.placed(uuid, 'compute-1', 4, 4096, 100.0, 'm1', 'img')
        for seq in range(8):
            self.now[0] += 10.0
            self.sample(seq, cpus, guests)
            self.tracker.snapshot(self.now[0])
        return snapshot.LoadSnapshot.from_wire(
            self.tracker.snapshot(self.now[0]))

    def test_share_of_the_host_becomes_share_of_the_guest(self):
        # 4 vCPUs of 32 busy at 75 %: 9.375 % of the host.
        snap = self.run_guests(32, [9.375, 9.375])
        self.assertEqual({}, snap.pending)
        self.assertAlmostEqual(75.0, snap.learned_load('m1', 'img'),
                               places=1)
        self.assertAlmostEqual(75.0, snap.learned_load('m1', None),
                               places=1)

    def test_next_guest_of_the_flavor_pending_at_the_learned_load(self):
        self.run_guests(32, [4.0, 6.0])  # 32 and 48 % of their vCPUs
        self.book.placed('next', 'compute-2', 4, 4096, 100.0, 'm1', 'img')
        self.book.placed('other', 'compute-2', 4, 4096, 100.0, 'm9', None)
        snap = snapshot.LoadSnapshot.from_wire(
            self.tracker.snapshot(self.now[0]))
        by_uuid = {view.uuid: view.expected_load_percent
                   for view in snap.pending['compute-2']}
        self.assertAlmostEqual(40.0, by_uuid['next'], places=1)
        self.assertEqual(100.0, by_uuid['other'])

    def test_each_warm_guest_noted_once_for_the_database(self):
        self.run_guests(32, [4.0, 6.0])  # first sampled at 1010, warm 60
        self.assertEqual(
            [(self.GUEST.format(0), 'm1', 'img', 32.0, 1070.0),
             (self.GUEST.format(1), 'm1', 'img', 48.0, 1070.0)],
            sorted((o.instance_uuid, o.flavor, o.image,
                    round(o.percent, 6), o.observed_at)
                   for o in self.tracker.take_learned()))
        self.assertEqual([], self.tracker.take_learned())

    def test_nothing_learned_without_the_hosts_cpus(self):
        # A collector of schema 2 does not say what the shares are of.
        snap = self.run_guests(None, [9.375, 9.375])
        self.assertEqual({}, snap.flavor_loads)
        self.assertIsNone(snap.learned_load('m1', 'img'))
