"""The publishing thread: drains the replay buffer to the message bus.

Sampling only appends to the buffer; this thread publishes its samples
oldest first.  A sample the bus refuses goes back to the front of the
buffer and is tried again after :data:`RETRY_PAUSE`, so an unreachable
broker delays nothing but the publishing, and the buffer is replayed in
order when it comes back.
"""

import threading
from collections.abc import Callable

from oslo_log import log as logging

from load_collector import buffer as buffer_mod
from load_collector import publisher as publisher_mod

LOG = logging.getLogger(__name__)
RETRY_PAUSE = 1.0  # seconds between two failed publishes


class Sender:
    """Publishes the buffer from a daemon thread; counts what it did.

    ``published`` and ``failures`` are written by the thread only.
    """

    def __init__(self, buffer: buffer_mod.ReplayBuffer,
                 publish: Callable[[dict], None],
                 retry_pause: float = RETRY_PAUSE):
        self._buffer = buffer
        self._publish = publish
        self._retry_pause = retry_pause
        self._give_up = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='cryptomine-publisher')
        self._connected = True
        self.published = 0
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._give_up.is_set():
            item = self._buffer.take()
            if item is None:
                return
            try:
                self._publish(item)
            except publisher_mod.PublishError as exc:
                self._buffer.put_back(item)
                self._failed(exc)
                self._give_up.wait(self._retry_pause)
            else:
                self._buffer.sent()
                self._delivered()

    def _failed(self, exc: publisher_mod.PublishError) -> None:
        self.failures += 1
        if self._connected:
            LOG.warning('Message bus unreachable (%s); buffering samples '
                        '(capacity %d)', exc, self._buffer.capacity)
        self._connected = False

    def _delivered(self) -> None:
        self.published += 1
        if not self._connected:
            LOG.info('Message bus reachable again; replaying %d buffered '
                     'samples', len(self._buffer))
        self._connected = True

    def stop(self, timeout: float) -> bool:
        """Publish what is buffered for up to ``timeout`` seconds, then
        stop; return whether everything was published."""
        self._buffer.close()
        if self._thread.is_alive():
            self._thread.join(timeout)
        # A publish still in hand ends the thread when it returns.
        self._give_up.set()
        return not self._thread.is_alive() and not self._buffer
