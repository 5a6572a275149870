"""How values look: rounded numbers, UTC times, and structured values
shown as text in tables and as data in JSON and YAML."""

import datetime
import math

from cliff import columns

SPARKS = '▁▂▃▄▅▆▇█'


class Text(columns.FormattableColumn):
    """A structured value; people read ``text``, machines the value."""

    def __init__(self, value, text: str):
        super().__init__(value)
        self._text = text

    def human_readable(self) -> str:
        return self._text


def number(value: float | None, digits: int = 1) -> float | None:
    """``value`` rounded; None where it is unknown (None or NaN)."""
    if value is None or math.isnan(value):
        return None
    return round(value, digits)


def count(value: float | None) -> int | None:
    """A count as an integer; None where it is unknown (None or NaN)."""
    if value is None or math.isnan(value):
        return None
    return int(value)


def utc(timestamp: float | None) -> str | None:
    """A Unix time as ISO 8601 UTC to the second."""
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp,
                                                datetime.timezone.utc)
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def sparkline(values: list[float], width: int = 40) -> str:
    """``values`` averaged into at most ``width`` bars, lowest to highest
    of the series."""
    if not values:
        return ''
    step = max(1, math.ceil(len(values) / width))
    means = [sum(chunk) / len(chunk) for chunk in
             (values[i:i + step] for i in range(0, len(values), step))]
    low, high = min(means), max(means)
    span = (high - low) or 1.0
    top = len(SPARKS) - 1
    return ''.join(SPARKS[round((m - low) / span * top)] for m in means)


def aligned(rows: list[list[str]]) -> str:
    """Rows of cells as left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return '\n'.join('  '.join(cell.ljust(w) for cell, w
                               in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
