"""An experiment's life: create, play, tear down.

:meth:`Runner.run` creates the experiment's flavors, keypair and one
server per guest (each written into the record before it is asked for),
waits for the boots, lets the players run for the experiment's duration,
reads nova's migration records of its servers, and tears everything
down: at the end, on an error, on Ctrl-C (SIGINT) and on SIGTERM.
:func:`teardown` also serves ``cryptomine experiment cleanup`` on the
record a killed run left.
"""

import collections
import contextlib
import dataclasses
import functools
import logging
import signal
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator

from openstack import connection

from cryptomine_scheduler.experiment import cloud
from cryptomine_scheduler.experiment import flavors as flavors_mod
from cryptomine_scheduler.experiment import record as record_mod
from cryptomine_scheduler.experiment import userdata
from cryptomine_scheduler.experiment import workload

LOG = logging.getLogger(__name__)
Kind = record_mod.Kind
State = record_mod.State
#: Server states a boot ends in.
BOOTED = ('ACTIVE', 'ERROR')


class Interrupted(Exception):
    """SIGTERM arrived (SIGINT raises KeyboardInterrupt)."""


class TeardownIncomplete(RuntimeError):
    """Some resources are still there; the record names them."""


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds between polls of nova, and the most a boot or the
    deletion of the servers may take."""

    poll: float = 5.0
    boot_timeout: float = 900.0
    delete_timeout: float = 600.0


def _raise_interrupted(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


@contextlib.contextmanager
def _handlers(handler, *signals: signal.Signals) -> Iterator[None]:
    """``signals`` call ``handler`` (in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for number, previous in before.items():
            signal.signal(number, previous)


def _ignore(signum, frame):
    LOG.warning('%s while tearing down: finishing the teardown first',
                signal.Signals(signum).name)


class Saver:
    """Saves a record to its file."""

    def __init__(self, record: record_mod.Record, path: str):
        self.record = record
        self.path = path

    def __call__(self) -> None:
        record_mod.save(self.record, self.path)

    def replace(self, old: record_mod.Resource,
                new: record_mod.Resource) -> record_mod.Resource:
        self.record.update(old, new)
        self()
        return new


class Runner:
    """One run of ``guests`` into the cloud of ``conn``; ``notify``
    hears each step (the CLI prints them)."""

    def __init__(self, conn: connection.Connection, saver: Saver,
                 guests: tuple[workload.Guest, ...],
                 mapping: flavors_mod.Mapping, timing: Timing = Timing(),
                 clock: Callable[[], float] = time.time,
                 notify: Callable[[str], None] = LOG.info):
        self.conn = conn
        self.saver = saver
        self.record = saver.record
        self.guests = guests
        self.mapping = mapping
        self.timing = timing
        self.clock = clock
        self.notify = notify

    def run(self) -> None:
        """The whole experiment; teardown always follows."""
        try:
            with _handlers(_raise_interrupted, signal.SIGTERM):
                self.create()
                self.play()
                self.record.migrations = self.nova_migrations()
                self.saver()
        finally:
            with _handlers(_ignore, signal.SIGINT, signal.SIGTERM):
                teardown(self.conn, self.saver, self.timing, self.notify)

    def nova_migrations(self) -> list[record_mod.MigrationRecord]:
        """nova's migration records of the run's servers."""
        return cloud.migrations(
            self.conn, {r.id for r in self.record.servers() if r.id})

    def _create(self, resource: record_mod.Resource,
                create: Callable[[], str]) -> record_mod.Resource:
        """Record ``resource``, create it, record its ID."""
        self.record.resources.append(resource)
        self.saver()
        return self.saver.replace(resource, dataclasses.replace(
            resource, id=create(), state=State.CREATED))

    def create(self) -> None:
        setup, name = self.record.setup, self.record.name
        flavor_ids = {}
        for spec in self.mapping.flavors:
            flavor_ids[spec.name] = self._create(
                record_mod.Resource(Kind.FLAVOR, f'{name}-{spec.name}'),
                functools.partial(cloud.create_flavor, self.conn,
                                  f'{name}-{spec.name}', spec)).id
        for guest in self.guests:
            if guest.flavor not in flavor_ids:
                flavor_ids[guest.flavor] = cloud.flavor_id(self.conn,
                                                           guest.flavor)
        key_name = None
        if setup.public_key:
            key_name = self._create(
                record_mod.Resource(Kind.KEYPAIR, name),
                functools.partial(cloud.create_keypair, self.conn, name,
                                  setup.public_key)).name
        image = cloud.image_id(self.conn, setup.image)
        network = cloud.networks(self.conn, setup.network)
        self.record.start_at = self.clock() + setup.warmup
        self.saver()
        hosts = setup.boot_hosts or {}
        for guest in self.guests:
            spec = self.mapping.created(guest.flavor)
            text = userdata.render(guest.schedule._replace(
                start_at=self.record.start_at))
            server = record_mod.Resource(
                Kind.SERVER, f'{name}-{guest.index:04d}',
                trace_index=guest.index, instance=guest.instance,
                memory_mb=float(spec.ram_mb if spec else 0.0))
            self._create(server, functools.partial(
                cloud.boot, self.conn, name=server.name, experiment=name,
                flavor=flavor_ids[guest.flavor], image=image,
                network=network, user_data=text, key_name=key_name,
                host=hosts.get(guest.instance)))
            self.notify(f'booting {server.name} ({guest.instance})')

    def _booted(self) -> None:
        """Wait until every server is ACTIVE or ERROR; record where."""
        deadline = self.clock() + self.timing.boot_timeout
        waiting = [r for r in self.record.servers() if r.status not in BOOTED]
        while waiting:
            states = cloud.server_states(self.conn, self.record.name)
            for server in waiting:
                state = states.get(server.id)
                if state is not None and state.status in BOOTED:
                    self.saver.replace(server, dataclasses.replace(
                        server, status=state.status, host=state.host,
                        fault=state.fault))
            waiting = [r for r in self.record.servers()
                       if r.status not in BOOTED]
            if waiting and self.clock() > deadline:
                raise TimeoutError(f'{len(waiting)} servers still booting '
                                   f'after {self.timing.boot_timeout:g} s')
            if waiting:
                time.sleep(self.timing.poll)
        counts = collections.Counter(r.status for r in self.record.servers())
        self.notify(', '.join(f'{n} {status}' for status, n in
                              sorted(counts.items())))

    def play(self) -> None:
        """Wait for the boots, then until the players are done."""
        self._booted()
        self._played(self.saver)

    def _played(self, saver: Saver) -> None:
        """Wait until the players of ``saver``'s record are done, then
        record when they ended."""
        end = saver.record.start_at + saver.record.setup.duration
        self.notify(f'playing until {time.ctime(end)}')
        # One clock reading a turn: the time left cannot turn negative
        # between the test and the sleep.
        while (left := end - self.clock()) > 0:
            time.sleep(min(self.timing.poll, left))
        saver.record.ended_at = self.clock()
        saver()


def _ids(conn: connection.Connection,
         resource: record_mod.Resource) -> list[str]:
    if resource.id is not None:
        return [resource.id]
    return cloud.find_ids(conn, resource.kind.value, resource.name)


def _delete_servers(conn: connection.Connection, saver: Saver,
                    timing: Timing) -> None:
    pending = {}
    for server in saver.record.left():
        if server.kind is Kind.SERVER:
            ids = _ids(conn, server)
            for server_id in ids:
                cloud.delete(conn, 'server', server_id)
            pending[server.name] = (server, ids)
    deadline = time.monotonic() + timing.delete_timeout
    while pending:
        existing = cloud.server_states(conn, saver.record.name)
        for name, (server, ids) in list(pending.items()):
            if not existing.keys() & set(ids):
                saver.replace(server, dataclasses.replace(
                    server, state=State.DELETED))
                del pending[name]
        if pending and time.monotonic() > deadline:
            return
        if pending:
            time.sleep(min(timing.poll, 1.0))


def teardown(conn: connection.Connection, saver: Saver,
             timing: Timing = Timing(),
             notify: Callable[[str], None] = LOG.info) -> None:
    """Delete what the record says may exist: servers first (waiting
    until they are gone), then keypair and flavors, newest first."""
    left = saver.record.left()
    if left:
        notify(f'deleting {len(left)} resources')
    _delete_servers(conn, saver, timing)
    for resource in reversed(saver.record.left()):
        if resource.kind is Kind.SERVER:
            continue
        for resource_id in _ids(conn, resource):
            cloud.delete(conn, resource.kind.value, resource_id)
        saver.replace(resource, dataclasses.replace(resource,
                                                    state=State.DELETED))
    left = saver.record.left()
    if left:
        raise TeardownIncomplete(
            'still there: ' + ', '.join(r.name for r in left)
            + f' (run "cryptomine experiment cleanup {saver.path}")')
