import dataclasses
import json
import logging

import fixtures
from oslotest import base

from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests import fake_miner
from cryptomine_scheduler.tests.config import collector_conf
from load_collector import cmd as collector_cmd
from load_collector import sources
from load_collector.sources import asic
from load_collector.sources import cgminer_api
from load_collector.sources import host

UUID = '6f1c0a5e-3b7e-4c1e-9d59-0f2f6a4e8b11'
#: Long enough for a healthy fake miner on a busy machine; the slow
#: fake answers after 10 s.
TIMEOUT = 2.0
MINER = asic.Miner('10.20.0.11', 4028, UUID)




def _reply(section: str, records: list, state: str = 'S',
           msg: str = 'ok') -> dict:
    return {'STATUS': [{'STATUS': state, 'When': 1, 'Code': 1, 'Msg': msg}],
            section: records, 'id': 1}


def _combined(summary: dict, devs: list | None = None,
              stats: list | None = None) -> bytes:
    body = {'summary': [_reply('SUMMARY', [summary])]}
    if devs is not None:
        body['devs'] = [_reply('DEVS', devs)]
    if stats is not None:
        body['stats'] = [_reply('STATS', stats)]
    return json.dumps(body).encode() + b'\0'


def _parse(raw: bytes, command: str = cgminer_api.COMBINED) -> sample.AsicLoad:
    return cgminer_api.to_load(MINER.label, MINER.instance, cgminer_api.split(
        command, cgminer_api.decode(raw)))


def _assert_load(test, expected: sample.AsicLoad,
                 actual: sample.AsicLoad) -> None:
    for field in dataclasses.fields(sample.AsicLoad):
        want = getattr(expected, field.name)
        got = getattr(actual, field.name)
        with test.subTest(field=field.name):
            if isinstance(want, float):
                test.assertAlmostEqual(want, got, places=6)
            else:
                test.assertEqual(want, got)


class TestParseMiner(base.BaseTestCase):

    VALID = [
        ('10.20.0.11', asic.Miner('10.20.0.11', 4028, None),
         '10.20.0.11:4028'),
        ('10.20.0.12:4029=' + UUID, asic.Miner('10.20.0.12', 4029, UUID),
         '10.20.0.12:4029'),
        (' miner-7.rack2.example.net = ' + UUID.upper(),
         asic.Miner('miner-7.rack2.example.net', 4028, UUID),
         'miner-7.rack2.example.net:4028'),
        ('10.0.0.1=' + UUID.replace('-', ''),
         asic.Miner('10.0.0.1', 4028, UUID), '10.0.0.1:4028'),
        ('[::1]:4030', asic.Miner('::1', 4030, None), '[::1]:4030'),
        ('[2001:db8::7]=' + UUID, asic.Miner('2001:db8::7', 4028, UUID),
         '[2001:db8::7]:4028'),
        ('10.0.0.1:65535', asic.Miner('10.0.0.1', 65535, None),
         '10.0.0.1:65535'),
    ]

    INVALID = [
        ('', 'invalid host'),
        (':4028', 'invalid host'),
        ('bad host', 'invalid host'),
        ('-miner', 'invalid host'),
        ('10.0.0.1:', 'invalid port'),
        ('10.0.0.1:0', 'invalid port'),
        ('10.0.0.1:65536', 'invalid port'),
        ('10.0.0.1:http', 'invalid port'),
        ('10.0.0.1:４０２８', 'invalid port'),
        ('::1', 'in brackets'),
        ('2001:db8::7:4028', 'in brackets'),
        ('[::1', 'missing "]"'),
        ('[::1]4028', 'expected ":PORT"'),
        ('[10.0.0.1]:4028', 'IPv6'),
        ('10.0.0.1=', 'invalid instance UUID'),
        ('10.0.0.1=instance-0001', 'invalid instance UUID'),
    ]

    def test_valid(self):
        for entry, expected, label in self.VALID:
            with self.subTest(entry=entry):
                miner = asic.parse_miner(entry)
                self.assertEqual(expected, miner)
                self.assertEqual(label, miner.label)

    def test_invalid_names_the_entry(self):
        for entry, reason in self.INVALID:
            with self.subTest(entry=entry):
                err = self.assertRaises(ValueError, asic.parse_miner, entry)
                self.assertIn(repr(entry), str(err))
                self.assertIn(reason, str(err))


