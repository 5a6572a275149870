"""Checks every incoming sample before it can touch the history.

:func:`validate` either returns a :class:`~cryptomine_scheduler.sample.
LoadSample` or raises :class:`Rejected` carrying a :class:`Reason`, which
the controller counts.  Nothing here trusts the input: any shape, type or
value an attacker or a broken collector could send ends as a rejection.
"""

import dataclasses
import enum
import math
import uuid

from cryptomine_scheduler import sample as sample_mod
from cryptomine_scheduler import signing

MAX_HOST_NAME = 255
MAX_INSTANCES = 4096


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


class Rejected(Exception):
    """A sample failed validation."""

    def __init__(self, reason: Reason, detail: str):
        super().__init__(f'{reason.value}: {detail}')
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class Policy:
    """What the validator accepts besides the schema itself."""

    master_secret: str
    max_clock_skew: float
    max_age: float


_HOST_FIELDS = tuple(f.name for f in dataclasses.fields(sample_mod.HostLoad))
_INSTANCE_NUMBERS = ('cpu_percent', 'rss_mb')
_TOP_FIELDS = frozenset({'schema_version', 'host', 'seq', 'timestamp',
                         'host_load', 'instances'})


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require(condition: bool, reason: Reason, detail: str) -> None:
    if not condition:
        raise Rejected(reason, detail)


def _check_value(where: str, name: str, value) -> None:
    _require(_is_number(value), Reason.MALFORMED,
             f'{where}.{name} is not a number')
    _require(math.isfinite(value), Reason.NOT_FINITE,
             f'{where}.{name} is {value}')
    upper = 100.0 if name in sample_mod.PERCENT_FIELDS else math.inf
    _require(0.0 <= value <= upper, Reason.OUT_OF_RANGE,
             f'{where}.{name}={value} outside [0, {upper}]')


def _check_record(where: str, record, names) -> None:
    _require(isinstance(record, dict), Reason.MALFORMED,
             f'{where} is not an object')
    missing = set(names) - set(record)
    _require(not missing, Reason.MALFORMED,
             f'{where} lacks {sorted(missing)}')
    for name in names:
        _check_value(where, name, record[name])


def _check_instance(index: int, record) -> None:
    where = f'instances[{index}]'
    _check_record(where, record, _INSTANCE_NUMBERS)
    try:
        uuid.UUID(str(record.get('uuid')))
    except ValueError:
        raise Rejected(Reason.MALFORMED,
                       f'{where}.uuid is not a UUID') from None
    _require(set(record) == {'uuid', *_INSTANCE_NUMBERS}, Reason.MALFORMED,
             f'{where} has unknown fields')


def _check_envelope(payload) -> tuple[dict, str]:
    _require(isinstance(payload, dict), Reason.MALFORMED,
             'payload is not an object')
    wire, signature = payload.get('sample'), payload.get('signature')
    _require(isinstance(wire, dict), Reason.MALFORMED, 'no sample object')
    _require(isinstance(signature, str), Reason.MALFORMED, 'no signature')
    host = wire.get('host')
    _require(isinstance(host, str) and 0 < len(host) <= MAX_HOST_NAME,
             Reason.MALFORMED, 'host is not a non-empty string')
    return wire, signature


def validate(payload, policy: Policy, now: float) -> sample_mod.LoadSample:
    """Return the sample in ``payload`` or raise :class:`Rejected`."""
    wire, signature = _check_envelope(payload)
    key = signing.derive_host_key(policy.master_secret, wire['host'])
    _require(signing.verify(wire, signature, key), Reason.BAD_SIGNATURE,
             f'signature does not match host {wire["host"]!r}')
    version = wire.get('schema_version')
    _require(version == sample_mod.SCHEMA_VERSION, Reason.UNSUPPORTED_VERSION,
             f'schema_version {version!r}, expected '
             f'{sample_mod.SCHEMA_VERSION}')
    _require(set(wire) == _TOP_FIELDS, Reason.MALFORMED,
             f'fields {sorted(set(wire) ^ _TOP_FIELDS)} missing or unknown')
    seq = wire['seq']
    _require(isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0,
             Reason.MALFORMED, 'seq is not a non-negative integer')
    _check_value('sample', 'timestamp', wire['timestamp'])
    _check_record('host_load', wire['host_load'], _HOST_FIELDS)
    _require(set(wire['host_load']) == set(_HOST_FIELDS), Reason.MALFORMED,
             'host_load has unknown fields')
    instances = wire['instances']
    _require(isinstance(instances, list)
             and len(instances) <= MAX_INSTANCES,
             Reason.MALFORMED, 'instances is not a list of bounded length')
    for index, record in enumerate(instances):
        _check_instance(index, record)
    _require(len({r['uuid'] for r in instances}) == len(instances),
             Reason.MALFORMED, 'an instance is listed twice')
    timestamp = wire['timestamp']
    _require(timestamp <= now + policy.max_clock_skew, Reason.CLOCK_SKEW,
             f'timestamp {timestamp} is {timestamp - now:.1f}s ahead')
    _require(timestamp >= now - policy.max_age, Reason.TOO_OLD,
             f'timestamp {timestamp} is {now - timestamp:.0f}s old')
    return sample_mod.LoadSample.from_wire(wire)
