"""Bad messages for fuzz tests, each invalid by construction.

:func:`bad_payloads` mutates a valid signed sample so that it must be
rejected (a wrong type, a value out of range, a field missing or
unknown, more records than the default limits allow, a broken signature,
text no database stores) and re-signs most of them with the host's own
key, so that they reach the deep checks.
:func:`raw_bodies` are AMQP bodies that are no sample notification at
all.  Both are seeded: a failure can be replayed.
"""

import json
import math
import random

from cryptomine_scheduler.conf import controller as controller_conf
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.telemetry import signing
from cryptomine_scheduler.tests import samples

# Values no field of the given current type accepts (None stands for an
# optional number that the sample left out).
_NOT_A_NUMBER = (True, 'x', [], {}, [1.0], math.nan, math.inf, -math.inf,
                 10 ** 400, '\udc80')
INVALID = {
    float: _NOT_A_NUMBER,
    int: (True, 1.5, 'x', -1, 2 ** 63, [], math.nan),
    type(None): _NOT_A_NUMBER,
    str: (1.5, True, [], {}, '\udc80', 'a\x00b', 'é' * 300),
    list: ('x', 1.5, None, {}, [1, 2], ['not-a-uuid']),
    bool: (1, 0, 'true', None, 1.5),
}
FIELDS = (('host_load', 'cpu_percent'), ('host_load', 'mem_used_mb'),
          ('host_load', 'load_1'), ('sensors', 'cpu_temperature_c'),
          ('instances', 0, 'uuid'), ('instances', 0, 'cpu_percent'),
          ('gpus', 0, 'name'), ('gpus', 0, 'temperature_c'),
          ('gpus', 0, 'throttle_reasons'), ('gpus', 0, 'instances'),
          ('asics', 0, 'available'), ('asics', 0, 'hashrate_5s_ghs'),
          ('asics', 0, 'miner'))


def _valid_wire(rng: random.Random, host: str, seq: int,
                now: float) -> dict:
    guest = samples.instance(rng.randrange(1, 1000))
    return samples.make(
        host=host, seq=seq, timestamp=now, instances=[guest],
        gpus=[samples.gpu(0, instances=[guest.uuid])],
        asics=[samples.asic(1)]).to_wire()


def _set(wire: dict, path, value) -> None:
    target = wire
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _wrong_value(rng: random.Random, wire: dict) -> None:
    """A field gets a value of another type, or out of its range."""
    path = rng.choice(FIELDS)
    current = wire
    for key in path:
        current = current[key]
    choices = INVALID[type(current)]
    if isinstance(current, float) and 'percent' in path[-1]:
        choices += (-0.5, 100.5)
    _set(wire, path, rng.choice(choices))


def _missing_or_unknown(rng: random.Random, wire: dict) -> None:
    section = rng.choice(['host_load', 'sensors', None])
    target = wire if section is None else wire[section]
    if rng.random() < 0.5:
        del target[rng.choice(sorted(target))]
    else:
        target[rng.choice(['extra', 'x' * 40, 'cpu'])] = 1.0


_TOP_LEVEL = {
    'schema_version': (True, 1.0, 2, '1', None),
    'seq': (-1, 1.5, '1', None, 2 ** 63, True),
    'timestamp': (None, 'x', math.inf, math.nan, 2.0, 1e12),
    'instances': (None, {}, 'x', [{'bogus': 1}]),
    'gpus': (None, {}, 'x', [{'bogus': 1}]),
    'asics': (None, {}, 'x', [{'bogus': 1}]),
}


def _top_level(rng: random.Random, wire: dict) -> None:
    key = rng.choice(sorted(_TOP_LEVEL))
    wire[key] = rng.choice(_TOP_LEVEL[key])


_DEFAULTS = {opt.name: opt.default for opt in controller_conf.controller_opts}
# (section, its limit, a builder of its n-th record); miners and bytes
# are left to the unit tests: too heavy to send by the thousand.
_LIMITED = (('instances', 'max_instances_per_sample', samples.instance),
            ('gpus', 'max_gpus_per_sample', samples.gpu))


def _too_many(rng: random.Random, wire: dict) -> None:
    """A section lists one record more than the default limit allows."""
    section, option, record = rng.choice(_LIMITED)
    records = [record(n) for n in range(_DEFAULTS[option] + 1)]
    wire[section] = samples.make(**{section: records}).to_wire()[section]


MUTATIONS = (_wrong_value, _missing_or_unknown, _top_level, _too_many)


def bad_payloads(count: int, seed: int, now: float):
    """``count`` notification payloads, none of which may be stored."""
    rng = random.Random(seed)
    for n in range(count):
        host = f'fuzz-{n % 7}'
        wire = _valid_wire(rng, host, n, now)
        kind = rng.random()
        if kind < 0.75:
            rng.choice(MUTATIONS)(rng, wire)
            key = signing.derive_host_key(samples.SECRET, host)
            yield rng.choice([samples.any_text_envelope,
                              samples.older_envelope])(wire, key)
        elif kind < 0.85:  # valid content, signature wrong or junk
            yield {'signed': json.dumps(wire), 'signature': rng.choice(
                ['0' * 64, 'é' * 64, 'AB' * 32, '', 'zz', None, 5])}
        elif kind < 0.9:  # another host's key
            key = signing.derive_host_key(samples.SECRET, 'fuzz-other')
            yield signing.envelope(wire, key)
        else:
            yield rng.choice([None, [], 'text', 7, {'sample': 'x'},
                              {'signature': 'ab' * 32}, {'sample': {}},
                              {'sample': {'host': '\udc80'},
                               'signature': 'ab' * 32},
                              {'signed': '{"host":"\udc80"}',
                               'signature': 'ab' * 32},
                              {'signed': '{"host":', 'signature': 'ab' * 32}])


def raw_bodies(count: int, seed: int):
    """``count`` AMQP bodies that are no readable sample notification."""
    rng = random.Random(seed)
    for _ in range(count):
        kind = rng.random()
        if kind < 0.3:
            yield bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        elif kind < 0.5:
            yield json.dumps(rng.choice([[1, 2], 'text', 3, None]))
        elif kind < 0.7:
            yield json.dumps({'oslo.version': '2.0',
                              'oslo.message': '{not json'})
        else:
            yield json.dumps({'oslo.version': '2.0', 'oslo.message':
                              json.dumps({
                                  'event_type': rng.choice(
                                      [sample.EVENT_TYPE, 'other', None]),
                                  'priority': rng.choice(
                                      ['warn', 'error', 7, None, [],
                                       'debug']),
                                  'payload': {}})})
