import dataclasses
import json
import math

import hypothesis
from hypothesis import strategies
from oslotest import base

from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.telemetry import signing
from cryptomine_scheduler.telemetry import validation
from cryptomine_scheduler.tests import samples

R = validation.Reason
NOW = 100000.0
LIMITS = samples.LIMITS


def _resigned(mutate, original: sample.LoadSample | None = None):
    """A payload whose wire sample (``original``'s, else a full one) was
    changed, then validly signed."""
    wire = (original or samples.make(
        timestamp=NOW, instances=[samples.instance(1)],
        gpus=[samples.gpu(0, instances=[samples.instance(1).uuid])],
        asics=[samples.asic(1, instance_uuid=samples.instance(1).uuid)],
        sensors=sample.HostSensors(cpu_temperature_c=55.0, energy_j=1e6),
        collector=samples.COUNTERS, cpus=16)).to_wire()
    mutate(wire)
    return samples.any_text_envelope(wire, _key_of(wire))


def _key_of(wire) -> bytes:
    host = wire.get('host') if isinstance(wire.get('host'), str) else 'x'
    return signing.derive_host_key(samples.SECRET, host)


def _older_form(payload):
    """``payload`` as collectors released before the signed text sent
    it."""
    if 'signed' not in payload:
        return payload
    wire = json.loads(payload['signed'])
    return samples.older_envelope(wire, _key_of(wire))


def _set(path, value):
    def mutate(wire):
        target = wire
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _delete(path):
    def mutate(wire):
        target = wire
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


def _schema_3(*mutations):
    """Make the wire a schema 3 one (no power cap), then ``mutations``."""
    def mutate(wire):
        _set(['schema_version'], 3)(wire)
        _delete(['sensors', 'chassis_power_cap_w'])(wire)
        for mutation in mutations:
            mutation(wire)
    return mutate


def _schema_2(*mutations):
    """Make the wire a schema 2 one (no ``cpus``, no power cap), then
    ``mutations``."""
    return _schema_3(_set(['schema_version'], 2), _delete(['cpus']),
                     *mutations)