class TestConfiguration(base.BaseTestCase):

    def test_no_miners_disables_the_source(self):
        err = self.assertRaises(sources.SourceUnavailable,
                                asic.AsicSource, collector_conf())
        self.assertEqual('no miners configured', str(err))

    def test_malformed_entry_is_a_clear_error(self):
        err = self.assertRaises(
            ValueError, asic.AsicSource,
            collector_conf(miners=['10.0.0.1', '10.0.0.2:port']))
        self.assertIn("'10.0.0.2:port'", str(err))

    def test_miner_listed_twice(self):
        err = self.assertRaises(
            ValueError, asic.AsicSource,
            collector_conf(miners=['10.0.0.1', '10.0.0.1:4028=' + UUID]))
        self.assertIn('10.0.0.1:4028 twice', str(err))

    def test_entry_point(self):
        loaded = collector_cmd.load_sources(
            collector_conf(sources=['host', 'asic'], miners=['10.0.0.1']))
        self.assertEqual([host.HostSource, asic.AsicSource],
                         [type(s) for s in loaded])


class TestReplyParser(base.BaseTestCase):
    """Raw reply bytes to AsicLoad, without sockets."""

    STATS_GLITCH = (
        b'{"summary":[{"STATUS":[{"STATUS":"S","Msg":"Summary"}],'
        b'"SUMMARY":[{"GHS 5s":"13532.42","GHS av":13501.10}]}],'
        b'"stats":[{"STATUS":[{"STATUS":"S","Msg":"BMMiner stats"}],'
        b'"STATS":[{"BMMiner":"2.0.0","Type":"Antminer S9"}'
        b'{"STATS":0,"fan_num":1,"fan3":5760,"temp2_6":76}],"id":1}],'
        b'"id":1}\0')

    CASES = [
        ('MH/s become GH/s', _combined({'MHS 5s': 1500.0, 'MHS av': 1250}),
         {'hashrate_5s_ghs': 1.5, 'hashrate_avg_ghs': 1.25}),
        ('GH/s sent as strings', _combined(
            {'GHS 5s': '13532.42', 'GHS av': 13501.10}),
         {'hashrate_5s_ghs': 13532.42, 'hashrate_avg_ghs': 13501.1}),
        ('KH/s only', _combined({'KHS 5s': '2500000'}),
         {'hashrate_5s_ghs': 2.5, 'hashrate_avg_ghs': None}),
        ('TH/s', _combined({'THS 5s': 95.1}), {'hashrate_5s_ghs': 95100.0}),
        ('hashrate from STATS when SUMMARY has none', _combined(
            {}, stats=[{'CGMiner': '4.9'}, {'GHS 5s': '100.5'}]),
         {'hashrate_5s_ghs': 100.5, 'hashrate_avg_ghs': None}),
        ('counters as strings; negative is no counter', _combined(
            {'Accepted': '42', 'Rejected': 3.0, 'Hardware Errors': '-1'}),
         {'accepted_shares': 42, 'rejected_shares': 3,
          'hardware_errors': None}),
        ('hottest reading; 0, 255 and temp_num ignored', _combined(
            {}, devs=[{'Temperature': 0}, {'Temperature': 255},
                      {'Temperature': '64.5'}],
            stats=[{'temp_num': 120, 'temp1': 60, 'temp2_1': '70'}]),
         {'temperature_c': 70.0}),
        ('Antminer readings joined by dashes', _combined(
            {}, stats=[{'temp_pcb1': '41-40-57-57',
                        'temp_chip1': '56-56-72-72', 'temp1': '-1'}]),
         {'temperature_c': 72.0}),
        ('readings JSON would refuse or split read one by one', _combined(
            {}, stats=[{'temp1': '1,5', 'temp2': '07', 'temp3': '6.',
                        'temp4': '-', 'fan1': '05-', 'fan2': '+4e3'}]),
         {'temperature_c': 7.0, 'fan_rpm_min': 5.0}),
        ('empty fan headers ignored', _combined(
            {}, stats=[{'fan_num': 2, 'fan1': 0, 'fan3': 5760,
                        'fan6': '5640', 'fan8': 0}]),
         {'fan_rpm_min': 5640.0}),
        ('a fitted fan that stopped reads 0', _combined(
            {}, stats=[{'fan_num': '2', 'fan1': 5760, 'fan2': 0}]),
         {'fan_rpm_min': 0.0}),
        ('GPU fans in rpm, not percent', _combined(
            {}, devs=[{'Fan Speed': 3350, 'Fan Percent': 55},
                      {'Fan Speed': '3200', 'Fan Percent': 50}]),
         {'fan_rpm_min': 3200.0}),
        ('Whatsminer fans and temperature in SUMMARY', _combined(
            {'MHS 5s': 41603732.68, 'Temperature': 58.0,
             'Fan Speed In': 3810, 'Fan Speed Out': 3780,
             'Power': 3200}),
         {'hashrate_5s_ghs': 41603.73268, 'temperature_c': 58.0,
          'fan_rpm_min': 3780.0, 'power_w': 3200.0}),
        ('chains: empty connector skipped, no chips or x is down',
         _combined({}, stats=[{
             'chain_acn1': 0, 'chain_acs1': '',
             'chain_acn2': 63, 'chain_acs2': ' oooo oooo',
             'chain_acn3': 63, 'chain_acs3': ' ooxo oooo',
             'chain_acn4': 0, 'chain_acs4': ' ---- ----'}]),
         {'chains_total': 3, 'chains_active': 1}),
        ('chains without chain_acs: no chips is down', _combined(
            {}, stats=[{'chain_acn1': '76', 'chain_acn2': '0'}]),
         {'chains_total': 2, 'chains_active': 1}),
        ('devices are the chains when STATS has none', _combined(
            {}, devs=[{'Status': 'Alive'}, {'Status': 'Dead'},
                      {'Status': 'Alive', 'Enabled': 'N'}]),
         {'chains_total': 3, 'chains_active': 1}),
        ('power with a unit', _combined({'Power': '3150 W'}),
         {'power_w': 3150.0}),
        ('chain_power in STATS', _combined(
            {}, stats=[{'chain_power': '1400.5'}]), {'power_w': 1400.5}),
        ('}{ firmware glitch repaired', STATS_GLITCH,
         {'hashrate_5s_ghs': 13532.42, 'fan_rpm_min': 5760.0,
          'temperature_c': 76.0}),
        ('raw control characters in a string', _combined(
            {'GHS 5s': 2.5, 'Type': 'Antminer\tS19\n'}).replace(
                b'\\t', b'\t').replace(b'\\n', b'\n'),
         {'hashrate_5s_ghs': 2.5}),
        ('no NUL, trailing whitespace', _combined(
            {'GHS 5s': 1.0})[:-1] + b'\r\n', {'hashrate_5s_ghs': 1.0}),
        ('nothing but SUMMARY', _combined({}),
         {f.name: None for f in dataclasses.fields(sample.AsicLoad)
          if f.name not in ('miner', 'available', 'instance')}),
        ('NaN, infinity and booleans are no readings', _combined(
            {'GHS 5s': 'nan', 'GHS av': 'inf', 'Accepted': True,
             'Power': 1e999}),
         {'hashrate_5s_ghs': None, 'hashrate_avg_ghs': None,
          'accepted_shares': None, 'power_w': None}),
    ]

    ERRORS = [
        ('empty', b'', cgminer_api.COMBINED, 'empty reply'),
        ('only NUL', b'\0', cgminer_api.COMBINED, 'empty reply'),
        ('HTML', fake_miner.GARBAGE, cgminer_api.COMBINED, 'not JSON'),
        ('truncated', b'{"summary":[{"STATUS":[{"STATUS":"S"',
         cgminer_api.COMBINED,
         'not JSON'),
        ('too deep', b'[' * 100000, cgminer_api.COMBINED, 'not JSON'),
        ('a list', b'[1, 2]\0', cgminer_api.COMBINED, 'not a JSON object'),
        ('summary refused', json.dumps(
            _reply('SUMMARY', [], 'E', "Access denied to 'summary'")
        ).encode(), 'summary', "summary: Access denied to 'summary'"),
        ('summary fatal', json.dumps(
            _reply('SUMMARY', [], 'F', 'Stopped')).encode(), 'summary',
         'summary: Stopped'),
        ('summary without STATUS', b'{"SUMMARY":[{}]}', 'summary',
         'no STATUS'),
        ('summary without SUMMARY', json.dumps(
            {'STATUS': [{'STATUS': 'S'}]}).encode(), 'summary',
         'no SUMMARY section'),
    ]

    def test_readings(self):
        for name, raw, expected in self.CASES:
            with self.subTest(case=name):
                load = _parse(raw)
                self.assertTrue(load.available)
                self.assertEqual(
                    (MINER.label, UUID), (load.miner, load.instance))
                for field, value in expected.items():
                    if isinstance(value, float):
                        self.assertAlmostEqual(value, getattr(load, field),
                                               places=6, msg=field)
                    else:
                        self.assertEqual(value, getattr(load, field), field)

    def test_joined_and_separate_replies_agree(self):
        for flavour in fake_miner.FLAVOURS:
            replies = {}
            for command in cgminer_api.COMMANDS:
                replies.update(cgminer_api.split(
                    command, cgminer_api.decode(
                        fake_miner.reply_bytes(flavour, command))))
            separate = cgminer_api.to_load(MINER.label, MINER.instance,
                                           replies)
            self.assertIsNotNone(separate.hashrate_5s_ghs)
            for mode in (None, 'bare', 'single'):
                with self.subTest(flavour=flavour, mode=mode):
                    joined = fake_miner.reply_bytes(
                        flavour, cgminer_api.COMBINED, mode)
                    if (fake_miner.FLAVOURS[flavour].combined
                            and mode != 'single'):
                        self.assertEqual(separate, _parse(joined))
                    else:
                        self.assertRaises(cgminer_api.CommandRejected,
                                          _parse, joined)

    def test_unusable_replies(self):
        for name, raw, command, reason in self.ERRORS:
            with self.subTest(case=name):
                err = self.assertRaises(cgminer_api.ReplyError, _parse, raw,
                                        command)
                self.assertNotIsInstance(err, cgminer_api.CommandRejected)
                self.assertIn(reason, str(err))

    def test_sections_that_failed_are_skipped(self):
        raw = json.dumps({
            'summary': [_reply('SUMMARY', [{'GHS 5s': 5.0}])],
            'devs': [_reply('DEVS', [{'Temperature': 60}], 'E', 'No ASCs')],
            'stats': [_reply('STATS', [{'fan1': 5000}], 'E', 'x')],
        }).encode()
        load = _parse(raw)
        self.assertEqual((True, 5.0, None, None),
                         (load.available, load.hashrate_5s_ghs,
                          load.temperature_c, load.fan_rpm_min))

    def test_keys_invented_every_reply(self):
        kept = cgminer_api._LAYOUTS_KEPT
        for n in range(2 * kept + 1):
            load = _parse(_combined({}, stats=[
                {f'temp{n}': 50 + n % 40, f'Elapsed{n}': n}]))
            self.assertEqual(50 + n % 40, load.temperature_c)
        # Each reply's keys were classified anew, without keeping them all.
        self.assertLessEqual(len(cgminer_api._LAYOUTS), kept)

    def test_combined_command_rejected_as_a_whole(self):
        for raw, reason in [
                (fake_miner.reply_bytes('strings', cgminer_api.COMBINED),
                 'Invalid command'),
                (b'{"STATUS":"E","When":1,"Code":14,"Msg":"invalid cmd"}',
                 'invalid cmd'),
                (json.dumps(_reply('SUMMARY', [{}])).encode(),
                 'no part answered')]:
            with self.subTest(raw=raw):
                err = self.assertRaises(cgminer_api.CommandRejected,
                                        _parse, raw)
                self.assertIn(reason, str(err))


