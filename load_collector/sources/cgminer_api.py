"""The cgminer/bfgminer/sgminer JSON API: requests and reply decoding.

A miner listens on TCP port 4028, reads one JSON request such as
``{"command": "summary+devs+stats"}``, answers with JSON (usually ended by
a NUL byte) and closes.  Every reply has a ``STATUS`` list and a section
named after the command; a combined command answers with each part's
reply under the part's name, in a one-element list (or bare, as some
firmwares and cgminer's API-README have it).  :func:`to_load` normalises
the replies into an :class:`~cryptomine_scheduler.telemetry.sample.AsicLoad`.

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
* NUL bytes are dropped; control characters, NaN and infinities are
  read as Python's lenient decoder reads them; a reply that is not JSON
  is retried once with the firmware glitch ``}{`` (a missing comma
  between the objects of a list) repaired.
"""

import dataclasses
import json
import re
from collections.abc import Mapping

import orjson

from cryptomine_scheduler.telemetry import sample

COMMANDS = ('summary', 'devs', 'stats')
COMBINED = '+'.join(COMMANDS)
MAX_REPLY = 1024 * 1024
_SUCCESS = frozenset({'S', 'I', 'W'})  # success, information, warning
_NUMBER = re.compile(r'\s*[-+]?\d+(\.\d+)?([eE][-+]?\d+)?')
_PLAIN_NUMBERS = re.compile(r'[-+.0-9eE]+')
_HASH_UNITS = (('GHS', 1.0), ('MHS', 1e-3), ('THS', 1e3), ('KHS', 1e-6))
_HASH_KEYS = {window: [(f'{unit} {window}', scale)
                       for unit, scale in _HASH_UNITS]
              for window in ('5s', 'av')}
_TEMPERATURE = re.compile(
    r'temperature|temp(\d+(_\d+)?|_(chip|pcb|max)\d*(_\d+)?)?', re.I)
_FAN = re.compile(r'fan(\d+| speed( in| out)?)', re.I)
_MAX_TEMPERATURE_C = 150.0
_LAYOUTS_KEPT = 128  # bounds _LAYOUTS against miners inventing keys
_JSON = json.JSONDecoder(strict=False)  # allow control characters


class ReplyError(ValueError):
    """A miner's reply that carries no usable readings."""


class CommandRejected(ReplyError):
    """The miner answered a combined command without any of its parts."""