REJECTIONS = [
    # (name, payload, reason)
    ('not a dict', ['x'], R.MALFORMED),
    ('no sample', {'signature': 'ab' * 32}, R.MALFORMED),
    ('no signature', {'sample': {'host': 'h'}}, R.MALFORMED),
    ('short signature', {'sample': samples.make().to_wire(),
                         'signature': 'ab'}, R.MALFORMED),
    ('wrong signature', {'sample': samples.make().to_wire(),
                         'signature': 'ab' * 32}, R.BAD_SIGNATURE),
    # Poison that once stalled ingest (TypeError, UnicodeEncodeError).
    ('non-ASCII signature', {'sample': samples.make().to_wire(),
                             'signature': 'é' * 64}, R.MALFORMED),
    ('upper-case signature', {'sample': samples.make().to_wire(),
                              'signature': 'AB' * 32}, R.MALFORMED),
    ('signature not a string', {'sample': samples.make().to_wire(),
                                'signature': 7}, R.MALFORMED),
    ('lone surrogate in host', {
        'sample': samples.make(host='compute-\udc80').to_wire(),
        'signature': 'ab' * 32}, R.MALFORMED),
    ('NUL in host', {'sample': samples.make(host='compute\x00').to_wire(),
                     'signature': 'ab' * 32}, R.MALFORMED),
    ('lone surrogate in a gpu name', _resigned(
        _set(['gpus', 0, 'name'], 'RTX \ud800')), R.MALFORMED),
    ('NUL in a gpu name', _resigned(
        _set(['gpus', 0, 'name'], 'RTX\x00')), R.MALFORMED),
    ('version true', _resigned(_set(['schema_version'], True)),
     R.UNSUPPORTED_VERSION),
    ('version 1.0', _resigned(_set(['schema_version'], 1.0)),
     R.UNSUPPORTED_VERSION),
    ('empty host', _resigned(_set(['host'], '')), R.MALFORMED),
    ('host too long', _resigned(_set(['host'], 'h' * 256)), R.MALFORMED),
    ('version 5', _resigned(_set(['schema_version'], 5)),
     R.UNSUPPORTED_VERSION),
    ('version 0', _resigned(_set(['schema_version'], 0)),
     R.UNSUPPORTED_VERSION),
    ('version 1 with collector counters',
     _resigned(_set(['schema_version'], 1)), R.MALFORMED),
    ('version 2 without collector counters',
     _resigned(lambda w: (_set(['schema_version'], 2)(w),
                          _delete(['cpus'])(w), _delete(['collector'])(w))),
     R.MALFORMED),
    ('version 2 with cpus', _resigned(_set(['schema_version'], 2)),
     R.MALFORMED),
    ('version 3 without cpus', _resigned(_schema_3(_delete(['cpus']))),
     R.MALFORMED),
    # The fields schema 3 added to records: required in 3, absent before.
    ('version 3 without gpu source', _resigned(_schema_3(_delete(
        ['gpus', 0, 'source']))), R.MALFORMED),
    ('version 3 without inlet temperature', _resigned(_schema_3(_delete(
        ['sensors', 'inlet_temperature_c']))), R.MALFORMED),
    ('version 3 without chassis power', _resigned(_schema_3(_delete(
        ['sensors', 'chassis_power_w']))), R.MALFORMED),
    # The field schema 4 added: required in 4, absent before.
    ('version 4 without power cap', _resigned(_delete(
        ['sensors', 'chassis_power_cap_w'])), R.MALFORMED),
    ('version 3 with power cap', _resigned(_set(['schema_version'], 3)),
     R.MALFORMED),
    ('power cap negative', _resigned(_set(
        ['sensors', 'chassis_power_cap_w'], -1.0)), R.OUT_OF_RANGE),
    ('version 2 with gpu source', _resigned(_schema_2(
        _delete(['sensors', 'inlet_temperature_c']),
        _delete(['sensors', 'chassis_power_w']))), R.MALFORMED),
    ('version 2 with chassis readings', _resigned(_schema_2(
        _delete(['gpus', 0, 'source']))), R.MALFORMED),
    ('gpu source unknown', _resigned(_set(['gpus', 0, 'source'], 'ipmi')),
     R.MALFORMED),
    ('gpu source a list', _resigned(_set(['gpus', 0, 'source'], ['nvml'])),
     R.MALFORMED),
    ('gpu source null', _resigned(_set(['gpus', 0, 'source'], None)),
     R.MALFORMED),
    ('inlet over 150 C', _resigned(_set(['sensors', 'inlet_temperature_c'],
                                        150.5)), R.OUT_OF_RANGE),
    ('chassis power negative', _resigned(_set(
        ['sensors', 'chassis_power_w'], -1.0)), R.OUT_OF_RANGE),
    ('chassis power a string', _resigned(_set(
        ['sensors', 'chassis_power_w'], '900')), R.MALFORMED),
    ('no cpus', _resigned(_set(['cpus'], 0)), R.OUT_OF_RANGE),
    ('negative cpus', _resigned(_set(['cpus'], -4)), R.OUT_OF_RANGE),
    ('cpus a float', _resigned(_set(['cpus'], 16.0)), R.MALFORMED),
    ('cpus a boolean', _resigned(_set(['cpus'], True)), R.MALFORMED),
    ('collector not an object', _resigned(_set(['collector'], [])),
     R.MALFORMED),
    ('collector counter missing', _resigned(
        _delete(['collector', 'dropped'])), R.MALFORMED),
    ('collector counter unknown', _resigned(
        _set(['collector', 'published'], 1)), R.MALFORMED),
    ('collector counter negative', _resigned(
        _set(['collector', 'buffered'], -1)), R.OUT_OF_RANGE),
    ('collector counter float', _resigned(
        _set(['collector', 'dropped'], 1.0)), R.MALFORMED),
    ('collector counter bool', _resigned(
        _set(['collector', 'source_errors'], True)), R.MALFORMED),
    ('collector counter null', _resigned(
        _set(['collector', 'publish_failures'], None)), R.MALFORMED),
    ('collector counter 2**63', _resigned(
        _set(['collector', 'dropped'], 2 ** 63)), R.OUT_OF_RANGE),
    ('missing seq', _resigned(_delete(['seq'])), R.MALFORMED),
    ('extra field', _resigned(_set(['extra'], 1)), R.MALFORMED),
    ('negative seq', _resigned(_set(['seq'], -1)), R.OUT_OF_RANGE),
    ('float seq', _resigned(_set(['seq'], 1.5)), R.MALFORMED),
    ('bool seq', _resigned(_set(['seq'], True)), R.MALFORMED),
    ('string cpu', _resigned(_set(['host_load', 'cpu_percent'], '5')),
     R.MALFORMED),
    ('missing cpu', _resigned(_delete(['host_load', 'cpu_percent'])),
     R.MALFORMED),
    ('unknown load field', _resigned(_set(['host_load', 'fan'], 1.0)),
     R.MALFORMED),
    ('nan cpu', _resigned(_set(['host_load', 'cpu_percent'], math.nan)),
     R.NOT_FINITE),
    ('inf memory', _resigned(_set(['host_load', 'mem_used_mb'], math.inf)),
     R.NOT_FINITE),
    ('cpu over 100', _resigned(_set(['host_load', 'cpu_percent'],
                                    100.0001)), R.OUT_OF_RANGE),
    ('negative load', _resigned(_set(['host_load', 'load_1'], -0.01)),
     R.OUT_OF_RANGE),
    ('instances not a list', _resigned(_set(['instances'], {})),
     R.MALFORMED),
    ('bad instance uuid', _resigned(_set(['instances', 0, 'uuid'], 'x')),
     R.MALFORMED),
    ('instance cpu over 100', _resigned(
        _set(['instances', 0, 'cpu_percent'], 101.0)), R.OUT_OF_RANGE),
    # Integers beyond a float: JSON carries them, a float column cannot.
    ('huge integer, bounded field', _resigned(
        _set(['host_load', 'cpu_percent'], 10 ** 400)), R.OUT_OF_RANGE),
    ('huge integer, unbounded field', _resigned(
        _set(['host_load', 'mem_used_mb'], 10 ** 400)), R.OUT_OF_RANGE),
    ('huge integer timestamp', _resigned(
        _set(['timestamp'], 10 ** 400)), R.OUT_OF_RANGE),
    ('instance rss nan', _resigned(_set(['instances', 0, 'rss_mb'],
                                        math.nan)), R.NOT_FINITE),
    ('one instance too many', _resigned(_set(
        ['instances'], [samples.instance(n).__dict__
                        for n in range(LIMITS.instances + 1)])),
     R.TOO_LARGE),
    ('instance listed twice', _resigned(_set(
        ['instances'], [samples.instance(1).__dict__] * 2)), R.MALFORMED),
    ('gpu util over 100', _resigned(
        _set(['gpus', 0, 'utilization_percent'], 100.5)), R.OUT_OF_RANGE),
    ('gpu temperature nan', _resigned(
        _set(['gpus', 0, 'temperature_c'], math.nan)), R.NOT_FINITE),
    ('gpu temperature 151', _resigned(
        _set(['gpus', 0, 'temperature_c'], 151.0)), R.OUT_OF_RANGE),
    ('gpu power negative', _resigned(
        _set(['gpus', 0, 'power_w'], -1.0)), R.OUT_OF_RANGE),
    ('gpu throttle not int', _resigned(
        _set(['gpus', 0, 'throttle_reasons'], 4.0)), R.MALFORMED),
    ('gpu instance not uuid', _resigned(
        _set(['gpus', 0, 'instances'], ['vm-1'])), R.MALFORMED),
    ('gpu index twice', _resigned(
        lambda w: w['gpus'].append(dict(w['gpus'][0]))), R.MALFORMED),
    ('gpu name too long', _resigned(
        _set(['gpus', 0, 'name'], 'x' * 256)), R.MALFORMED),
    ('one gpu too many', _resigned(_set(['gpus'], [
        samples.gpu(i).__dict__ | {'instances': []}
        for i in range(LIMITS.gpus + 1)])), R.TOO_LARGE),
    ('65 instances on a gpu', _resigned(_set(
        ['gpus', 0, 'instances'], [samples.instance(n).uuid
                                   for n in range(65)])), R.MALFORMED),
    ('asic available not bool', _resigned(
        _set(['asics', 0, 'available'], 1)), R.MALFORMED),
    ('asic errors negative', _resigned(
        _set(['asics', 0, 'hardware_errors'], -1)), R.OUT_OF_RANGE),
    ('asic hashrate inf', _resigned(
        _set(['asics', 0, 'hashrate_5s_ghs'], math.inf)), R.NOT_FINITE),
    ('asic instance not uuid', _resigned(
        _set(['asics', 0, 'instance'], 'tenant')), R.MALFORMED),
    ('one miner too many', _resigned(_set(['asics'], [
        samples.asic(n).__dict__ for n in range(LIMITS.asics + 1)])),
     R.TOO_LARGE),
    ('asic unknown field', _resigned(
        _set(['asics', 0, 'voltage'], 12.0)), R.MALFORMED),
    ('sensor temperature -51', _resigned(
        _set(['sensors', 'cpu_temperature_c'], -51.0)), R.OUT_OF_RANGE),
    ('sensors missing', _resigned(_delete(['sensors'])), R.MALFORMED),
    ('future beyond skew', _resigned(_set(['timestamp'], NOW + 60.001)),
     R.CLOCK_SKEW),
    ('older than max age', _resigned(_set(['timestamp'], NOW - 86400.001)),
     R.TOO_OLD),
]
# The signed text itself; the older form had none.
TEXT_REJECTIONS = [(name, {'signed': text, 'signature': 'ab' * 32}, reason)
                   for name, text, reason in [
    ('signed not text', 7, R.MALFORMED),
    ('signed not JSON', '{"host": "h"', R.MALFORMED),
    ('signed a list', '["host"]', R.MALFORMED),
    ('signed with a lone surrogate', '{"host": "h\udc80"}', R.MALFORMED),
    ('signed without host', '{"seq": 1}', R.MALFORMED),
]]
# Values strict JSON cannot hold: the signed text carrying them is not
# JSON, while the older form's object could carry them past the bus.
NOT_JSON = frozenset({
    'lone surrogate in a gpu name', 'nan cpu', 'inf memory',
    'huge integer, bounded field', 'huge integer, unbounded field',
    'huge integer timestamp', 'instance rss nan', 'gpu temperature nan',
    'asic hashrate inf'})

