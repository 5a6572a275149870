"""When the re-planner may stop guests: cold-migration windows.

A window is ``DAYS HH:MM-HH:MM``, in UTC: ``DAYS`` is ``*`` (every day),
a day (``Sat``) or a range of days (``Mon-Fri``, ``Fri-Mon``); the
times are a half-open range, ``24:00`` allowed as its end.  A range
that ends before it starts runs past midnight: ``Sat 22:00-02:00`` is
from Saturday 22:00 to Sunday 02:00.  A time is in the windows when it
is in any of them.
"""

import dataclasses
import datetime

_NAMES = ('monday', 'tuesday', 'wednesday', 'thursday', 'friday',
          'saturday', 'sunday')
DAYS = tuple(name[:3] for name in _NAMES)
MINUTES_A_DAY = 24 * 60


@dataclasses.dataclass(frozen=True)
class Window:
    """Days of the week (0 is Monday) and minutes of the day."""

    days: frozenset[int]
    start: int
    end: int

    def contains(self, when: datetime.datetime) -> bool:
        minute, day = when.hour * 60 + when.minute, when.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= minute < self.end
        return ((day in self.days and minute >= self.start)
                or ((day - 1) % 7 in self.days and minute < self.end))

    def __str__(self) -> str:
        return _text(self)


def _minutes(text: str, window: str, end: bool) -> int:
    hours, _, minutes = text.partition(':')
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f'window {window!r}: {text!r} is not HH:MM')
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > MINUTES_A_DAY or (
            value == MINUTES_A_DAY and not end):
        raise ValueError(f'window {window!r}: no time {text!r}')
    return value


def _day(text: str, window: str) -> int:
    """A day's number from its name or its first three letters at
    least."""
    name = text.strip().lower()
    for number, day in enumerate(_NAMES):
        if len(name) >= 3 and day.startswith(name):
            return number
    raise ValueError(f'window {window!r}: {text!r} is not a day of the '
                     f'week ({", ".join(d.title() for d in DAYS)})')


def _days(text: str, window: str) -> frozenset[int]:
    if text == '*':
        return frozenset(range(7))
    first, dash, last = text.partition('-')
    start = _day(first, window)
    stop = _day(last, window) if dash else start
    return frozenset((start + k) % 7 for k in range((stop - start) % 7 + 1))


def parse(text: str) -> Window:
    """The window ``text`` names; ValueError saying what is wrong."""
    if isinstance(text, Window):
        return text
    parts = text.split()
    if len(parts) != 2 or parts[1].count('-') != 1:
        raise ValueError(f'window {text!r}: expected DAYS HH:MM-HH:MM, '
                         f'for example "Mon-Fri 01:00-05:00"')
    start, end = parts[1].split('-')
    window = Window(_days(parts[0], text), _minutes(start, text, False),
                    _minutes(end, text, True))
    if window.start == window.end:
        raise ValueError(f'window {text!r} is empty')
    return window


def _text(window: Window) -> str:
    days = sorted(window.days)
    if len(days) == 7:
        named = '*'
    else:
        first = next(d for d in days if (d - 1) % 7 not in window.days)
        last = (first + len(days) - 1) % 7
        named = DAYS[first].title() + (
            '' if first == last else '-' + DAYS[last].title())
    return (f'{named} {window.start // 60:02d}:{window.start % 60:02d}-'
            f'{window.end // 60:02d}:{window.end % 60:02d}')


def open_at(windows: tuple[Window, ...], when: float) -> bool:
    """Whether the UNIX time ``when`` is in ``windows`` (always, with
    none)."""
    if not windows:
        return True
    moment = datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
    return any(w.contains(moment) for w in windows)
