"""Bounded first-in-first-out buffer of samples waiting to be published."""

import collections
from collections.abc import Callable


class ReplayBuffer:
    """Keeps at most ``capacity`` items; when full the oldest is dropped."""

    def __init__(self, capacity: int):
        self._items: collections.deque = collections.deque()
        self.capacity = capacity
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def append(self, item) -> None:
        if len(self._items) >= self.capacity:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)

    def drain(self, send: Callable[[object], None]) -> int:
        """Send items oldest first until ``send`` raises; return how many.

        The item being sent leaves the buffer only once ``send`` returned,
        so a failure keeps it (and everything after it) for the next try.
        """
        sent = 0
        while self._items:
            send(self._items[0])
            self._items.popleft()
            sent += 1
        return sent
