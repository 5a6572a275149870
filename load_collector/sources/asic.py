"""Network-attached miners, polled through the cgminer JSON API.

Each ``[collector] miners`` entry gets one TCP connection per cycle that
carries the combined command ``summary+devs+stats``.  A miner whose
reply to the combined command holds none of the three parts is asked
them on three connections instead, and keeps being asked that way until
it next goes unavailable (its firmware may have changed meanwhile).  All
connections of a cycle run together on one poll object in the calling
thread, so a cycle waits at most ``[collector] miner_timeout`` however
many miners there are.  After each wake-up the poller pauses
:data:`GATHER_S` before it looks again, so that replies arriving close
together are read in one wake-up rather than one each: a cycle takes a
few milliseconds longer and a fifth less CPU with 20 miners.  Host
names are looked up (blocking) on the first poll and after each outage;
addresses cost no lookup.

The replies are decoded and normalised by
:mod:`load_collector.sources.cgminer_api`.
"""
import dataclasses
import errno
import ipaddress
import math
import os
import re
import select
import socket
import time
import uuid
from collections.abc import Iterator

from oslo_log import log as logging

from cryptomine_scheduler.telemetry import sample
from load_collector import sources
from load_collector.sources import cgminer_api

LOG = logging.getLogger(__name__)

DEFAULT_PORT = 4028
#: Seconds the poller lets replies gather between two wake-ups.
GATHER_S = 0.002
_HOSTNAME = re.compile(r'[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?')


@dataclasses.dataclass(frozen=True)
class Miner:
    """One ``[collector] miners`` entry."""

    host: str
    port: int = DEFAULT_PORT
    instance: str | None = None

    @property
    def label(self) -> str:
        """``host:port``, an IPv6 address in brackets."""
        host = f'[{self.host}]' if ':' in self.host else self.host
        return f'{host}:{self.port}'


def _port(text: str | None) -> int:
    if text is None:
        return DEFAULT_PORT
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 65536):
        raise ValueError(f'invalid port {text!r}')
    return int(text)


def _split_address(address: str) -> tuple[str, int]:
    if address.startswith('['):
        host, bracket, rest = address[1:].partition(']')
        if not bracket:
            raise ValueError('missing "]" after the IPv6 address')
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f'invalid IPv6 address {host!r}') from None
        if rest and not rest.startswith(':'):
            raise ValueError('expected ":PORT" after "]"')
        return host, _port(rest[1:] if rest else None)
    if address.count(':') > 1:
        raise ValueError('an IPv6 address must be in brackets, as in '
                         '[::1]:4028')
    host, colon, port = address.partition(':')
    if not _HOSTNAME.fullmatch(host):
        raise ValueError(f'invalid host {host!r}')
    return host, _port(port if colon else None)


def _instance(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValueError(f'invalid instance UUID {text!r}') from None


def parse_miner(entry: str) -> Miner:
    """Parse ``ADDRESS[:PORT][=INSTANCE_UUID]``; ValueError if malformed."""
    address, equals, instance = entry.partition('=')
    try:
        host, port = _split_address(address.strip())
        instance = _instance(instance.strip()) if equals else None
    except ValueError as exc:
        raise ValueError(
            f'[collector] miners entry {entry!r}: {exc}') from None
    return Miner(host, port, instance)


class _Exchange:
    """One command to one miner, on a connection of its own."""

    __slots__ = ('polled', 'command', 'sock', 'request', 'chunks', 'size')

    def __init__(self, polled: '_Polled', command: str,
                 sock: socket.socket):
        self.polled = polled
        self.command = command
        self.sock = sock
        self.request = cgminer_api.REQUESTS[command]
        self.chunks: list[bytes] = []
        self.size = 0

    def receive(self) -> bool:
        """Read what arrived; True once the reply is complete."""
        data = self.sock.recv(65536)
        end = data.find(b'\0')
        if end >= 0:
            data = data[:end]
        self.chunks.append(data)
        self.size += len(data)
        if self.size > cgminer_api.MAX_REPLY:
            raise cgminer_api.ReplyError(
                f'reply over {cgminer_api.MAX_REPLY} bytes')
        return not data or end >= 0


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)


