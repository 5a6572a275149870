"""Per-request state, kept apart for each request nova schedules at once.

nova-scheduler serves several requests concurrently (native threads, or
greenthreads under eventlet), and builds its filters and weighers once
for all of them.  What one request computes (its settings, the hosts it
judged) is kept here under the identity of the ``RequestSpec`` that nova
hands to both the filter and the weigher, and of the instance being
placed (a multi-create request reuses its spec for every instance).

Entries hold the spec weakly: one goes when nova drops its spec, and at
most ``limit`` are kept (the oldest go first), so nothing grows with the
number of requests served.
"""

import collections
import threading
import weakref
from collections.abc import Callable
from typing import Generic
from typing import TypeVar

T = TypeVar('T')


class _Strong:
    """A reference to an object that cannot be referred to weakly."""

    def __init__(self, owner: object):
        self._owner = owner

    def __call__(self) -> object:
        return self._owner


class RequestMap(Generic[T]):
    """Values keyed by (``owner`` by identity, ``tag``); thread-safe."""

    def __init__(self, limit: int = 128):
        self.limit = limit
        self._entries: collections.OrderedDict[
            int, tuple[Callable[[], object], object, T]] = (
                collections.OrderedDict())
        self._dead: list = []  # appended from weakref callbacks, lock-free
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._purge()
            return len(self._entries)

    def get(self, owner: object, tag: object) -> T | None:
        """The value stored for ``owner`` and ``tag``, or None."""
        with self._lock:
            entry = self._entries.get(id(owner))
            if entry is None or entry[0]() is not owner or entry[1] != tag:
                return None
            self._entries.move_to_end(id(owner))
            return entry[2]

    def get_or_make(self, owner: object, tag: object,
                    make: Callable[[], T]) -> T:
        """The value for ``owner`` and ``tag``, made by ``make()`` (outside
        the lock) when there is none."""
        value = self.get(owner, tag)
        if value is None:
            value = make()
            self.put(owner, tag, value)
        return value

    def put(self, owner: object, tag: object, value: T) -> None:
        """Store ``value`` for ``owner`` and ``tag`` (replacing any other
        tag's value for ``owner``)."""
        key, dead = id(owner), self._dead
        try:
            ref = weakref.ref(owner, lambda r: dead.append((key, r)))
        except TypeError:
            ref = _Strong(owner)
        with self._lock:
            self._purge()
            self._entries[key] = (ref, tag, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)

    def _purge(self) -> None:
        # The callbacks only append (they may run in any thread, even in
        # one holding the lock); drop the dead entries here.
        while self._dead:
            key, ref = self._dead.pop()
            entry = self._entries.get(key)
            if entry is not None and entry[0] is ref:
                del self._entries[key]
