"""Recorded test durations, to seed a fresh clone's stestr history.

Without a history stestr deals the tests out to its workers blindly, so
the slowest tests (the emulated experiment alone takes six minutes) may
all land on one worker while the other idles.  Given durations it
shares them out by time.  ``tools/run-tests.sh`` seeds a repository
that has no history yet from ``tools/test-durations.txt`` (``seed FILE``
writes the stream ``stestr load --force-init`` reads), and ``record
FILE`` writes that file from a run (``stestr last --subunit`` on stdin).

The file lists the tests that took at least :data:`MINIMUM` seconds,
one ``SECONDS TEST_ID`` a line; the others are too short to matter.
"""

import argparse
import datetime
import sys
from typing import BinaryIO

import subunit
import testtools

#: Tests shorter than this (seconds) are left out of the file.
MINIMUM = 1.0
_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)


class _Durations(testtools.StreamResult):
    """Collects the duration of each test that succeeded."""

    def __init__(self):
        super().__init__()
        self.started: dict[str, datetime.datetime] = {}
        self.seconds: dict[str, float] = {}

    def status(self, test_id=None, test_status=None, timestamp=None,
               **kwargs):
        if test_id is None or timestamp is None:
            return
        if test_status == 'inprogress':
            self.started[test_id] = timestamp
        elif test_status == 'success' and test_id in self.started:
            self.seconds[test_id] = (
                timestamp - self.started[test_id]).total_seconds()


def record(stream: BinaryIO) -> dict[str, float]:
    """The durations of the tests that succeeded in a subunit v2 stream."""
    result = _Durations()
    subunit.ByteStreamToStreamResult(stream).run(result)
    return result.seconds


def write(durations: dict[str, float], path: str) -> None:
    with open(path, 'w') as out:
        for test_id in sorted(durations):
            if durations[test_id] >= MINIMUM:
                out.write(f'{durations[test_id]:.1f} {test_id}\n')


def read(path: str) -> dict[str, float]:
    durations = {}
    with open(path) as lines:
        for number, line in enumerate(lines, start=1):
            seconds, _, test_id = line.strip().partition(' ')
            try:
                durations[test_id] = float(seconds)
            except ValueError:
                raise ValueError(f'{path}:{number}: expected "SECONDS '
                                 f'TEST_ID", got {line.strip()!r}') from None
    return durations


def seed(durations: dict[str, float], out: BinaryIO) -> None:
    """Write a subunit v2 stream in which each test ran for its
    duration and succeeded."""
    result = subunit.StreamResultToBytes(out)
    for test_id, seconds in sorted(durations.items()):
        result.status(test_id=test_id, test_status='inprogress',
                      timestamp=_EPOCH)
        result.status(test_id=test_id, test_status='success',
                      timestamp=_EPOCH + datetime.timedelta(seconds=seconds))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('action', choices=('seed', 'record'),
                        help='seed: write FILE as a subunit stream to '
                             'stdout; record: write FILE from the subunit '
                             'stream on stdin')
    parser.add_argument('file')
    args = parser.parse_args(argv)
    if args.action == 'seed':
        seed(read(args.file), sys.stdout.buffer)
    else:
        write(record(sys.stdin.buffer), args.file)
    return 0


if __name__ == '__main__':
    sys.exit(main())