class _Poller:
    """Exchanges in flight together, until a shared deadline.

    One ``poll`` object, by file descriptor: (un)registering costs no
    system call, unlike epoll, and a cycle waits on a few dozen sockets.
    """

    def __init__(self, timeout: float):
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._poll = select.poll()
        self._pending: dict[int, _Exchange] = {}
        self._finished: list[tuple[_Exchange, bytes | str]] = []

    def __enter__(self) -> '_Poller':
        return self

    def __exit__(self, *exc_info) -> None:
        for exchange in self._pending.values():
            exchange.sock.close()

    def start(self, polled: '_Polled', command: str, family: int,
              sockaddr: tuple) -> None:
        """Connect and queue ``command``; the outcome comes from run()."""
        sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        exchange = _Exchange(polled, command, sock)
        try:
            error = sock.connect_ex(sockaddr)
            if error not in (0, errno.EINPROGRESS):
                raise OSError(error, os.strerror(error))
        except OSError as exc:
            sock.close()
            self._finished.append((exchange, _reason(exc)))
            return
        self._pending[sock.fileno()] = exchange
        self._poll.register(sock, select.POLLOUT)

    def _finish(self, fd: int, outcome: bytes | str) -> None:
        exchange = self._pending.pop(fd)
        self._poll.unregister(fd)
        exchange.sock.close()
        self._finished.append((exchange, outcome))

    def _step(self, fd: int) -> None:
        exchange = self._pending[fd]
        try:
            if exchange.request:
                sent = exchange.sock.send(exchange.request)
                exchange.request = exchange.request[sent:]
                if not exchange.request:
                    self._poll.modify(fd, select.POLLIN)
            elif exchange.receive():
                self._finish(fd, b''.join(exchange.chunks))
        except (OSError, cgminer_api.ReplyError) as exc:
            self._finish(fd, _reason(exc))

    def run(self) -> Iterator[tuple[_Exchange, bytes | str]]:
        """Yield each exchange with its raw reply or why it failed.

        Exchanges started while iterating join the same deadline.
        """
        woken = False
        while True:
            while self._finished:
                yield self._finished.pop()
            if not self._pending:
                return
            if woken:
                time.sleep(max(min(GATHER_S,
                                   self._deadline - time.monotonic()), 0.0))
            remaining = self._deadline - time.monotonic()
            # Past the deadline, what already arrived is still read.
            ready = self._poll.poll(max(math.ceil(remaining * 1000), 0))
            for fd, _ in ready:
                self._step(fd)
            woken = True
            if not ready and remaining <= 0:
                for fd in list(self._pending):
                    self._finish(fd, f'no reply within {self._timeout:g}s')


@dataclasses.dataclass(eq=False)
class _Polled:
    """A configured miner: what the source remembers of it between
    cycles, and what the current cycle got from it."""

    miner: Miner
    available: bool | None = None
    combined: bool = True
    address: tuple[int, tuple] | None = None
    replies: dict[str, dict] = dataclasses.field(default_factory=dict)
    failure: str | None = None  # the cycle's first
    fell_back: bool = False  # the cycle found combined commands refused

    def fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason


class AsicSource(sources.Source):
    """Fills :attr:`SampleDraft.asics`, one entry per configured miner."""

    def __init__(self, conf):
        super().__init__(conf)
        miners = [parse_miner(entry) for entry in conf.collector.miners]
        if not miners:
            raise sources.SourceUnavailable('no miners configured')
        seen = set()
        for miner in miners:
            if miner.label in seen:
                raise ValueError(
                    f'[collector] miners lists {miner.label} twice')
            seen.add(miner.label)
        self._timeout = conf.collector.miner_timeout
        self._miners = [_Polled(miner) for miner in miners]

    @staticmethod
    def _start(poller: _Poller, polled: _Polled,
               commands: tuple[str, ...]) -> None:
        """Start ``commands``, or note why the miner cannot be reached."""
        try:
            if polled.address is None:
                family, _, _, _, sockaddr = socket.getaddrinfo(
                    polled.miner.host, polled.miner.port,
                    type=socket.SOCK_STREAM)[0]
                polled.address = family, sockaddr
            for command in commands:
                poller.start(polled, command, *polled.address)
        except OSError as exc:
            polled.fail(_reason(exc))

    def _poll(self) -> None:
        """Ask every miner; leave its replies or failure on its state."""
        with _Poller(self._timeout) as poller:
            for polled in self._miners:
                polled.replies, polled.failure = {}, None
                polled.fell_back = False
                self._start(poller, polled,
                            (cgminer_api.COMBINED,) if polled.combined
                            else cgminer_api.COMMANDS)
            for exchange, outcome in poller.run():
                polled = exchange.polled
                try:
                    if isinstance(outcome, str):
                        raise cgminer_api.ReplyError(outcome)
                    polled.replies.update(cgminer_api.split(
                        exchange.command, cgminer_api.decode(outcome)))
                except cgminer_api.CommandRejected:
                    polled.fell_back = True
                    self._start(poller, polled, cgminer_api.COMMANDS)
                except cgminer_api.ReplyError as exc:
                    polled.fail(str(exc))

    @staticmethod
    def _note(polled: _Polled, reason: str | None) -> None:
        """Remember the outcome; log changes only."""
        label = polled.miner.label
        if reason is not None:
            if polled.available is not False:
                LOG.warning('Miner %s unavailable: %s', label, reason)
            polled.available, polled.combined = False, True
            polled.address = None
            return
        if polled.available is False:
            LOG.info('Miner %s available again', label)
        if polled.fell_back:
            LOG.info('Miner %s rejects combined commands; asking for '
                     'summary, devs and stats separately', label)
            polled.combined = False
        polled.available = True

    def collect(self, draft: sources.SampleDraft) -> None:
        self._poll()
        for polled in self._miners:
            miner, reason = polled.miner, polled.failure
            if reason is None:
                try:
                    load = cgminer_api.to_load(
                        miner.label, miner.instance, polled.replies)
                except cgminer_api.ReplyError as exc:
                    reason = str(exc)
            if reason is not None:
                load = sample.AsicLoad(miner=miner.label, available=False,
                                       instance=miner.instance)
            self._note(polled, reason)
            polled.replies = {}  # not kept until the next cycle
            draft.asics.append(load)
