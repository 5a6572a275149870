"""Migrations through nova's API: the executor's
:class:`~cryptomine_scheduler.replan.executor.Migrator` for a real cloud."""

from keystoneauth1 import exceptions as ks_exceptions
from openstack import connection as connection_mod
from openstack import exceptions as sdk_exceptions

from cryptomine_scheduler.replan.executor import MigrationError
from cryptomine_scheduler.replan.executor import MigrationState
from cryptomine_scheduler.replan.executor import Progress

#: nova migration statuses of a migration that did not happen.
_MIGRATION_FAILED = ('error', 'failed', 'cancelled', 'reverted')
#: nova migration statuses of a migration that ended where it was sent.
_MIGRATION_DONE = ('completed', 'confirmed')
#: What a call to nova can raise: openstacksdk's errors, and the
#: transport and authentication errors of keystoneauth it lets through.
_API_ERRORS = (sdk_exceptions.SDKException, ks_exceptions.ClientException)
#: nova instance actions of a live and of a cold migration.
_ACTIONS = {True: 'live-migration', False: 'migrate'}


def _unavailable(exc: Exception) -> bool:
    """Whether ``exc`` says nova's API failed to answer (no answer, a
    server error, credentials refused) rather than that it refused."""
    status = (getattr(exc, 'status_code', None)
              or getattr(exc, 'http_status', None))
    return not status or status >= 500 or status in (401, 403)


class OpenStackMigrator:
    """Migrates through nova's API (openstacksdk, as an admin).

    A live migration goes to the planned host with
    ``block_migration='auto'`` and is not forced: nova's scheduler still
    checks the host.  A cold migration (``migrate`` to the host) is
    confirmed as soon as the server is in ``VERIFY_RESIZE``.  A migration
    is done when the server is ACTIVE on the destination with no task and
    nova's migration record has ended (nova moves the server first, so a
    move is never reported before nova's own record says it), and
    has failed when its task ended elsewhere, or the server went to ERROR;
    the reason is the error nova recorded in the server's action, else the
    status of its migration record.
    """

    def __init__(self, conn: connection_mod.Connection):
        self._conn = conn
        #: instance -> (live?, ids of its migrations before ours)
        self._started: dict[str, tuple[bool, frozenset[str]]] = {}

    @property
    def _compute(self):
        # Looked up at first use (it asks nova for its API versions), so
        # that a controller starts while nova is unreachable.
        return self._conn.compute

    def _migrations(self, instance: str) -> list:
        return list(self._compute.migrations(server_id=instance))

    def start(self, instance: str, destination: str, live: bool) -> None:
        try:
            earlier = frozenset(m.id for m in self._migrations(instance))
            if live:
                self._compute.live_migrate_server(
                    instance, host=destination, force=False,
                    block_migration='auto')
            else:
                self._compute.migrate_server(instance, host=destination)
        except _API_ERRORS as exc:
            raise MigrationError(str(exc), _unavailable(exc)) from exc
        self._started[instance] = (live, earlier)

    def abort(self, instance: str) -> None:
        live, earlier = self._started[instance]
        if not live:
            raise MigrationError('nova aborts live migrations only')
        try:
            running = [m for m in self._migrations(instance)
                       if m.id not in earlier
                       and m.status not in _MIGRATION_FAILED + ('completed',)]
            for migration in running:
                self._compute.abort_server_migration(migration.id, instance)
        except _API_ERRORS as exc:
            raise MigrationError(str(exc)) from exc

    def progress(self, instance: str, source: str,
                 destination: str) -> Progress:
        live, earlier = self._started[instance]
        try:
            server = self._compute.get_server(instance)
            ours = [m for m in self._migrations(instance)
                    if m.id not in earlier]
            migration = max(ours, key=lambda m: m.created_at, default=None)
            result = self._judge(server, migration, destination, live)
        except sdk_exceptions.NotFoundException:
            result = Progress(MigrationState.FAILED, 'server deleted')
        except _API_ERRORS as exc:
            raise MigrationError(str(exc)) from exc
        if result.state is not MigrationState.RUNNING:
            del self._started[instance]
        return result

    def _judge(self, server, migration, destination: str,
               live: bool) -> Progress:
        if server.status == 'ERROR':
            fault = (server.fault or {}).get('message')
            return Progress(MigrationState.FAILED,
                            f'server went to ERROR: {fault or "no fault"}')
        if server.task_state:
            return Progress(MigrationState.RUNNING)
        if server.status == 'VERIFY_RESIZE':
            if migration is not None and migration.status == 'finished':
                self._compute.confirm_server_resize(server)
            return Progress(MigrationState.RUNNING)
        ended = migration is None or migration.status in (
            _MIGRATION_DONE + _MIGRATION_FAILED)
        if not ended:
            # Nova updates the server before the migration record.
            return Progress(MigrationState.RUNNING)
        if server.compute_host == destination and server.status == 'ACTIVE':
            return Progress(MigrationState.DONE)
        return Progress(MigrationState.FAILED,
                        self._reason(server, migration, live))

    def _reason(self, server, migration, live: bool) -> str:
        """nova's error of the migration, as precisely as it tells."""
        action = next((a for a in self._compute.server_actions(server)
                       if a.action == _ACTIONS[live]), None)
        if action is not None:
            events = self._compute.get_server_action(
                action.request_id, server).events or ()
            for event in events:
                if event.result == 'Error' and event.details:
                    return f'{event.event}: {event.details}'
        status = migration.status if migration is not None else 'none'
        return (f'migration {status}; the server is {server.status} on '
                f'{server.compute_host}')
