"""Checks every incoming sample before it can touch the history.

:func:`validate` either returns a :class:`~.sample.LoadSample` or raises
:class:`Rejected` carrying a :class:`Reason`, which the controller
counts.  Nothing here trusts the input: any shape, type or
value an attacker or a broken collector could send ends as a rejection.

Records are checked against their dataclass in :mod:`sample`: every field
of the sample's schema version must be present (and no other: a field
added by a later version carries ``since`` in its metadata), of the
annotated type, finite, and in the range its name implies (percentages
0-100, temperatures -50-150 °C, everything else non-negative;
``uuid``/``instance`` fields hold UUIDs).
A sample larger than the operator's :class:`Limits` is ``too_large``.
"""

import dataclasses
import enum
import functools
import math
import re
import typing
import uuid

import orjson

from cryptomine_scheduler.telemetry import sample as sample_mod
from cryptomine_scheduler.telemetry import signing

MAX_STRING = 255
MAX_GPU_GUESTS = 64  # instances listed on one GPU
TEMPERATURE_RANGE = (-50.0, 150.0)
UUID_FIELDS = frozenset({'uuid', 'instance', 'instances'})


class Reason(enum.Enum):
    """Why a sample was rejected (also the label of its counter)."""

    MALFORMED = 'malformed'
    BAD_SIGNATURE = 'bad_signature'
    UNSUPPORTED_VERSION = 'unsupported_version'
    NOT_FINITE = 'not_finite'
    OUT_OF_RANGE = 'out_of_range'
    CLOCK_SKEW = 'clock_skew'
    TOO_OLD = 'too_old'
    DUPLICATE = 'duplicate'
    TOO_LARGE = 'too_large'  # over a limit of :class:`Limits`
    # Counted by ingest, not by validate():
    TOO_FREQUENT = 'too_frequent'  # over its host's rate limit
    NOT_AN_ENVELOPE = 'not_an_envelope'  # the bus could not decode it
    WRONG_PRIORITY = 'wrong_priority'  # not an ``info`` notification
    UNSTORABLE = 'unstorable'  # valid, but the database refused it
    DEAD_LETTERED = 'dead_lettered'  # the store failed too often


class Rejected(Exception):
    """A sample failed validation."""

    def __init__(self, reason: Reason, detail: str):
        super().__init__(f'{reason.value}: {detail}')
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class Limits:
    """The most one sample may carry; ``sample_bytes`` counts the bytes
    its signature covers."""

    sample_bytes: int
    instances: int
    gpus: int
    asics: int


@dataclasses.dataclass(frozen=True)
class Policy:
    """What the validator accepts besides the schema itself."""

    master_secret: str
    max_clock_skew: float
    max_age: float
    limits: Limits


def _require(condition: bool, reason: Reason, detail: str) -> None:
    if not condition:
        raise Rejected(reason, detail)


def _bounds(name: str) -> tuple[float, float]:
    """The range a numeric field's name implies."""
    if name in sample_mod.PERCENT_FIELDS:
        return 0.0, 100.0
    if name in sample_mod.TEMPERATURE_FIELDS:
        return TEMPERATURE_RANGE
    return 0.0, math.inf


# The checks below run for every field of every sample: they test the
# common (valid) case first and build their messages only on failure.

def _check_number(where: str, name: str, value) -> None:
    if value.__class__ is int:
        try:
            value = float(value)
        except OverflowError:
            raise Rejected(Reason.OUT_OF_RANGE,
                           f'{where}.{name} is too large') from None
    elif value.__class__ is not float:
        raise Rejected(Reason.MALFORMED, f'{where}.{name} is not a number')
    low, high = _bounds(name)
    if low <= value <= high and value != math.inf:
        return
    if not math.isfinite(value):
        raise Rejected(Reason.NOT_FINITE, f'{where}.{name} is {value}')
    raise Rejected(Reason.OUT_OF_RANGE,
                   f'{where}.{name}={value} outside [{low}, {high}]')


def _check_int(where: str, name: str, value) -> None:
    if value.__class__ is not int:
        raise Rejected(Reason.MALFORMED, f'{where}.{name} is not an integer')
    if not 0 <= value < 2 ** 63:
        raise Rejected(Reason.OUT_OF_RANGE,
                       f'{where}.{name}={value} is negative or too large')


def is_text(value, max_length: int = MAX_STRING) -> bool:
    """A str of at most ``max_length`` characters that any database
    stores: valid UTF-8 (no lone surrogate), no NUL."""
    if value.__class__ is not str or len(value) > max_length:
        return False
    try:
        value.encode('utf-8')
    except UnicodeEncodeError:
        return False
    return '\x00' not in value


