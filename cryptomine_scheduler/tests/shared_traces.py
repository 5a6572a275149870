"""The reference traces shared beside the repository (never copied in).

They live in ``../shared/traces/`` from the repository root, or where
``$CRYPTOMINE_TRACES`` points.  Tests that need one skip, saying so,
when it is absent.
"""

import os

ENV = 'CRYPTOMINE_TRACES'
PLANETLAB = 'planetlab-20110303'
BITBRAINS = 'bitbrains-rnd-2013-7'
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def directory() -> str:
    """Where the shared traces are looked for."""
    return os.environ.get(ENV) or os.path.join(_ROOT, '..', 'shared',
                                               'traces')


def find(name: str) -> str | None:
    """The path of trace ``name``, None if it is not there."""
    path = os.path.join(directory(), name)
    return path if os.path.isdir(path) else None


def require(test, name: str) -> str:
    """The path of trace ``name``, or skip ``test`` saying why."""
    path = find(name)
    if path is None:
        test.skipTest(f'reference trace {name} not found in '
                      f'{directory()} (set ${ENV})')
    return path
