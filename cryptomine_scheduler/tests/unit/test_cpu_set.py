"""The guests' CPU set: nova's syntax, nova's configuration files, and
the host's and guests' CPU measured as shares of it."""

import os

import fixtures
from oslo_config import cfg
from oslotest import base

from cryptomine_scheduler.tests.config import collector_conf
from cryptomine_scheduler.tests.unit import test_sources
from load_collector import cmd as collector_cmd
from load_collector import cpu_set
from load_collector import sources
from load_collector.sources import host
from load_collector.sources import instances

MEMINFO = ('MemTotal: 16000000 kB\nMemFree: 4000000 kB\n'
           'MemAvailable: 8000000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n')


class TestParse(base.BaseTestCase):

    VALID = [
        ('0', {0}),
        ('4-7', {4, 5, 6, 7}),
        ('3-3', {3}),
        ('4-31,^8,40', set(range(4, 32)) - {8} | {40}),
        ('^8,4-9', {4, 5, 6, 7, 9}),
        ('0-7,^2-5', {0, 1, 6, 7}),
        (' 1 , 3 - 4 , ^ 4 ', {1, 3}),
        ('1,,2,', {1, 2}),
        ('2,2,1-2', {1, 2}),
        ('\t5\n', {5}),
        (f'{cpu_set.MAX_CPUS - 1}', {cpu_set.MAX_CPUS - 1}),
    ]
    INVALID = [
        ('x', 'neither'),
        ('1-', 'neither'),
        ('-1', 'neither'),
        ('1-2-3', 'neither'),
        ('^', 'neither'),
        ('^^1', 'neither'),
        ('1.5', 'neither'),
        ('+1', 'neither'),
        ('1 2', 'neither'),
        ('١', 'neither'),  # an Arabic-Indic one: int() takes it
        ('5-4', 'ends before it starts'),
        (f'{cpu_set.MAX_CPUS}', 'beyond the largest possible, 8191'),
        (f'0-{cpu_set.MAX_CPUS}', 'beyond'),
        ('', 'names no CPU'),
        (',', 'names no CPU'),
        ('1,^1', 'names no CPU'),
        ('^0-3', 'names no CPU'),
    ]

    def test_valid(self):
        for spec, expected in self.VALID:
            with self.subTest(spec=spec):
                self.assertEqual(frozenset(expected), cpu_set.parse(spec))

    def test_invalid(self):
        for spec, why in self.INVALID:
            with self.subTest(spec=spec):
                error = self.assertRaises(cpu_set.CpuSetError,
                                          cpu_set.parse, spec)
                self.assertIn(why, str(error))
                self.assertIn(repr(spec), str(error))

    def test_describe_round_trips(self):
        for spec, expected in [('0', '0'), ('3,1,2', '1-3'),
                               ('4-31,^8,40', '4-7,9-31,40'),
                               ('0,2,4', '0,2,4')]:
            with self.subTest(spec=spec):
                described = cpu_set.describe(cpu_set.parse(spec))
                self.assertEqual(expected, described)
                self.assertEqual(cpu_set.parse(spec),
                                 cpu_set.parse(described))


class TestOption(base.BaseTestCase):

    def test_set_directly(self):
        guest = cpu_set.guest_cpus(collector_conf(guest_cpu_set='2-3,^3'))
        self.assertEqual((frozenset({2}), '[collector] guest_cpu_set'),
                         (guest.cpus, guest.origin))

    def test_bad_value_in_a_file_names_the_option_and_file(self):
        path = self.useFixture(fixtures.TempDir()).join('c.conf')
        with open(path, 'w') as out:
            out.write('[collector]\nguest_cpu_set = 8-4\n')
        conf = cfg.ConfigOpts()
        collector_cmd.register_opts(conf)
        conf(['--config-file', path])
        error = self.assertRaises(cpu_set.CpuSetError,
                                  cpu_set.guest_cpus, conf)
        self.assertIn('guest_cpu_set', str(error))
        self.assertIn(path, str(error))
        self.assertIn("'8-4' in CPU set '8-4' ends before it starts",
                      str(error))

    def test_bad_override_refused_at_once(self):
        self.assertRaises(cpu_set.CpuSetError, collector_conf,
                          guest_cpu_set='4-x')