def _check_string(where: str, name: str, value) -> None:
    if not is_text(value):
        raise Rejected(Reason.MALFORMED,
                       f'{where}.{name} is not a short UTF-8 string')
    if name in UUID_FIELDS and _CANONICAL_UUID.fullmatch(value) is None:
        try:
            uuid.UUID(value)
        except ValueError:
            raise Rejected(Reason.MALFORMED,
                           f'{where}.{name} is not a UUID') from None


def _check_bool(where: str, name: str, value) -> None:
    if value.__class__ is not bool:
        raise Rejected(Reason.MALFORMED, f'{where}.{name} is not a boolean')


def _check_uuid_list(where: str, name: str, value) -> None:
    if value.__class__ is not list or len(value) > MAX_GPU_GUESTS:
        raise Rejected(Reason.MALFORMED, f'{where}.{name} is not a short list')
    for item in value:
        _check_string(where, name, item)


_GPU_SOURCES = frozenset(typing.get_args(sample_mod.GpuReadingSource))


def _check_gpu_source(where: str, name: str, value) -> None:
    if value.__class__ is not str or value not in _GPU_SOURCES:
        raise Rejected(Reason.MALFORMED, f'{where}.{name} is not one of '
                       f'{sorted(_GPU_SOURCES)}')


def _optional(check):
    def check_optional(where, name, value):
        if value is not None:
            check(where, name, value)
    return check_optional


_TYPE_CHECKS = {
    float: _check_number,
    float | None: _optional(_check_number),
    int: _check_int,
    int | None: _optional(_check_int),
    str: _check_string,
    str | None: _optional(_check_string),
    bool: _check_bool,
    tuple[str, ...]: _check_uuid_list,
    sample_mod.GpuReadingSource: _check_gpu_source,
}


_NUMBERS = frozenset({float, float | None})
# Bounds no value is within: the fast path below takes only numbers.
_NOT_A_NUMBER = (math.nan, math.nan)


@functools.cache
def _fields(cls, version: int) -> tuple[frozenset, tuple]:
    """The field names of dataclass ``cls`` in schema ``version`` and
    each field's check with the bounds of a float (NaN for the others)."""
    newer = sample_mod.newer_fields(cls, version)
    fields = [f for f in dataclasses.fields(cls) if f.name not in newer]
    return (frozenset(f.name for f in fields),
            tuple((f.name, _TYPE_CHECKS[f.type],
                   *(_bounds(f.name) if f.type in _NUMBERS
                     else _NOT_A_NUMBER))
                  for f in fields))


def _check_record(where: str, record, cls, version: int) -> None:
    """Check ``record`` against the fields of dataclass ``cls`` in schema
    ``version``."""
    if record.__class__ is not dict:
        raise Rejected(Reason.MALFORMED, f'{where} is not an object')
    names, checks = _fields(cls, version)
    if record.keys() != names:
        raise Rejected(Reason.MALFORMED,
                       f'{where} fields {sorted(set(record) ^ names)} '
                       'missing or unknown')
    for name, check, low, high in checks:
        value = record[name]
        # A float in range, the usual reading, needs no call.
        if not (value.__class__ is float and low <= value <= high
                and value != math.inf):
            check(where, name, value)


def _check_section(wire: dict, section: str, cls, key: str,
                   limit: int, version: int) -> None:
    """Check a list of at most ``limit`` records whose ``key`` field must
    be unique."""
    records = wire[section]
    _require(records.__class__ is list, Reason.MALFORMED,
             f'{section} is not a list')
    if len(records) > limit:
        raise Rejected(Reason.TOO_LARGE, f'host {wire["host"]!r} listed '
                       f'{len(records)} {section}, more than {limit}')
    for index, record in enumerate(records):
        _check_record(f'{section}[{index}]', record, cls, version)
    _require(len({r[key] for r in records}) == len(records),
             Reason.MALFORMED, f'{section} lists a {key} twice')


def _opened(payload, max_bytes: int) -> tuple[dict, bytes, str]:
    """The wire sample of an envelope, the bytes signed and the signature.

    The signed text of the current form is parsed only once it is known
    to be no larger than ``max_bytes``; the older form carries the sample
    as an object, signed in its canonical bytes.
    """
    _require(payload.__class__ is dict, Reason.MALFORMED,
             'payload is not an object')
    signature = payload.get('signature')
    _require(signature.__class__ is str
             and _SIGNATURE.fullmatch(signature) is not None,
             Reason.MALFORMED, 'signature is not 64 lowercase hex digits')
    text = payload.get('signed')
    if text is None:
        wire = payload.get('sample')
        _require(wire.__class__ is dict, Reason.MALFORMED,
                 'no sample object and no signed text')
        signed = signing.canonical_bytes(wire)
        _check_size(signed, wire.get('host'), max_bytes)
    else:
        _require(text.__class__ is str, Reason.MALFORMED,
                 'signed is not text')
        try:
            signed = text.encode()
        except UnicodeEncodeError:
            raise Rejected(Reason.MALFORMED,
                           'signed is not UTF-8 text') from None
        _check_size(signed, None, max_bytes)
        try:
            wire = orjson.loads(signed)
        except orjson.JSONDecodeError:
            raise Rejected(Reason.MALFORMED, 'signed is not JSON') from None
        _require(wire.__class__ is dict, Reason.MALFORMED,
                 'signed is not a JSON object')
    host = wire.get('host')
    _require(is_text(host) and host != '', Reason.MALFORMED,
             'host is not a non-empty short UTF-8 string')
    return wire, signed, signature


