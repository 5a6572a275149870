"""Polling helper for tests that wait on other threads or processes."""

import time
from collections.abc import Callable

# Seconds to wait for what a quiet machine does in a few: the suite must
# pass while other jobs load the machine, so no wait is tight.
PATIENCE = 600.0


def wait_for(predicate, timeout: float, interval: float = 0.05,
             seen: Callable[[], str] | None = None):
    """Return the first truthy ``predicate()``, or raise after timeout
    with what ``seen()`` says was there instead."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(
                f'condition not met within {timeout}s'
                + (f'; seen: {seen()}' if seen is not None else ''))
        time.sleep(interval)