class TestFromNova(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir())

    def write(self, name: str, text: str) -> str:
        path = self.dir.join(name)
        with open(path, 'w') as out:
            out.write(text)
        return path

    CASES = [
        ('shared and dedicated',
         '[compute]\ncpu_shared_set = 2-3\ncpu_dedicated_set = 8-9\n'
         '[DEFAULT]\nvcpu_pin_set = 0-15\n',
         {2, 3, 8, 9}, '[compute] cpu_shared_set and [compute] '
         'cpu_dedicated_set'),
        ('dedicated only', '[compute]\ncpu_dedicated_set = 4-5,^5\n',
         {4}, '[compute] cpu_dedicated_set'),
        ('legacy vcpu_pin_set', '[DEFAULT]\nvcpu_pin_set = 1-2\n'
         '[compute]\ncpu_shared_set =\n', {1, 2}, '[DEFAULT] vcpu_pin_set'),
        ('section names ignore case', '[COMPUTE]\ncpu_shared_set = 6\n',
         {6}, '[compute] cpu_shared_set'),
        ('the last line wins', '[compute]\ncpu_shared_set = 1\n'
         'cpu_shared_set = 7\n', {7}, '[compute] cpu_shared_set'),
        ('nothing set', '[compute]\n# cpu_shared_set = 1\n'
         '[libvirt]\ncpu_mode = host-passthrough\n', None, 'all CPUs'),
    ]

    def test_options(self):
        for case, text, expected, origin in self.CASES:
            with self.subTest(case=case):
                path = self.write('nova.conf', text)
                guest = cpu_set.guest_cpus(
                    collector_conf(nova_config_files=[path]))
                self.assertEqual(
                    None if expected is None else frozenset(expected),
                    guest.cpus)
                self.assertIn(origin, guest.origin)
                self.assertIn(path, guest.origin)
                self.assertEqual((), guest.unreadable)

    def test_later_file_overrides(self):
        first = self.write('nova.conf', '[compute]\ncpu_shared_set = 1\n'
                                        'cpu_dedicated_set = 2\n')
        second = self.write('nova-cpu.conf',
                            '[compute]\ncpu_shared_set = 3\n')
        self.assertEqual(frozenset({2, 3}),
                         cpu_set.from_nova([first, second]).cpus)

    def test_own_option_wins_over_nova(self):
        path = self.write('nova.conf', '[compute]\ncpu_shared_set = 1\n')
        conf = collector_conf(nova_config_files=[path], guest_cpu_set='5')
        self.assertEqual(frozenset({5}), cpu_set.guest_cpus(conf).cpus)

    def test_unreadable_file_means_all_cpus(self):
        missing = self.dir.join('absent.conf')
        guest = cpu_set.from_nova([missing])
        self.assertIsNone(guest.cpus)
        self.assertEqual((missing,), guest.unreadable)
        self.assertEqual('all CPUs, none set in the nova configuration '
                         'read (none)', guest.origin)

    def test_bad_set_names_option_and_file(self):
        path = self.write('nova.conf', '[compute]\ncpu_dedicated_set = 4-\n')
        error = self.assertRaises(cpu_set.CpuSetError,
                                  cpu_set.from_nova, [path])
        self.assertIn('[compute] cpu_dedicated_set', str(error))
        self.assertIn(path, str(error))

    def test_malformed_file(self):
        path = self.write('nova.conf', 'cpu_shared_set = 1\n')
        error = self.assertRaises(cpu_set.CpuSetError,
                                  cpu_set.from_nova, [path])
        self.assertIn(path, str(error))