def _check_size(signed: bytes, host, max_bytes: int) -> None:
    """Reject ``signed`` if larger than ``max_bytes``; ``host`` is None
    while the sample is still unread."""
    if len(signed) > max_bytes:
        of_host = '' if host is None else f' of host {host!r}'
        raise Rejected(Reason.TOO_LARGE, f'sample{of_host} is '
                       f'{len(signed)} bytes, more than {max_bytes}')


# Deriving a key is an HMAC: remember the keys of hosts whose samples
# verified (only those, so that forged host names cannot fill it).
_known_keys: dict[tuple[str, str], bytes] = {}
_SIGNATURE = re.compile('[0-9a-f]{64}')
# What collectors send; uuid.UUID judges any other spelling.
_CANONICAL_UUID = re.compile(
    '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')
MAX_KNOWN_KEYS = 100_000

_V1_FIELDS = frozenset({'schema_version', 'host', 'seq', 'timestamp',
                        'host_load', 'instances', 'sensors', 'gpus', 'asics'})
# The fields of each accepted schema version: 1 and 2, from collectors
# not yet upgraded, lack the collector's own counters and the host's CPUs
# (4 adds a field to the sensors only).
_TOP_FIELDS = {1: _V1_FIELDS, 2: _V1_FIELDS | {'collector'},
               3: _V1_FIELDS | {'collector', 'cpus'},
               4: _V1_FIELDS | {'collector', 'cpus'}}


def validate(payload, policy: Policy, now: float) -> sample_mod.LoadSample:
    """Return the sample in ``payload`` or raise :class:`Rejected`."""
    limits = policy.limits
    wire, signed, signature = _opened(payload, limits.sample_bytes)
    known = (policy.master_secret, wire['host'])
    key = _known_keys.get(known)
    if key is None:
        key = signing.derive_host_key(*known)
    if not signing.verify(signed, signature, key):
        raise Rejected(Reason.BAD_SIGNATURE,
                       f'signature does not match host {wire["host"]!r}')
    if len(_known_keys) < MAX_KNOWN_KEYS:
        _known_keys[known] = key
    version = wire.get('schema_version')
    # 1.0 and True equal 1 in Python; the schema says an integer.
    if version.__class__ is not int or version not in _TOP_FIELDS:
        raise Rejected(Reason.UNSUPPORTED_VERSION,
                       f'schema_version {version!r}, expected one of '
                       f'{sorted(_TOP_FIELDS)}')
    fields = _TOP_FIELDS[version]
    if wire.keys() != fields:
        raise Rejected(Reason.MALFORMED, f'fields '
                       f'{sorted(set(wire) ^ fields)} missing or unknown')
    if version > 1:
        _check_record('collector', wire['collector'],
                      sample_mod.CollectorCounters, version)
    if version > 2:
        _check_int('sample', 'cpus', wire['cpus'])
        _require(wire['cpus'] > 0, Reason.OUT_OF_RANGE, 'sample.cpus is 0')
    _check_int('sample', 'seq', wire['seq'])
    _check_number('sample', 'timestamp', wire['timestamp'])
    _check_record('host_load', wire['host_load'], sample_mod.HostLoad,
                  version)
    _check_record('sensors', wire['sensors'], sample_mod.HostSensors,
                  version)
    _check_section(wire, 'instances', sample_mod.InstanceLoad, 'uuid',
                   limits.instances, version)
    _check_section(wire, 'gpus', sample_mod.GpuLoad, 'index', limits.gpus,
                   version)
    _check_section(wire, 'asics', sample_mod.AsicLoad, 'miner',
                   limits.asics, version)
    timestamp = wire['timestamp']
    if timestamp > now + policy.max_clock_skew:
        raise Rejected(Reason.CLOCK_SKEW, f'timestamp {timestamp} is '
                       f'{timestamp - now:.1f}s ahead')
    if timestamp < now - policy.max_age:
        raise Rejected(Reason.TOO_OLD,
                       f'timestamp {timestamp} is {now - timestamp:.0f}s old')
    return sample_mod.LoadSample.from_wire(wire)
