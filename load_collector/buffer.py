"""Bounded first-in-first-out buffer of samples waiting to be published.

The sampling thread appends; one publishing thread takes the oldest
sample and then either reports it :meth:`~ReplayBuffer.sent` or puts it
back, so a sample is only ever lost when the buffer overflows.
"""

import collections
import threading


class ReplayBuffer:
    """Keeps at most ``capacity`` waiting items (besides the one being
    sent); when full, the oldest is dropped and counted in ``dropped``."""

    def __init__(self, capacity: int):
        self._items: collections.deque = collections.deque()
        self._in_flight = 0
        self._closed = False
        self._changed = threading.Condition()
        self.capacity = capacity
        self.dropped = 0

    def __len__(self) -> int:
        """Items not yet sent, the one being sent included."""
        with self._changed:
            return len(self._items) + self._in_flight

    def append(self, item) -> None:
        with self._changed:
            if len(self._items) >= self.capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._changed.notify_all()

    def take(self):
        """The oldest item, once there is one; None once the buffer is
        closed and empty.  One taker at a time."""
        with self._changed:
            self._changed.wait_for(lambda: self._items or self._closed)
            if not self._items:
                return None
            self._in_flight = 1
            return self._items.popleft()

    def sent(self) -> None:
        """The item taken last was delivered."""
        with self._changed:
            self._in_flight = 0

    def put_back(self, item) -> None:
        """Return the item taken last, undelivered, to the front; it is
        the one dropped if newer items filled the buffer meanwhile."""
        with self._changed:
            self._in_flight = 0
            if len(self._items) >= self.capacity:
                self.dropped += 1
            else:
                self._items.appendleft(item)

    def close(self) -> None:
        """Let :meth:`take` return None once the buffer is empty."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