ACCEPTED = [
    ('cpu exactly 100', _resigned(_set(['host_load', 'cpu_percent'],
                                       100.0))),
    ('cpu exactly 0', _resigned(_set(['host_load', 'cpu_percent'], 0))),
    ('integer values', _resigned(_set(['host_load', 'mem_used_mb'], 12))),
    ('future within skew', _resigned(_set(['timestamp'], NOW + 60.0))),
    ('exactly max age', _resigned(_set(['timestamp'], NOW - 86400.0))),
    ('no instances', _resigned(_set(['instances'], []))),
    ('collector counters 0', _resigned(_set(['collector'], dict.fromkeys(
        vars(samples.COUNTERS), 0)))),
    ('collector counter 2**63 - 1', _resigned(
        _set(['collector', 'dropped'], 2 ** 63 - 1))),
    ('gpu fields absent', _resigned(_set(['gpus', 0], samples.gpu(
        0).__dict__ | {k: None for k in (
            'utilization_percent', 'power_w', 'temperature_c',
            'fan_percent', 'throttle_reasons')} | {'instances': []}))),
    ('gpu at 150 C', _resigned(_set(['gpus', 0, 'temperature_c'], 150.0))),
    ('unavailable miner', _resigned(_set(['asics', 0], samples.asic(
        2, available=False).__dict__))),
    ('no sensors', _resigned(_set(['sensors'], vars(sample.HostSensors())))),
    ('power cap 2800 W', _resigned(_set(['sensors', 'chassis_power_cap_w'],
                                        2800.0))),
    ('version 2 without the fields of 3', _resigned(_schema_2(
        _delete(['gpus', 0, 'source']),
        _delete(['sensors', 'inlet_temperature_c']),
        _delete(['sensors', 'chassis_power_w'])))),
    ('gpu read over redfish', _resigned(_set(['gpus', 0], samples.gpu(
        0).__dict__ | dict.fromkeys(
            ('utilization_percent', 'memory_utilization_percent',
             'memory_used_mb', 'memory_total_mb', 'fan_percent',
             'sm_clock_mhz', 'memory_clock_mhz', 'throttle_reasons'))
        | {'instances': [], 'source': 'redfish'}))),
    ('inlet at -50 C', _resigned(_set(['sensors', 'inlet_temperature_c'],
                                      -50.0))),
    ('chassis power 0', _resigned(_set(['sensors', 'chassis_power_w'],
                                       0))),
    ('as many instances as allowed', _resigned(_set(
        ['instances'], [samples.instance(n).__dict__
                        for n in range(LIMITS.instances)]))),
    ('as many gpus as allowed', _resigned(_set(['gpus'], [
        samples.gpu(i).__dict__ | {'instances': []}
        for i in range(LIMITS.gpus)]))),
    ('as many miners as allowed', _resigned(_set(['asics'], [
        samples.asic(n).__dict__ for n in range(LIMITS.asics)]))),
]


