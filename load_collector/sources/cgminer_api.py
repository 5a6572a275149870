"""The cgminer/bfgminer/sgminer JSON API: requests and reply decoding.

A miner listens on TCP port 4028, reads one JSON request such as
``{"command": "summary+devs+stats"}``, answers with JSON (usually ended by
a NUL byte) and closes.  Every reply has a ``STATUS`` list and a section
named after the command; a combined command answers with one reply per
part.  :func:`to_load` normalises the replies into an
:class:`~cryptomine_scheduler.sample.AsicLoad`.

Vendors disagree on the details; the readings are normalised thus:

* hashrates come from ``SUMMARY`` (else ``STATS``) as ``GHS``, ``MHS``,
  ``THS`` or ``KHS`` ``5s``/``av`` fields and are converted to GH/s;
* numbers may be sent as strings, and a unit after a number is ignored;
* the temperature is the hottest ``Temperature``/``tempN``/``temp2_N``/
  ``temp_chipN``/``temp_pcbN``/``temp_max`` reading, Antminer's
  ``"56-56-72-72"`` strings included; readings outside (0, 150] degC are
  sensor faults or empty sockets and are ignored;
* fans are ``fanN`` and ``Fan Speed`` readings in rpm.  A fan reading 0
  is an empty fan header (Antminer lists eight fans and fits two) and is
  ignored, unless ``fan_num`` says more fans are fitted than turn: the
  slowest fan is then reported as 0 rpm;
* chains are the ``chain_acnN`` slots of ``STATS``: a slot with no chips
  and an empty ``chain_acsN`` is an empty connector and not counted; one
  with no chips otherwise, or with an ``x`` (failed chip) in
  ``chain_acsN``, is down.  Without such slots the ``DEVS`` devices are
  the chains, the enabled ones with ``Status`` ``Alive`` being active;
* ``summary`` failing (``STATUS`` ``E`` or ``F``) makes the miner
  unavailable; ``devs`` or ``stats`` failing only leaves their readings
  None;
* NUL bytes are dropped, and a reply that is not JSON is retried once
  with the firmware glitch ``}{`` (a missing comma between the objects
  of a list) repaired.
"""

import dataclasses
import json
import re
from collections.abc import Mapping

from cryptomine_scheduler import sample

COMMANDS = ('summary', 'devs', 'stats')
COMBINED = '+'.join(COMMANDS)
MAX_REPLY = 1024 * 1024
_SUCCESS = frozenset({'S', 'I', 'W'})  # success, information, warning
_NUMBER = re.compile(r'\s*[-+]?\d+(\.\d+)?([eE][-+]?\d+)?')
_HASH_UNITS = (('GHS', 1.0), ('MHS', 1e-3), ('THS', 1e3), ('KHS', 1e-6))
_HASH_KEYS = {window: [(f'{unit} {window}', scale)
                       for unit, scale in _HASH_UNITS]
              for window in ('5s', 'av')}
_TEMPERATURE = re.compile(
    r'temperature|temp(\d+(_\d+)?|_(chip|pcb|max)\d*(_\d+)?)?', re.I)
_FAN = re.compile(r'fan(\d+| speed( in| out)?)', re.I)
_MAX_TEMPERATURE_C = 150.0
_KINDS: dict[str, str | None] = {}  # record key -> _classify(key)
_READING_KEYS: set[str] = set()  # the keys of _KINDS that have a kind
_KINDS_KEPT = 4096  # bounds _KINDS against miners inventing keys
_JSON = json.JSONDecoder(strict=False)  # allow control characters


class ReplyError(ValueError):
    """A miner's reply that carries no usable readings."""


class CommandRejected(ReplyError):
    """The miner answered a combined command without any of its parts."""


def _loads(text: str):
    try:
        return _JSON.decode(text)
    except (ValueError, RecursionError):
        raise ReplyError('reply is not JSON') from None


def decode(raw: bytes) -> dict:
    """Return the JSON object of a raw reply; ReplyError if there is none."""
    text = raw.replace(b'\0', b'').decode('utf-8', 'replace')
    if not text.strip():
        raise ReplyError('empty reply')
    try:
        reply = _loads(text)
    except ReplyError:
        reply = _loads(text.replace('}{', '},{'))
    if not isinstance(reply, dict):
        raise ReplyError('reply is not a JSON object')
    return reply


def _failure(reply: dict) -> str | None:
    """Return why ``reply`` reports failure, or None if it succeeded."""
    status = reply.get('STATUS')
    if isinstance(status, str):  # Whatsminer puts STATUS at the top
        entry = reply
    elif (isinstance(status, list) and status
          and isinstance(status[0], dict)):
        entry = status[0]
    else:
        return 'no STATUS in reply'
    if entry.get('STATUS') in _SUCCESS:
        return None
    return str(entry.get('Msg') or f'STATUS {entry.get("STATUS")}')


def split(command: str, reply: dict) -> dict[str, dict]:
    """Return the replies to each part of ``command``, by part name.

    Raises CommandRejected when a combined command got none of its parts.
    """
    names = command.split('+')
    if len(names) == 1:
        return {command: reply}
    parts = {}
    for name in names:
        value = reply.get(name)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            parts[name] = value[0]
    if not parts:
        raise CommandRejected(_failure(reply) or 'no part answered')
    return parts


def _records(reply: dict | None, section: str) -> list[dict]:
    """The records of a successful reply's ``section``, else []."""
    if reply is None or _failure(reply):
        return []
    value = reply.get(section)
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [r for r in value if isinstance(r, dict)]
    return []


