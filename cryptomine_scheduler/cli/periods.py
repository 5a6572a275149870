"""``--since``: how far back a command looks, in seconds or with a unit
(``90m``, ``6h``, ``2d``)."""

import argparse
import re

#: Seconds in each unit a duration may carry.
UNITS = {'s': 1.0, 'm': 60.0, 'h': 3600.0, 'd': 86400.0}
_DURATION = re.compile(r'(\d+(?:\.\d*)?|\.\d+)([smhd]?)')


def duration(text: str) -> float:
    """Seconds in ``text``: a number of seconds, or of the unit its
    letter says."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a duration: a number of seconds, or of '
            f'minutes, hours or days with m, h or d (90m, 6h, 2d)')
    return float(found[1]) * UNITS[found[2] or 's']


def add_since(parser: argparse.ArgumentParser, default: str,
              period: str) -> None:
    """Add ``--since DURATION``, the last ``period`` the command covers;
    its value is in seconds."""
    parser.add_argument(
        '--since', type=duration, default=default, metavar='DURATION',
        help=f'{period}: the last DURATION, in seconds or with a unit '
             f'(90m, 6h, 2d; default {default})')