class TestValidate(base.BaseTestCase):

    def test_rejections(self):
        for name, payload, reason in REJECTIONS + TEXT_REJECTIONS:
            with self.subTest(name):
                err = self.assertRaises(validation.Rejected,
                                        validation.validate, payload,
                                        samples.POLICY, NOW)
                expected = R.MALFORMED if name in NOT_JSON else reason
                self.assertEqual(expected, err.reason, err.detail)

    def test_rejections_of_the_older_form(self):
        for name, payload, reason in REJECTIONS:
            with self.subTest(name):
                err = self.assertRaises(validation.Rejected,
                                        validation.validate,
                                        _older_form(payload),
                                        samples.POLICY, NOW)
                self.assertEqual(reason, err.reason, err.detail)

    def test_every_reason_of_validate_is_covered(self):
        covered = {reason for _, _, reason in REJECTIONS}
        counted_by_ingest = {R.DUPLICATE, R.TOO_FREQUENT,
                             R.NOT_AN_ENVELOPE, R.WRONG_PRIORITY,
                             R.UNSTORABLE, R.DEAD_LETTERED}
        self.assertEqual(set(R) - counted_by_ingest, covered)

    def test_accepted_boundaries(self):
        for name, payload in ACCEPTED:
            for form in (payload, _older_form(payload)):
                with self.subTest(name, form=sorted(form)):
                    result = validation.validate(form, samples.POLICY, NOW)
                    self.assertEqual(result.to_wire(), signing.opened(form))

    def test_sample_bytes_limit(self):
        payload = _resigned(lambda wire: None)
        older = _older_form(payload)
        for form, size in (
                (payload, len(payload['signed'].encode())),
                (older, len(signing.canonical_bytes(older['sample'])))):
            self._check_limit(form, size)

    def _check_limit(self, payload: dict, size: int) -> None:
        for limit, accepted in ((size + 1, True), (size, True),
                                (size - 1, False)):
            with self.subTest(limit=limit, form=sorted(payload)):
                policy = dataclasses.replace(
                    samples.POLICY, limits=dataclasses.replace(
                        LIMITS, sample_bytes=limit))
                if accepted:
                    validation.validate(payload, policy, NOW)
                else:
                    err = self.assertRaises(validation.Rejected,
                                            validation.validate, payload,
                                            policy, NOW)
                    self.assertEqual(R.TOO_LARGE, err.reason)
                    self.assertIn(f"is {size} bytes, more than {limit}",
                                  err.detail)

    def test_round_trip(self):
        original = samples.make(
            timestamp=NOW,
            instances=[samples.instance(1), samples.instance(2, cpu=50.0)],
            gpus=[samples.gpu(0), samples.gpu(1, throttle=0x24,
                                              instances=['a' * 32])],
            asics=[samples.asic(1), samples.asic(2, available=False)],
            sensors=sample.HostSensors(cpu_temperature_c=-3.5),
            collector=samples.COUNTERS, cpus=64)
        result = validation.validate(samples.payload(original),
                                     samples.POLICY, NOW)
        self.assertEqual(original, result)
        self.assertEqual(4, result.to_wire()['schema_version'])
        self.assertEqual(64, result.cpus)

    def test_schema_3_accepted_without_power_cap(self):
        # From a collector not yet upgraded, during a rolling upgrade;
        # such a sample is stored and served as one without a cap.
        original = samples.make(
            timestamp=NOW, collector=samples.COUNTERS, cpus=64,
            sensors=sample.HostSensors(chassis_power_w=2900.0))
        older = _resigned(_schema_3(), original)
        self.assertEqual(3, signing.opened(older)['schema_version'])
        self.assertEqual(original, validation.validate(
            older, samples.POLICY, NOW))

    def test_schema_2_accepted_without_cpus(self):
        # From a collector not yet upgraded, during a rolling upgrade.
        original = samples.make(timestamp=NOW, collector=samples.COUNTERS)
        wire = original.to_wire()
        self.assertEqual(2, wire['schema_version'])
        self.assertNotIn('cpus', wire)
        result = validation.validate(samples.payload(original),
                                     samples.POLICY, NOW)
        self.assertEqual(original, result)
        self.assertIsNone(result.cpus)

    def test_schema_2_records_lack_the_fields_of_schema_3(self):
        original = samples.make(timestamp=NOW, collector=samples.COUNTERS,
                                gpus=[samples.gpu(0)])
        wire = original.to_wire()
        self.assertNotIn('source', wire['gpus'][0])
        self.assertEqual({'cpu_temperature_c', 'energy_j'},
                         set(wire['sensors']))
        result = validation.validate(samples.payload(original),
                                     samples.POLICY, NOW)
        # Every GPU of an older collector was read through NVML.
        self.assertEqual('nvml', result.gpus[0].source)

    def test_round_trip_of_bmc_readings(self):
        passthrough = dataclasses.replace(
            samples.gpu(100, instances=[samples.instance(1).uuid]),
            utilization_percent=None, source='redfish')
        original = samples.make(
            timestamp=NOW, gpus=[samples.gpu(0), passthrough],
            sensors=sample.HostSensors(inlet_temperature_c=24.5,
                                       chassis_power_w=3150.0,
                                       chassis_power_cap_w=3300.0),
            collector=samples.COUNTERS, cpus=64)
        wire = original.to_wire()
        self.assertEqual(['nvml', 'redfish'],
                         [g['source'] for g in wire['gpus']])
        self.assertEqual(original, validation.validate(
            samples.payload(original), samples.POLICY, NOW))

    def test_schema_1_accepted_without_counters(self):
        # From a collector not yet upgraded, during a rolling upgrade.
        original = samples.make(timestamp=NOW, instances=[
            samples.instance(1)])
        wire = original.to_wire()
        self.assertEqual(1, wire['schema_version'])
        self.assertNotIn('collector', wire)
        result = validation.validate(samples.payload(original),
                                     samples.POLICY, NOW)
        self.assertEqual(original, result)
        self.assertIsNone(result.collector)

    def test_tampered_value_breaks_signature(self):
        payload = samples.payload(samples.make(timestamp=NOW))
        text = payload['signed'].replace('"cpu_percent":10.0',
                                         '"cpu_percent":1.0')
        self.assertNotEqual(payload['signed'], text)
        older = _older_form(payload)
        older['sample']['host_load']['cpu_percent'] = 1.0
        for forged in (dict(payload, signed=text), older):
            err = self.assertRaises(validation.Rejected, validation.validate,
                                    forged, samples.POLICY, NOW)
            self.assertEqual(R.BAD_SIGNATURE, err.reason)

    def test_wrong_master_secret(self):
        payload = samples.payload(samples.make(timestamp=NOW),
                                  secret='another-secret-0123456789')
        err = self.assertRaises(validation.Rejected, validation.validate,
                                payload, samples.POLICY, NOW)
        self.assertEqual(R.BAD_SIGNATURE, err.reason)

    def test_host_key_cannot_speak_for_another_host(self):
        claim = samples.make(host='compute-2', timestamp=NOW)
        payload = samples.payload(claim, key_host='compute-1')
        err = self.assertRaises(validation.Rejected, validation.validate,
                                payload, samples.POLICY, NOW)
        self.assertEqual(R.BAD_SIGNATURE, err.reason)