def _loads(text: str):
    """Parse ``text``: strict JSON with orjson, which most replies are
    (four times faster), else with the lenient standard decoder."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return _JSON.decode(text)
    except (ValueError, RecursionError):
        raise ReplyError('reply is not JSON') from None


def decode(raw: bytes) -> dict:
    """Return the JSON object of a raw reply; ReplyError if there is none."""
    try:
        reply = orjson.loads(raw)  # the usual reply: strict JSON, no NUL
    except orjson.JSONDecodeError:
        reply = _decode_lenient(raw)
    if not isinstance(reply, dict):
        raise ReplyError('reply is not a JSON object')
    return reply


def _decode_lenient(raw: bytes):
    """Decode a reply that is not strict UTF-8 JSON, as firmwares send."""
    text = raw.replace(b'\0', b'').decode('utf-8', 'replace')
    if not text.strip():
        raise ReplyError('empty reply')
    try:
        return _loads(text)
    except ReplyError:
        return _loads(text.replace('}{', '},{'))


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
            parts[name] = value[0]  # as cgminer sends it
        elif isinstance(value, dict):
            parts[name] = value  # as its API-README shows it
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
    """The numbers of a value; Antminer joins sensors as ``"56-56-72"``.

    NaN and infinities are left in, for the caller's range check.
    """
    if type(value) is not str:
        number = _number(value)
        return [] if number is None else [number]
    parts = value.split('-') if '-' in value.strip()[1:] else (value,)
    try:
        return list(map(float, parts))
    except ValueError:  # a unit after a number, or no number
        return [n for n in map(_number, parts) if n is not None]


def _all_readings(values: list) -> list[float]:
    """The numbers of every value, as :func:`_readings` reads each.

    The usual values, strings of plain numbers joined by dashes, are read
    as one JSON list (a tenth of the cost of ``float`` on each); ints
    stand for their floats.  Anything else (a sign, a unit, a number sent
    as such) is read one value at a time.
    """
    if not values:
        return []
    try:
        joined = '-'.join(values)
    except TypeError:  # a number sent as such
        joined = ''
    if _PLAIN_NUMBERS.fullmatch(joined):
        try:
            return orjson.loads(f'[{joined.replace("-", ",")}]')
        except orjson.JSONDecodeError:  # "05", "1.", an empty part
            pass
    return [n for value in values for n in _readings(value)]


@dataclasses.dataclass(frozen=True)
class _Layout:
    """The keys of a record that hold readings, by kind."""

    temperatures: tuple[str, ...]
    fans: tuple[str, ...]
    # (chain_acnN, chain_acsN): the chips found on chain N, their states
    chains: tuple[tuple[str, str], ...]
    fans_fitted: bool  # has fan_num
    # Hashrate keys present, by window, with their scale to GH/s, in
    # the order of _HASH_UNITS; power keys present, 'Power' first.
    hashrates: dict[str, tuple[tuple[str, float], ...]]
    power: tuple[str, ...]

    @classmethod
    def of(cls, keys: tuple[str, ...]) -> '_Layout':
        present = set(keys)
        return cls(
            tuple(k for k in keys if _TEMPERATURE.fullmatch(k)),
            tuple(k for k in keys if _FAN.fullmatch(k)),
            tuple((k, 'chain_acs' + k[9:]) for k in keys
                  if k.startswith('chain_acn')),
            'fan_num' in present,
            {window: tuple(pair for pair in pairs if pair[0] in present)
             for window, pairs in _HASH_KEYS.items()},
            tuple(k for k in ('Power', 'chain_power') if k in present))


_LAYOUTS: dict[tuple[str, ...], _Layout] = {}  # record keys -> _Layout


def _layout(record: dict) -> _Layout:
    """The reading keys of ``record``.

    A firmware sends records with the same keys cycle after cycle, so each
    set of keys is classified once (and again after the cache filled up
    with the keys of a miner that invents them).
    """
    keys = tuple(record)
    layout = _LAYOUTS.get(keys)
    if layout is None:
        if len(_LAYOUTS) >= _LAYOUTS_KEPT:
            _LAYOUTS.clear()
        layout = _LAYOUTS[keys] = _Layout.of(keys)
    return layout


_Laid = list[tuple[dict, _Layout]]  # records with their layouts


def _laid(records: list[dict]) -> _Laid:
    return [(record, _layout(record)) for record in records]


@dataclasses.dataclass(slots=True)  # one per miner and cycle
class _Sensors:
    """Temperatures, fans and chains gathered from a miner's records."""

    temperatures: list[float]
    fans: list[float]
    fans_fitted: int
    chains: int
    chains_active: int

    @classmethod
    def of(cls, laid: _Laid) -> '_Sensors':
        temperatures, fans = [], []
        fans_fitted = chains = chains_active = 0
        for record, layout in laid:
            temperatures += [record[key] for key in layout.temperatures]
            fans += [record[key] for key in layout.fans]
            for chips_key, states_key in layout.chains:
                chips = _count(record[chips_key]) or 0
                states = record.get(states_key)
                states = states.strip() if isinstance(states, str) else None
                if chips == 0 and states == '':
                    continue  # an empty connector
                chains += 1
                chains_active += chips > 0 and 'x' not in (states or '')
            if layout.fans_fitted:
                fans_fitted += _count(record['fan_num']) or 0
        return cls(_all_readings(temperatures), _all_readings(fans),
                   fans_fitted, chains, chains_active)

    def hottest(self) -> float | None:
        hottest = max(self.temperatures, default=None)
        if hottest is None or not 0.0 < hottest <= _MAX_TEMPERATURE_C:
            # A sensor fault, an empty socket or NaN first: leave out
            # every reading outside the range.
            hottest = max([t for t in self.temperatures
                           if 0.0 < t <= _MAX_TEMPERATURE_C], default=None)
        return None if hottest is None else float(hottest)

    def slowest_fan(self) -> float | None:
        fans = [f for f in self.fans if f - f == 0]  # finite
        turning = [f for f in fans if f > 0]
        if fans and self.fans_fitted > len(turning):
            return 0.0  # a fitted fan stopped
        return float(min(turning)) if turning else None


def _hashrate(laid: _Laid, window: str) -> float | None:
    for record, layout in laid:
        for key, scale in layout.hashrates[window]:
            value = _number(record[key])
            if value is not None and value >= 0:
                return value * scale
    return None


def _power(laid: _Laid) -> float | None:
    for record, layout in laid:
        for key in layout.power:
            value = _number(record[key])
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
    # Hashrates and power come from SUMMARY, else STATS; not from DEVS.
    rated = _laid(totals + _records(replies.get('stats'), 'STATS'))
    sensors = _Sensors.of(rated + _laid(devs))
    if sensors.chains:
        chains = sensors.chains, sensors.chains_active
    elif devs:
        chains = len(devs), sum(d.get('Status') == 'Alive'
                                and d.get('Enabled') != 'N' for d in devs)
    else:
        chains = None, None
    first = totals[0]
    return sample.AsicLoad(
        miner=miner, available=True, instance=instance,
        hashrate_5s_ghs=_hashrate(rated, '5s'),
        hashrate_avg_ghs=_hashrate(rated, 'av'),
        accepted_shares=_count(first.get('Accepted')),
        rejected_shares=_count(first.get('Rejected')),
        hardware_errors=_count(first.get('Hardware Errors')),
        temperature_c=sensors.hottest(), fan_rpm_min=sensors.slowest_fan(),
        chains_total=chains[0], chains_active=chains[1],
        power_w=_power(rated))


REQUESTS = {command: json.dumps({'command': command}).encode()
            for command in (COMBINED, *COMMANDS)}