EXPECTED = {
    'cgminer': sample.AsicLoad(
        miner='', available=True, hashrate_5s_ghs=14.0205,
        hashrate_avg_ghs=13.98725, accepted_shares=5120, rejected_shares=12,
        hardware_errors=3, temperature_c=71.5, fan_rpm_min=3200.0,
        chains_total=3, chains_active=2, power_w=None),
    'antminer-s9': sample.AsicLoad(
        miner='', available=True, hashrate_5s_ghs=13532.42,
        hashrate_avg_ghs=13501.1, accepted_shares=24512, rejected_shares=31,
        hardware_errors=1547, temperature_c=79.0, fan_rpm_min=5640.0,
        chains_total=3, chains_active=3, power_w=None),
    'antminer-s19': sample.AsicLoad(
        miner='', available=True, hashrate_5s_ghs=95103.45,
        hashrate_avg_ghs=94937.35, accepted_shares=8012, rejected_shares=4,
        hardware_errors=22, temperature_c=74.0, fan_rpm_min=5760.0,
        chains_total=3, chains_active=2, power_w=3254.12),
    'strings': sample.AsicLoad(
        miner='', available=True, hashrate_5s_ghs=2.5,
        hashrate_avg_ghs=None, accepted_shares=42, rejected_shares=0,
        hardware_errors=None, temperature_c=71.25, fan_rpm_min=None,
        chains_total=2, chains_active=2, power_w=1380.0),
}


