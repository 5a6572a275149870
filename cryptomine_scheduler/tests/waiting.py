"""Polling helper for tests that wait on other threads or processes."""

import time


def wait_for(predicate, timeout: float, interval: float = 0.05):
    """Return the first truthy ``predicate()``, or raise after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f'condition not met within {timeout}s')
        time.sleep(interval)