def write_stat(root: str, cpus: dict[int, tuple[int, int]]) -> None:
    """Write /proc/stat and /proc/meminfo; ``cpus`` maps each online CPU
    to its (busy, idle) clock ticks, as user and idle time."""
    busy, idle = (sum(t[n] for t in cpus.values()) for n in (0, 1))
    with open(os.path.join(root, 'stat'), 'w') as out:
        out.write(f'cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\n')
        for cpu, (busy, idle) in sorted(cpus.items()):
            out.write(f'cpu{cpu} {busy} 0 0 {idle} 0 0 0 0 0 0\n')
        out.write('intr 1 2 3\nctxt 123456\nbtime 1700000000\n')
    with open(os.path.join(root, 'meminfo'), 'w') as out:
        out.write(MEMINFO)


class TestHostOverTheSet(base.BaseTestCase):
    """The host source on a written /proc: CPUs 0-7 online, each
    100 ticks into a cycle; CPU n busy n*10 of them."""

    BEFORE = {cpu: (1000, 1000) for cpu in range(8)}
    AFTER = {cpu: (1000 + cpu * 10, 1100 - cpu * 10) for cpu in range(8)}

    def setUp(self):
        super().setUp()
        self.root = self.useFixture(fixtures.TempDir()).path
        self.log = self.useFixture(fixtures.FakeLogger(
            name=host.__name__, level='INFO'))

    def source(self, guest_cpu_set: str, before=BEFORE):
        write_stat(self.root, before)
        source = host.HostSource(
            collector_conf(guest_cpu_set=guest_cpu_set), procfs=self.root)
        self.addCleanup(source.close)
        return source

    def cycle(self, source, stat) -> sources.SampleDraft:
        write_stat(self.root, stat)
        draft = sources.SampleDraft()
        source.collect(draft)
        return draft

    CASES = [
        # set, CPU %, cpus
        ('', 35.0, 8),
        ('0-7', 35.0, 8),
        ('0', 0.0, 1),
        ('7', 70.0, 1),
        ('4-7', 55.0, 4),
        ('0-7,^0-3', 55.0, 4),
        ('1,3,5', 30.0, 3),
        # As all CPUs less the others' lines.
        ('1-7', 40.0, 7),
        ('0-6', 30.0, 7),
    ]

    def test_share_of_the_set(self):
        for spec, percent, cpus in self.CASES:
            with self.subTest(guest_cpu_set=spec):
                draft = self.cycle(self.source(spec), self.AFTER)
                self.assertEqual((percent, cpus),
                                 (draft.host_load.cpu_percent, draft.cpus))

    def test_absent_cpu_left_out_and_logged_once(self):
        source = self.source('6-9')
        self.assertEqual(1, self.log.output.count('Guest CPU 8 is offline'))
        self.assertEqual(1, self.log.output.count('Guest CPU 9 is offline'))
        draft = self.cycle(source, self.AFTER)
        self.assertEqual((65.0, 2), (draft.host_load.cpu_percent,
                                     draft.cpus))
        self.cycle(source, self.AFTER)
        self.assertEqual(1, self.log.output.count('Guest CPU 8 is offline'))

    def test_cpu_going_offline_and_back(self):
        # 2-5 is read from its own lines, 1-6 as all CPUs less 0 and 7.
        for spec, percents in [('2-5', (36.7, 100.0, 50.0)),
                               ('1-6', (36.0, 100.0, 50.0))]:
            with self.subTest(guest_cpu_set=spec):
                self.log.reset_output()
                cpus = len(cpu_set.parse(spec))
                source = self.source(spec)
                # CPU 3 offline: the figure is over the others of the
                # set, online throughout.
                without_3 = {c: t for c, t in self.AFTER.items() if c != 3}
                draft = self.cycle(source, without_3)
                self.assertEqual((percents[0], cpus - 1),
                                 (draft.host_load.cpu_percent, draft.cpus))
                self.assertIn('Guest CPU 3 is offline', self.log.output)
                # Back, while CPU 7 (not a guest CPU) goes offline: as
                # many lines as before.
                back = {c: (t[0] + 100, t[1]) for c, t in self.AFTER.items()
                        if c != 7}
                draft = self.cycle(source, back)
                self.assertEqual((percents[1], cpus),
                                 (draft.host_load.cpu_percent, draft.cpus))
                self.assertIn('Guest CPU 3 is online again', self.log.output)
                draft = self.cycle(source, {c: (t[0] + 50, t[1] + 50)
                                            for c, t in back.items()})
                self.assertEqual((percents[2], cpus),
                                 (draft.host_load.cpu_percent, draft.cpus))

    def test_cpus_outside_the_set_changing(self):
        after = self.AFTER
        for spec, online, percent in [
                # Read from the set's own lines.
                ('4-7', {c: t for c, t in after.items() if c not in (0, 2)},
                 55.0),
                # As all CPUs less the others.
                ('1-7', {c: t for c, t in after.items() if c != 0}, 40.0),
                ('2-7', {**{c: t for c, t in after.items() if c != 1},
                         8: (5000, 0)}, 45.0)]:
            with self.subTest(guest_cpu_set=spec):
                source = self.source(spec)
                draft = self.cycle(source, online)
                self.assertEqual((percent, len(cpu_set.parse(spec))),
                                 (draft.host_load.cpu_percent, draft.cpus))
                draft = self.cycle(source, {c: (t[0] + 30, t[1] + 70)
                                            for c, t in online.items()})
                self.assertEqual(30.0, draft.host_load.cpu_percent)
        self.assertNotIn('offline', self.log.output)

    def test_no_cpu_of_the_set_online(self):
        write_stat(self.root, self.BEFORE)
        error = self.assertRaises(
            cpu_set.CpuSetError, host.HostSource,
            collector_conf(guest_cpu_set='8-9'), procfs=self.root)
        self.assertIn('no CPU of 8-9', str(error))

    def test_origin_logged(self):
        self.source('4-7')
        self.assertIn('Measuring CPU over 4-7 (from [collector] '
                      'guest_cpu_set), 4 online', self.log.output)