class TestAsicSource(base.BaseTestCase):
    """The source against FakeMiner servers, over real sockets."""

    def _miners(self, count: int, *args, **kwargs):
        return [self.useFixture(fake_miner.FakeMiner(*args, **kwargs))
                for _ in range(count)]

    def _source(self, *entries: str,
                timeout: float = TIMEOUT) -> asic.AsicSource:
        return asic.AsicSource(collector_conf(miners=list(entries),
                                              miner_timeout=timeout))

    def _collect(self, source) -> list[sample.AsicLoad]:
        draft = sources.SampleDraft()
        source.collect(draft)
        return draft.asics

    def _unavailable(self, fake, instance=None) -> sample.AsicLoad:
        return sample.AsicLoad(miner=fake.entry, available=False,
                               instance=instance)

    def test_flavours(self):
        for flavour, expected in EXPECTED.items():
            with self.subTest(flavour=flavour):
                fake = self.useFixture(fake_miner.FakeMiner(flavour))
                source = self._source(f'{fake.entry}={UUID}')
                (load,) = self._collect(source)
                _assert_load(self, dataclasses.replace(
                    expected, miner=fake.entry, instance=UUID), load)
                self.assertEqual(cgminer_api.COMBINED, fake.commands[0])
                if fake_miner.FLAVOURS[flavour].combined:
                    self.assertEqual(1, len(fake.commands))
                else:
                    self.assertEqual(sorted(cgminer_api.COMMANDS),
                                     sorted(fake.commands[1:]))

    def test_one_connection_per_cycle(self):
        (fake,) = self._miners(1, 'antminer-s19')
        source = self._source(fake.entry)
        for _ in range(3):
            self._collect(source)
        self.assertEqual(3, fake.connections)

    def test_joined_reply_without_lists(self):
        (fake,) = self._miners(1, 'antminer-s19', 'bare')
        (load,) = self._collect(self._source(fake.entry))
        _assert_load(self, dataclasses.replace(
            EXPECTED['antminer-s19'], miner=fake.entry), load)
        self.assertEqual([cgminer_api.COMBINED], fake.commands)

    def test_rejected_combined_command_is_remembered(self):
        for flavour, mode in (('strings', None), ('antminer-s19', 'single')):
            with self.subTest(flavour=flavour, mode=mode):
                logger = self.useFixture(fixtures.FakeLogger(
                    name=asic.__name__, level=logging.INFO))
                fake = self.useFixture(fake_miner.FakeMiner(flavour, mode))
                source = self._source(fake.entry)
                for _ in range(2):
                    (load,) = self._collect(source)
                    _assert_load(self, dataclasses.replace(
                        EXPECTED[flavour], miner=fake.entry), load)
                # One combined attempt and three commands, then three.
                self.assertEqual(7, fake.connections)
                self.assertEqual(1, fake.commands.count(cgminer_api.COMBINED))
                self.assertEqual(
                    [f'Miner {fake.entry} rejects combined commands; asking '
                     'for summary, devs and stats separately'],
                    logger.output.splitlines())

    def test_combined_command_tried_again_after_an_outage(self):
        (fake,) = self._miners(1, 'antminer-s19', 'single')
        source = self._source(fake.entry)
        self._collect(source)
        fake.stop()
        (load,) = self._collect(source)
        self.assertFalse(load.available)
        fake.mode = None  # its firmware upgraded meanwhile
        fake.start()
        del fake.commands[:]
        for _ in range(2):
            (load,) = self._collect(source)
            self.assertTrue(load.available)
        self.assertEqual([cgminer_api.COMBINED] * 2, fake.commands)

    def test_firmware_glitch_still_parses(self):
        (fake,) = self._miners(1, 'antminer-s9', 'glitch')
        (load,) = self._collect(self._source(fake.entry))
        _assert_load(self, dataclasses.replace(
            EXPECTED['antminer-s9'], miner=fake.entry), load)

    def test_failure_modes(self):
        for mode in ('slow', 'garbage', 'error', 'closed'):
            with self.subTest(mode=mode):
                fake = self.useFixture(fake_miner.FakeMiner(
                    mode=None if mode == 'closed' else mode))
                if mode == 'closed':
                    fake.stop()
                source = self._source(f'{fake.entry}={UUID}')
                (load,) = self._collect(source)
                # A slow miner answers after 10 s: the source gave up at
                # its timeout, or it would have read the answer.
                self.assertEqual(self._unavailable(fake, UUID), load)

    def test_miner_coming_back(self):
        (fake,) = self._miners(1, 'cgminer')
        source = self._source(fake.entry)
        fake.stop()
        (load,) = self._collect(source)
        self.assertFalse(load.available)
        fake.start()
        (load,) = self._collect(source)
        self.assertTrue(load.available)
        fake.mode = 'error'
        (load,) = self._collect(source)
        self.assertFalse(load.available)
        fake.mode = None
        (load,) = self._collect(source)
        _assert_load(self, dataclasses.replace(
            EXPECTED['cgminer'], miner=fake.entry), load)

    def test_transitions_logged_once(self):
        logger = self.useFixture(fixtures.FakeLogger(
            name=asic.__name__, level=logging.INFO))
        (fake,) = self._miners(1, 'cgminer', 'garbage')
        source = self._source(fake.entry)
        for mode in ('garbage', 'garbage', 'garbage', None, None, 'slow',
                     'slow', None):
            fake.mode = mode
            self._collect(source)
        lines = logger.output.splitlines()
        self.assertEqual(
            [f'Miner {fake.entry} unavailable: reply is not JSON',
             f'Miner {fake.entry} available again',
             f'Miner {fake.entry} unavailable: no reply within {TIMEOUT:g}s',
             f'Miner {fake.entry} available again'], lines)

    def test_healthy_and_broken_miners_in_one_cycle(self):
        healthy = self.useFixture(fake_miner.FakeMiner('antminer-s19'))
        slow = self.useFixture(fake_miner.FakeMiner(mode='slow'))
        closed = self.useFixture(fake_miner.FakeMiner())
        closed.stop()
        garbage = self.useFixture(fake_miner.FakeMiner(mode='garbage'))
        odd = self.useFixture(fake_miner.FakeMiner('strings'))
        fakes = [healthy, slow, closed, garbage, odd]
        source = self._source(*(f.entry for f in fakes))
        loads = self._collect(source)
        self.assertEqual([f.entry for f in fakes], [a.miner for a in loads])
        _assert_load(self, dataclasses.replace(
            EXPECTED['antminer-s19'], miner=healthy.entry), loads[0])
        for fake, load in zip(fakes[1:4], loads[1:4], strict=True):
            self.assertEqual(self._unavailable(fake), load)
        _assert_load(self, dataclasses.replace(
            EXPECTED['strings'], miner=odd.entry), loads[4])

    def test_twenty_miners_are_polled_together(self):
        in_flight = fake_miner.InFlight()
        fakes = self._miners(20, mode='slow', in_flight=in_flight)
        # A timeout long enough that a busy machine still opens all 20
        # connections before the first one gives up.
        source = self._source(*(f.entry for f in fakes), timeout=5.0)
        loads = self._collect(source)
        self.assertEqual([False] * 20, [a.available for a in loads])
        # One by one, a connection would close before the next opened.
        self.assertEqual(20, in_flight.peak)
        self.assertEqual([1] * 20, [f.connections for f in fakes])

    def test_twenty_healthy_miners_read_every_cycle(self):
        fakes = self._miners(20, 'antminer-s9')
        source = self._source(*(f.entry for f in fakes))
        self._collect(source)
        # What a cycle costs is benchmarks/collector_cost.py's to say;
        # here, ten cycles in a row read every miner every time.
        for _ in range(10):
            loads = self._collect(source)
            self.assertEqual([True] * 20, [a.available for a in loads])