class TestSigning(base.BaseTestCase):

    def test_keys_differ_per_host_and_secret(self):
        keys = {signing.derive_host_key(s, h)
                for s in ('secret-a', 'secret-b') for h in ('h1', 'h2')}
        self.assertEqual(4, len(keys))

    def test_canonical_form_ignores_key_order(self):
        self.assertEqual(signing.canonical_bytes({'a': 1, 'b': [1.5]}),
                         signing.canonical_bytes({'b': [1.5], 'a': 1}))


JSON = strategies.recursive(
    strategies.none() | strategies.booleans() | strategies.integers()
    | strategies.floats() | strategies.text(max_size=20),
    lambda inner: strategies.lists(inner, max_size=3)
    | strategies.dictionaries(strategies.text(max_size=8), inner,
                              max_size=3),
    max_leaves=8)
PATHS = [['host'], ['seq'], ['timestamp'], ['schema_version'],
         ['host_load'], ['host_load', 'cpu_percent'], ['sensors'],
         ['instances'], ['instances', 0], ['instances', 0, 'uuid'],
         ['gpus', 0, 'name'], ['gpus', 0, 'instances'],
         ['asics', 0, 'available'], ['asics', 0, 'miner'],
         ['collector'], ['collector', 'buffered']]


class TestAnyInput(base.BaseTestCase):
    """Property: whatever a payload holds, validate() returns a sample or
    raises Rejected, nothing else (anything else once stalled ingest)."""

    @hypothesis.settings(max_examples=1500, deadline=None)
    @hypothesis.given(path=strategies.sampled_from(PATHS), value=JSON,
                      resign=strategies.booleans(),
                      older=strategies.booleans())
    def test_any_value_anywhere(self, path, value, resign, older):
        payload = _resigned(_set(path, value))
        if older:
            payload = _older_form(payload)
        if not resign:
            payload['signature'] = 'ab' * 32
        try:
            validation.validate(payload, samples.POLICY, NOW)
        except validation.Rejected:
            pass

    @hypothesis.settings(max_examples=500, deadline=None)
    @hypothesis.given(payload=JSON)
    def test_any_payload(self, payload):
        self.assertRaises(validation.Rejected, validation.validate,
                          payload, samples.POLICY, NOW)