class TestGuestShare(base.BaseTestCase):
    """A guest's CPU % is a share of the same CPUs as the host's."""

    def setUp(self):
        super().setUp()
        fake = self.useFixture(test_sources.guests.FakeGuests(1))
        test_sources.TestInstanceSource._wait_for_exec(fake.processes[0].pid)
        self.uuid = fake.uuids[0]
        # Each guest (others' may run beside ours) used 0.5 s of CPU a
        # second, between instants 1000 and 1010.
        readings = {}
        self.useFixture(fixtures.MockPatch(
            'load_collector.sources.instances.read_usage',
            side_effect=lambda fd, clock: next(readings.setdefault(
                fd, iter([(100.0, 0), (105.0, 0)])))))
        self.now = self.useFixture(fixtures.MockPatchObject(
            instances, 'time')).mock.time
        self.now.side_effect = [1000.0, 1010.0]

    def percent(self, conf, cpus: int | None) -> float:
        source = instances.InstanceSource(conf)
        self.addCleanup(source.close)
        for _ in range(2):
            draft = sources.SampleDraft(cpus=cpus)
            source.collect(draft)
        return {i.uuid: i.cpu_percent for i in draft.instances}[self.uuid]

    def test_share_of_the_sample_cpus(self):
        # As the controller scales it back: 50 % of one CPU.
        self.assertEqual(12.5, self.percent(collector_conf(), 4))

    def test_own_count_of_the_set_without_the_host_source(self):
        # CPU 8191 is not online on this machine.
        self.assertEqual(50.0, self.percent(
            collector_conf(guest_cpu_set='0,8191'), None))
