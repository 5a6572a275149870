"""Reading a BMC in a thread of its own.

A BMC answers in tens of milliseconds when well and in tens of seconds
when not.  A :class:`BmcPoller` reads it every ``interval`` seconds in a
thread of its own and keeps the newest result for the collector's cycle,
so that a slow or dead BMC never holds a cycle up.  A BMC that cannot be
read is logged once when it stops answering and once when it answers
again, in the log of the source that polls it.
"""

import abc
import logging
import threading


class BmcPoller(threading.Thread, abc.ABC):
    """Polls a BMC every ``interval`` seconds until :meth:`stop`."""

    #: What a BMC that cannot be read raises from :meth:`read`.
    errors: tuple[type[Exception], ...] = ()

    def __init__(self, name: str, what: str, interval: float,
                 log: logging.LoggerAdapter | logging.Logger):
        super().__init__(name=name, daemon=True)
        self._what = what  # the BMC, as the log names it
        self._interval = interval
        self._log = log
        self._stopping = threading.Event()
        self._fault: str | None = None

    def run(self) -> None:
        while True:
            self.poll()
            if self._stopping.wait(self._interval):
                break
        self.disconnect()

    def stop(self) -> None:
        self._stopping.set()

    @abc.abstractmethod
    def poll(self) -> None:
        """Read the BMC (through :meth:`guarded_read`) and keep the result."""

    @abc.abstractmethod
    def read(self):
        """One read of the BMC, connecting first if need be."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Drop the connection; the next :meth:`read` connects again."""

    def guarded_read(self, absent):
        """:meth:`read`'s result, or ``absent`` if the BMC cannot be read."""
        try:
            result = self.read()
        except self.errors as exc:
            fault = str(exc) or type(exc).__name__
        else:
            if self._fault is not None:
                self._log.info('%s readable again', self._what)
                self._fault = None
            return result
        self.disconnect()  # connected again once it answers
        if self._fault is None:
            self._log.warning('%s unreadable, its readings reported absent '
                              'until it answers: %s', self._what, fault)
        self._fault = fault
        return absent