def _number(value) -> float | None:
    """A finite number from a JSON number or a string starting with one."""
    kind = type(value)
    try:
        if kind is str:
            try:
                number = float(value)
            except ValueError:
                match = _NUMBER.match(value)
                if match is None:
                    return None
                number = float(match.group())
        elif kind is float or kind is int:
            number = float(value)
        else:
            return None
    except OverflowError:
        return None
    return number if number - number == 0 else None


def _count(value) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 0 else None


def _readings(value) -> list[float]:
    """The numbers of a value; Antminer joins sensors as ``"56-56-72"``."""
    if type(value) is str and '-' in value.strip()[1:]:
        return [n for n in map(_number, value.split('-')) if n is not None]
    number = _number(value)
    return [] if number is None else [number]


def _classify(key: str) -> str | None:
    """``'temperature'``, ``'fan'``, ``'chips'`` or None for a record key."""
    if _TEMPERATURE.fullmatch(key):
        kind = 'temperature'
    elif _FAN.fullmatch(key):
        kind = 'fan'
    elif key.startswith('chain_acn'):
        kind = 'chips'
    else:
        kind = None
    if len(_KINDS) < _KINDS_KEPT:
        _KINDS[key] = kind
        if kind:
            _READING_KEYS.add(key)
    return kind


def _readings_of(record: dict) -> list[tuple[str, str]]:
    """The keys of ``record`` that hold readings, with their kinds.

    Set operations on the keys keep the ~100 other fields of an Antminer
    record out of the Python loop.
    """
    keys = record.keys()
    found = [(key, _KINDS[key]) for key in keys & _READING_KEYS]
    for key in keys - _KINDS.keys():
        kind = _classify(key)
        if kind:
            found.append((key, kind))
    return found


@dataclasses.dataclass
class _Sensors:
    """Temperatures, fans and chains gathered from a miner's records."""

    temperatures: list[float] = dataclasses.field(default_factory=list)
    fans: list[float] = dataclasses.field(default_factory=list)
    fans_fitted: int = 0
    chains: int = 0
    chains_active: int = 0

    def add(self, record: dict) -> None:
        for key, kind in _readings_of(record):
            value = record[key]
            if kind == 'temperature':
                self.temperatures.extend(_readings(value))
            elif kind == 'fan':
                self.fans.extend(_readings(value))
            elif kind == 'chips':
                self._add_chain(_count(value) or 0,
                                record.get('chain_acs' + key[9:]))
        self.fans_fitted += _count(record.get('fan_num')) or 0

    def _add_chain(self, chips: int, states) -> None:
        states = states.strip() if isinstance(states, str) else None
        if chips == 0 and states == '':
            return  # an empty connector
        self.chains += 1
        self.chains_active += chips > 0 and 'x' not in (states or '')

    def hottest(self) -> float | None:
        return max((t for t in self.temperatures
                    if 0.0 < t <= _MAX_TEMPERATURE_C), default=None)

    def slowest_fan(self) -> float | None:
        turning = [f for f in self.fans if f > 0]
        if self.fans and self.fans_fitted > len(turning):
            return 0.0  # a fitted fan stopped
        return min(turning, default=None)


def _hashrate(records: list[dict], window: str) -> float | None:
    for record in records:
        for key, scale in _HASH_KEYS[window]:
            value = _number(record.get(key))
            if value is not None and value >= 0:
                return value * scale
    return None


def _power(records: list[dict]) -> float | None:
    for record in records:
        for key in ('Power', 'chain_power'):
            value = _number(record.get(key))
            if value is not None and value > 0:
                return value
    return None


def to_load(miner: str, instance: str | None,
            replies: Mapping[str, dict]) -> sample.AsicLoad:
    """Normalise one miner's replies to ``summary``, ``devs``, ``stats``.

    Raises ReplyError when ``summary`` is missing or failed.
    """
    summary = replies.get('summary')
    if summary is None:
        raise ReplyError('no reply to summary')
    reason = _failure(summary)
    if reason:
        raise ReplyError(f'summary: {reason}')
    totals = _records(summary, 'SUMMARY')
    if not totals:
        raise ReplyError('summary: no SUMMARY section')
    devs = _records(replies.get('devs'), 'DEVS')
    stats = _records(replies.get('stats'), 'STATS')
    sensors = _Sensors()
    for record in totals + devs + stats:
        sensors.add(record)
    if sensors.chains:
        chains = sensors.chains, sensors.chains_active
    elif devs:
        chains = len(devs), sum(d.get('Status') == 'Alive'
                                and d.get('Enabled') != 'N' for d in devs)
    else:
        chains = None, None
    return sample.AsicLoad(
        miner=miner, available=True, instance=instance,
        hashrate_5s_ghs=_hashrate(totals + stats, '5s'),
        hashrate_avg_ghs=_hashrate(totals + stats, 'av'),
        accepted_shares=_count(totals[0].get('Accepted')),
        rejected_shares=_count(totals[0].get('Rejected')),
        hardware_errors=_count(totals[0].get('Hardware Errors')),
        temperature_c=sensors.hottest(), fan_rpm_min=sensors.slowest_fan(),
        chains_total=chains[0], chains_active=chains[1],
        power_w=_power(totals + stats))


REQUESTS = {command: json.dumps({'command': command}).encode()
            for command in (COMBINED, *COMMANDS)}
