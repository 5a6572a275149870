"""The load history store: samples in, rollups, retention, history out.

One :class:`HistoryStore` wraps one SQLAlchemy engine.  Writes happen in
one transaction per batch, so a crash mid-batch leaves the history as it
was before the batch (the messages are then redelivered and deduplicated
by ``(host, seq)``).
"""

import collections
import dataclasses
import itertools
import math
import operator
import os
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import command as alembic_command
from alembic import config as alembic_config
from alembic import migration as alembic_migration
from alembic import script as alembic_script
from oslo_log import log as logging
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from cryptomine_scheduler import exception
from cryptomine_scheduler.db import models
from cryptomine_scheduler.telemetry import sample as sample_mod

LOG = logging.getLogger(__name__)

ROLLUP_SECONDS = 300
#: Hosts whose last windows one query reads when the summaries are
#: rebuilt (their conditions joined by OR).
SILENT_HOSTS_PER_QUERY = 100
#: PostgreSQL advisory lock key held while the schema is migrated.
MIGRATION_LOCK = 0x63727970746f6d  # 'cryptom'


# Raised to RPC callers; defined where they need no database import.
UnknownHost = exception.UnknownHost
UnknownInstance = exception.UnknownInstance


@dataclasses.dataclass(frozen=True)
class AddResult:
    """Outcome of :meth:`HistoryStore.add_samples`."""

    stored: tuple[sample_mod.LoadSample, ...]
    duplicates: int
    #: the samples of the batch that were stored already (by another
    #: controller, or before a redelivery)
    known: tuple[sample_mod.LoadSample, ...] = ()


def is_store_failure(exc: Exception) -> bool:
    """Whether ``exc`` says the database failed (down, locked, disk full)
    rather than refused the data it was given."""
    return isinstance(exc, (sa.exc.OperationalError,
                            sa.exc.DisconnectionError)) or (
        isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated)


@dataclasses.dataclass(frozen=True)
class PurgeResult:
    """Rows removed by :meth:`HistoryStore.purge`, per table."""

    host_samples: int
    instance_samples: int
    gpu_samples: int
    asic_samples: int
    host_rollups: int
    instance_rollups: int
    gpu_rollups: int
    asic_rollups: int


@dataclasses.dataclass(frozen=True)
class History:
    """One metric of one host over time."""

    host: str
    metric: sample_mod.HostMetric
    resolution_seconds: int
    points: tuple[tuple[float, float], ...]


@dataclasses.dataclass(frozen=True)
class DeviceHistory:
    """One reading of each device of a kind on one host over time, by
    device (a GPU's index, a miner's address); a device that never gave
    the reading in the period has no entry."""

    host: str
    kind: sample_mod.DeviceKind
    metric: str
    resolution_seconds: int
    devices: dict[str, tuple[tuple[float, float], ...]]


@dataclasses.dataclass(frozen=True)
class InstanceDeviceHistory:
    """One reading of each device of a kind an instance held, by host
    and device (raw samples only: the rollups do not say who held a
    device)."""

    instance: str
    kind: sample_mod.DeviceKind
    metric: str
    devices: dict[tuple[str, str], tuple[tuple[float, float], ...]]


@dataclasses.dataclass(frozen=True)
class InstanceHistory:
    """One metric of one instance over time, with the host it ran on at
    each point (a move shows as a change of host)."""

    instance: str
    metric: sample_mod.InstanceMetric
    resolution_seconds: int
    points: tuple[tuple[float, str, float], ...]


def bucket_of(timestamp: float) -> int:
    """Return the start of the rollup period holding ``timestamp``."""
    return int(timestamp // ROLLUP_SECONDS) * ROLLUP_SECONDS


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute('PRAGMA journal_mode=WAL')
    cursor.execute('PRAGMA synchronous=FULL')
    cursor.execute('PRAGMA foreign_keys=ON')
    cursor.execute('PRAGMA busy_timeout=30000')
    cursor.close()


def create_engine(url: str) -> sa.Engine:
    """Create an engine; SQLite gets WAL mode and full fsync on commit,
    and a new database file is readable by its owner only."""
    engine = sa.create_engine(url, future=True)
    if engine.dialect.name == 'sqlite':
        _create_private(engine.url.database)
        sa.event.listen(engine, 'connect', _sqlite_pragmas)
    return engine


def _create_private(path: str | None) -> None:
    """Create the SQLite file ``path`` with mode 0600 unless it exists
    (SQLite gives its WAL and shared-memory files the same mode)."""
    if not path or path == ':memory:' or path.startswith('file:'):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


class SchemaMismatch(ValueError):
    """The database's schema is not the one this release uses."""


def _alembic_config() -> alembic_config.Config:
    cfg = alembic_config.Config()
    cfg.set_main_option('script_location', os.path.join(
        os.path.dirname(__file__), 'migrations'))
    return cfg


def _scripts() -> alembic_script.ScriptDirectory:
    return alembic_script.ScriptDirectory.from_config(_alembic_config())


def newest_revision() -> str:
    """The schema revision this release reads and writes."""
    return _scripts().get_current_head()


def _current_revision(connection) -> str | None:
    return alembic_migration.MigrationContext.configure(
        connection).get_current_revision()


def schema_revision(engine: sa.Engine) -> str | None:
    """The revision the database's schema is at; None when it has none
    (a new database)."""
    with engine.connect() as connection:
        return _current_revision(connection)


def _refuse_newer(current: str | None,
                  scripts: alembic_script.ScriptDirectory) -> None:
    """Raise :class:`SchemaMismatch` when a newer release upgraded the
    schema to ``current``, a revision this one does not know."""
    if current is not None and current not in {
            script.revision for script in scripts.walk_revisions()}:
        raise SchemaMismatch(
            f'the database schema is at revision {current}, which this '
            f'release does not know (it uses '
            f'{scripts.get_current_head()}): a newer release upgraded it')


def check_schema(engine: sa.Engine) -> None:
    """Raise :class:`SchemaMismatch` unless the schema is at
    :func:`newest_revision`, saying what to do."""
    current, newest = schema_revision(engine), newest_revision()
    if current == newest:
        return
    _refuse_newer(current, _scripts())
    found = ('has no schema yet' if current is None
             else f'schema is at revision {current}')
    raise SchemaMismatch(
        f'the database {found}, this release needs {newest}: run '
        f'"cryptomine-manage db sync" (or set [database] auto_upgrade = '
        f'true)')


def upgrade(engine: sa.Engine, revision: str = 'head') -> None:
    """Bring the schema to the newest alembic revision (or ``revision``).

    On PostgreSQL controllers starting together migrate one after the
    other (a transaction-scoped advisory lock): the next finds the schema
    up to date.  A schema a newer release upgraded is left as it is
    (:class:`SchemaMismatch`).
    """
    cfg = _alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == 'postgresql':
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(
                MIGRATION_LOCK)))
        _refuse_newer(_current_revision(connection),
                      alembic_script.ScriptDirectory.from_config(cfg))
        cfg.attributes['connection'] = connection
        alembic_command.upgrade(cfg, revision)


def insert_ignoring_duplicates(engine: sa.Engine, table: sa.Table):
    """An insert into ``table`` that skips rows whose key is stored."""
    name = engine.dialect.name
    if name == 'sqlite':
        return sqlite.insert(table).on_conflict_do_nothing()
    if name == 'postgresql':
        return postgresql.insert(table).on_conflict_do_nothing()
    return sa.insert(table).prefix_with('IGNORE')


class _SomeStored(Exception):
    """Some samples of a batch are stored already."""


class _DriverInsert:
    """An insert skipping duplicates, compiled once and run by the
    database driver itself on plain rows: SQLAlchemy's processing of
    each row's parameters cost more CPU than the driver's insert."""

    def __init__(self, engine: sa.Engine, table: sa.Table):
        compiled = insert_ignoring_duplicates(engine, table).compile(
            dialect=engine.dialect,
            column_keys=[column.name for column in table.columns])
        self._sql = str(compiled)
        self._positional = (operator.itemgetter(*compiled.positiontup)
                            if compiled.positional else None)

    def execute(self, conn: sa.Connection, rows: list[dict]) -> int:
        """Insert ``rows``; return how many the database wrote."""
        if not rows:
            return 0
        if self._positional is not None:
            rows = list(map(self._positional, rows))
        return conn.exec_driver_sql(self._sql, rows).rowcount


_PART_TABLES = (models.instance_samples, models.gpu_samples,
                models.asic_samples)


def _key(host_id: int, seq: int, s: sample_mod.LoadSample) -> dict:
    return {'host_id': host_id, 'seq': seq, 'ts': s.timestamp,
            'bucket': bucket_of(s.timestamp)}


def _host_rows(samples: dict[tuple[int, int], sample_mod.LoadSample]
               ) -> list[dict]:
    """The ``host_samples`` rows of ``{(host_id, seq): sample}``."""
    # vars() of the flat dataclasses: asdict deep-copies, ~5x slower.
    return [{**_key(host_id, seq, s), 'rolled_up': False,
             **vars(s.host_load), **vars(s.sensors)}
            for (host_id, seq), s in samples.items()]


def _part_rows(samples: dict[tuple[int, int], sample_mod.LoadSample]
               ) -> dict[sa.Table, list[dict]]:
    """The rows of the instance, GPU and ASIC tables of ``samples``."""
    rows: dict[sa.Table, list[dict]] = {t: [] for t in _PART_TABLES}
    for (host_id, seq), s in samples.items():
        if not (s.instances or s.gpus or s.asics):
            continue
        key = _key(host_id, seq, s)
        rows[models.instance_samples].extend(
            {**key, 'instance_uuid': i.uuid, 'cpu_percent': i.cpu_percent,
             'rss_mb': i.rss_mb} for i in s.instances)
        rows[models.gpu_samples].extend(
            {**key, **vars(g), 'instances': ','.join(g.instances)}
            for g in s.gpus)
        rows[models.asic_samples].extend(
            {**key, **vars(a)} for a in s.asics)
    return rows


@dataclasses.dataclass(frozen=True)
class _Rollup:
    """How one rollup table is computed from one raw table."""

    table: sa.Table
    source: sa.Table
    keys: tuple[str, ...]
    metrics: tuple[str, ...]


_ROLLUPS = (
    _Rollup(models.host_rollups, models.host_samples, ('host_id', 'bucket'),
            models.HOST_METRICS),
    _Rollup(models.instance_rollups, models.instance_samples,
            ('instance_uuid', 'host_id', 'bucket'), models.INSTANCE_METRICS),
    _Rollup(models.gpu_rollups, models.gpu_samples,
            ('index', 'host_id', 'bucket'), models.GPU_ROLLUP_METRICS),
    _Rollup(models.asic_rollups, models.asic_samples,
            ('miner', 'host_id', 'bucket'), models.ASIC_ROLLUP_METRICS),
)


# Each kind of device: its raw table, its rollups, the device's column.
_DEVICE_TABLES = {
    sample_mod.DeviceKind.GPU: (models.gpu_samples, models.gpu_rollups,
                                'index'),
    sample_mod.DeviceKind.ASIC: (models.asic_samples, models.asic_rollups,
                                 'miner'),
}


def _history_source(raw: sa.Table, rollups: sa.Table, metric: str,
                    host_id: int, since: float, raw_since: float
                    ) -> tuple[sa.Column, sa.Column, sa.ColumnElement, int]:
    """Where a host's history from ``since`` comes from: raw samples
    within their window (``since >= raw_since``), else the 5-minute
    means; the time and value columns, the rows' condition (by host and
    bucket, as the tables are indexed) and the resolution."""
    if since >= raw_since:
        return raw.c.ts, raw.c[metric], sa.and_(
            raw.c.host_id == host_id, raw.c.bucket >= bucket_of(since),
            raw.c.ts >= since), 0
    # An integer bound, as the buckets are: the index then covers it.
    return rollups.c.bucket, rollups.c[metric + '_mean'], sa.and_(
        rollups.c.host_id == host_id,
        rollups.c.bucket >= math.ceil(since)), ROLLUP_SECONDS


def _host_id(conn, host: str) -> int:
    """The stored host's ID; UnknownHost if none is stored."""
    host_id = conn.execute(sa.select(models.hosts.c.id)
                           .where(models.hosts.c.name == host)).scalar()
    if host_id is None:
        raise UnknownHost(host)
    return host_id


def _record(cls, row, **fixed):
    """Build dataclass ``cls`` from the same-named columns of ``row``."""
    return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)
                  if f.name not in fixed}, **fixed)


def _rows_by_sample(conn, query: sa.Select) -> dict:
    """The rows ``query`` selects of a part table, by (host_id, seq)."""
    grouped = collections.defaultdict(list)
    for row in conn.execute(query).mappings():
        grouped[(row['host_id'], row['seq'])].append(row)
    return grouped


def _since(since: float) -> Callable[[sa.Table], sa.Select]:
    """The rows of a sample table newer than ``since``."""
    return lambda table: sa.select(table).where(table.c.ts >= since)


def _host_names(conn) -> dict[int, str]:
    """Every host's name by its id."""
    return dict(conn.execute(sa.select(models.hosts.c.id,
                                       models.hosts.c.name)).all())


def _silent_hosts(conn, now: float, window: float
                  ) -> list[tuple[int, float]]:
    """``(host_id, newest sample's time)`` of each host silent for over
    ``window`` seconds at ``now``: an index lookup per host, not a pass
    over the history."""
    raw = models.host_samples
    newest = (sa.select(sa.func.max(raw.c.ts))
              .where(raw.c.host_id == models.hosts.c.id)
              .scalar_subquery())
    return [tuple(row) for row in conn.execute(
        sa.select(models.hosts.c.id, newest)
        .where(newest < now - window))]


def _in_chunks(silent: list[tuple[int, float]]
               ) -> Iterator[list[tuple[int, float]]]:
    """``silent`` hosts in groups that one query reads."""
    for first in range(0, len(silent), SILENT_HOSTS_PER_QUERY):
        yield silent[first:first + SILENT_HOSTS_PER_QUERY]


def _buckets_within(table: sa.Table, start: float, end: float):
    """The rollups of ``table`` whose buckets lie in [start, end)."""
    return sa.and_(table.c.bucket >= math.ceil(start),
                   table.c.bucket <= math.floor(end) - ROLLUP_SECONDS)


def _last_windows(silent: Sequence[tuple[int, float]], window: float
                  ) -> Callable[[sa.Table], sa.Select]:
    """The rows of a sample table of each ``(host_id, newest)`` of
    ``silent`` within ``window`` seconds of its newest.  The bucket
    bound follows from the time's; it lets the indexes on (host_id,
    bucket) read only the window."""
    def rows(table: sa.Table) -> sa.Select:
        return sa.select(table).where(sa.or_(*(
            sa.and_(table.c.host_id == host_id,
                    table.c.ts >= newest - window,
                    table.c.bucket >= bucket_of(newest - window))
            for host_id, newest in silent)))
    return rows


def _samples(conn, names: dict[int, str],
             rows: Callable[[sa.Table], sa.Select]
             ) -> Iterator[sample_mod.LoadSample]:
    """The samples whose rows ``rows`` selects, oldest first."""
    parts = {table: _rows_by_sample(
        conn, rows(table).order_by(*table.primary_key.columns))
        for table in _PART_TABLES}
    raw = models.host_samples
    for row in conn.execute(rows(raw).order_by(raw.c.ts, raw.c.seq)
                            ).mappings():
        key = (row['host_id'], row['seq'])
        yield sample_mod.LoadSample(
            host=names[row['host_id']], seq=row['seq'], timestamp=row['ts'],
            host_load=_record(sample_mod.HostLoad, row),
            sensors=_record(sample_mod.HostSensors, row),
            instances=tuple(
                sample_mod.InstanceLoad(r['instance_uuid'],
                                        r['cpu_percent'], r['rss_mb'])
                for r in parts[models.instance_samples].get(key, ())),
            gpus=tuple(
                _record(sample_mod.GpuLoad, r, instances=tuple(
                    filter(None, r['instances'].split(','))))
                for r in parts[models.gpu_samples].get(key, ())),
            asics=tuple(_record(sample_mod.AsicLoad, r)
                        for r in parts[models.asic_samples].get(key, ())))


def _rollup_select(table: sa.Table, keys, metrics, dirty):
    aggregates = []
    for name in metrics:
        aggregates.append(sa.func.avg(table.c[name]))
        aggregates.append(sa.func.max(table.c[name]))
    key_columns = [table.c[k] for k in keys]
    return (sa.select(*key_columns, sa.func.count(), *aggregates)
            .where(sa.tuple_(table.c.host_id, table.c.bucket).in_(dirty))
            .group_by(*key_columns))


def _rollup_columns(keys, metrics):
    return [*keys, 'samples',
            *(f'{m}_{agg}' for m in metrics for agg in ('mean', 'max'))]


class HistoryStore:
    """Load history in a SQL database."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self._host_ids: dict[str, int] = {}
        self._inserts = {table: _DriverInsert(engine, table)
                         for table in (models.host_samples, *_PART_TABLES)}
        self._expect_stored = False

    @classmethod
    def open(cls, url: str, auto_upgrade: bool = True) -> 'HistoryStore':
        """Connect to ``url`` and migrate its schema to the newest one;
        without ``auto_upgrade``, raise :class:`SchemaMismatch` unless it
        is the newest already."""
        engine = create_engine(url)
        try:
            if auto_upgrade:
                upgrade(engine)
            else:
                check_schema(engine)
        except SchemaMismatch:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def _ensure_hosts(self, conn, names, now) -> None:
        # Sorted, as the samples below: controllers storing the same
        # samples at once lock the same rows in the same order, never in
        # a cycle (a deadlock).
        missing = sorted(n for n in names if n not in self._host_ids)
        if not missing:
            return
        conn.execute(
            insert_ignoring_duplicates(self.engine, models.hosts),
            [{'name': n, 'created_at': now} for n in missing])
        rows = conn.execute(
            sa.select(models.hosts.c.name, models.hosts.c.id)
            .where(models.hosts.c.name.in_(missing)))
        self._host_ids.update((name, id_) for name, id_ in rows)

    def _existing_keys(self, conn, keys) -> set[tuple[int, int]]:
        table = models.host_samples
        rows = conn.execute(
            sa.select(table.c.host_id, table.c.seq)
            .where(sa.tuple_(table.c.host_id, table.c.seq).in_(keys)))
        return {(host_id, seq) for host_id, seq in rows}

    def add_samples(self, samples: Sequence[sample_mod.LoadSample],
                    now: float) -> AddResult:
        """Store new samples in one transaction; skip seen (host, seq).

        A batch is first inserted as if none of its samples were stored
        yet, one statement per table; if the database skipped some host
        rows (a batch redelivered, a buffer replayed), that transaction
        is rolled back and the batch stored again without the samples
        found stored.  After a batch with stored samples the next one
        looks them up first: a controller consuming its own copy of the
        stream behind a peer finds most samples stored.
        """
        if not self._expect_stored:
            try:
                return self._add(samples, now, look_up=False)
            except _SomeStored:
                pass
        result = self._add(samples, now, look_up=True)
        self._expect_stored = bool(result.known)
        return result

    def _add(self, samples: Sequence[sample_mod.LoadSample], now: float,
             look_up: bool) -> AddResult:
        with self.engine.begin() as conn:
            try:
                self._ensure_hosts(conn, {s.host for s in samples}, now)
                unique: dict[tuple[int, int], sample_mod.LoadSample] = {}
                for s in samples:
                    unique.setdefault((self._host_ids[s.host], s.seq), s)
                unique = dict(sorted(unique.items(), key=lambda i: i[0]))
                fresh = unique
                if look_up:
                    existing = self._existing_keys(conn, list(unique))
                    fresh = {k: s for k, s in unique.items()
                             if k not in existing}
                inserted = self._inserts[models.host_samples].execute(
                    conn, _host_rows(fresh))
                if inserted < len(fresh) and not look_up:
                    raise _SomeStored()
                for table, table_rows in _part_rows(fresh).items():
                    self._inserts[table].execute(conn, table_rows)
            except Exception:
                # The ids cached in this transaction may be rolled back.
                self._host_ids.clear()
                raise
        return AddResult(stored=tuple(fresh.values()),
                         duplicates=len(samples) - len(fresh),
                         known=tuple(s for k, s in unique.items()
                                     if k not in fresh))

    def roll_up(self, now: float) -> int:
        """Recompute the rollups of every closed bucket with new samples.

        Returns how many (host, bucket) pairs were recomputed.
        """
        raw = models.host_samples
        with self.engine.begin() as conn:
            dirty_rows = conn.execute(
                sa.select(raw.c.host_id, raw.c.bucket).distinct()
                .where(raw.c.rolled_up.is_(False),
                       raw.c.bucket < bucket_of(now))).all()
            if not dirty_rows:
                return 0
            dirty = [tuple(r) for r in dirty_rows]
            for rollup in _ROLLUPS:
                table = rollup.table
                conn.execute(sa.delete(table).where(
                    sa.tuple_(table.c.host_id, table.c.bucket).in_(dirty)))
                conn.execute(sa.insert(table).from_select(
                    _rollup_columns(rollup.keys, rollup.metrics),
                    _rollup_select(rollup.source, rollup.keys,
                                   rollup.metrics, dirty)))
            conn.execute(sa.update(raw).where(
                sa.tuple_(raw.c.host_id, raw.c.bucket).in_(dirty))
                .values(rolled_up=True))
        return len(dirty)

    def purge(self, now: float, raw_retention: float,
              rollup_retention: float) -> PurgeResult:
        """Roll up, then delete raw samples and rollups past retention."""
        self.roll_up(now)
        raw_cutoff = now - raw_retention
        rollup_cutoff = now - rollup_retention
        with self.engine.begin() as conn:
            raw = models.host_samples
            counts = [conn.execute(sa.delete(raw).where(
                raw.c.ts < raw_cutoff, raw.c.rolled_up.is_(True))).rowcount]
            for rollup in _ROLLUPS[1:]:
                counts.append(conn.execute(sa.delete(rollup.source).where(
                    rollup.source.c.ts < raw_cutoff)).rowcount)
            for rollup in _ROLLUPS:
                counts.append(conn.execute(sa.delete(rollup.table).where(
                    rollup.table.c.bucket < rollup_cutoff)).rowcount)
        return PurgeResult(*counts)

    def history(self, host: str, metric: sample_mod.HostMetric,
                since: float, raw_since: float) -> History:
        """Return ``metric`` of ``host`` from ``since`` onwards.

        Raw samples answer when ``since`` is within the raw window
        (``since >= raw_since``); older requests get the 5-minute means.
        """
        with self.engine.connect() as conn:
            time, value, where, resolution = _history_source(
                models.host_samples, models.host_rollups, metric.value,
                _host_id(conn, host), since, raw_since)
            rows = conn.execute(sa.select(time, value).where(where)
                                .order_by(time))
            points = tuple((float(t), float(v)) for t, v in rows)
        return History(host, metric, resolution, points)

    def device_history(self, host: str, kind: sample_mod.DeviceKind,
                       metric: str, since: float, raw_since: float
                       ) -> DeviceHistory:
        """Return ``metric`` (one of ``DEVICE_METRICS[kind]``) of each
        device of ``kind`` on ``host`` from ``since`` onwards, raw or as
        5-minute means as :meth:`history` does."""
        raw, rollups, key = _DEVICE_TABLES[kind]
        with self.engine.connect() as conn:
            time, value, where, resolution = _history_source(
                raw, rollups, metric, _host_id(conn, host), since,
                raw_since)
            device = value.table.c[key]
            rows = conn.execute(
                sa.select(device, time, value)
                .where(where, value.is_not(None))
                .order_by(device, time))
            devices = {
                str(device): tuple((float(t), float(v)) for _, t, v in points)
                for device, points in itertools.groupby(
                    rows, operator.itemgetter(0))}
        return DeviceHistory(host, kind, metric, resolution, devices)

    def instance_history(self, instance: str,
                         metric: sample_mod.InstanceMetric, since: float,
                         raw_since: float) -> InstanceHistory:
        """Return ``metric`` of ``instance`` from ``since`` onwards, on
        whichever hosts it ran, raw or as 5-minute means as
        :meth:`history` does; UnknownInstance if no sample of it is
        stored at all."""
        raw, rollups = models.instance_samples, models.instance_rollups
        if since >= raw_since:
            table, time = raw, raw.c.ts
            where, resolution = time >= since, 0
            value = raw.c[metric.value]
        else:
            table, time = rollups, rollups.c.bucket
            where, resolution = time >= math.ceil(since), ROLLUP_SECONDS
            value = rollups.c[metric.value + '_mean']
        with self.engine.connect() as conn:
            self._known_instance(conn, instance)
            rows = conn.execute(
                sa.select(time, models.hosts.c.name, value)
                .join(models.hosts, models.hosts.c.id == table.c.host_id)
                .where(table.c.instance_uuid == instance, where)
                .order_by(time, models.hosts.c.name))
            points = tuple((float(t), host, float(v)) for t, host, v in rows)
        return InstanceHistory(instance, metric, resolution, points)

    def instance_device_history(self, instance: str,
                                kind: sample_mod.DeviceKind, metric: str,
                                since: float) -> InstanceDeviceHistory:
        """Return ``metric`` (one of ``DEVICE_METRICS[kind]``) of each
        device of ``kind`` that ``instance`` held, on whichever hosts it
        ran, from ``since`` onwards, as raw samples; UnknownInstance if
        no sample of it is stored at all."""
        raw, _, key = _DEVICE_TABLES[kind]
        held = (raw.c.instance == instance
                if kind is sample_mod.DeviceKind.ASIC else
                # A GPU's guests are stored joined by commas.
                (',' + raw.c.instances + ',').contains(f',{instance},',
                                                      autoescape=True))
        samples = models.instance_samples
        with self.engine.connect() as conn:
            self._known_instance(conn, instance)
            # The hosts it ran on, then their devices (as indexed).
            hosts = conn.execute(
                sa.select(samples.c.host_id).distinct()
                .where(samples.c.instance_uuid == instance,
                       samples.c.ts >= since)).scalars().all()
            rows = conn.execute(
                sa.select(models.hosts.c.name, raw.c[key], raw.c.ts,
                          raw.c[metric])
                .join(models.hosts, models.hosts.c.id == raw.c.host_id)
                .where(raw.c.host_id.in_(hosts),
                       raw.c.bucket >= bucket_of(since), raw.c.ts >= since,
                       raw.c[metric].is_not(None), held)
                .order_by(models.hosts.c.name, raw.c[key], raw.c.ts))
            devices = {
                (host, str(device)): tuple(
                    (float(t), float(v)) for *_, t, v in points)
                for (host, device), points in itertools.groupby(
                    rows, operator.itemgetter(0, 1))}
        return InstanceDeviceHistory(instance, kind, metric, devices)

    @staticmethod
    def _known_instance(conn, instance: str) -> None:
        """Raise UnknownInstance unless a sample of ``instance`` is
        stored, raw or rolled up."""
        if not any(conn.execute(
                sa.select(t.c.instance_uuid)
                .where(t.c.instance_uuid == instance).limit(1)).first()
                for t in (models.instance_samples, models.instance_rollups)):
            raise UnknownInstance(instance)

    def summary_samples(self, now: float, window: float
                        ) -> Iterator[sample_mod.LoadSample]:
        """Yield what summaries of ``window`` seconds hold at ``now``,
        oldest first: each host's samples within ``window`` of now, or,
        for a host silent for longer, of its newest sample (so a host
        whose collector stopped stays known, and stale, after a
        controller restart, until its samples pass ``raw_retention``)."""
        with self.engine.connect() as conn:
            names = _host_names(conn)
            older = []
            for chunk in _in_chunks(_silent_hosts(conn, now, window)):
                older += _samples(conn, names, _last_windows(chunk, window))
            # Each series oldest first, as ingest adds them: an instance
            # may have moved between two silent hosts.
            yield from sorted(older, key=lambda s: (s.timestamp, s.seq))
            yield from _samples(conn, names, _since(now - window))

    def miner_hashrates(self, now: float, window: float, span: float
                        ) -> dict[tuple[str, str], list[tuple[float, float]]]:
        """Each miner's mean hashrate per rollup over the ``span``
        seconds before the window :meth:`summary_samples` gives its host,
        ``{(host, miner): [(bucket's middle, GH/s), ...]}`` oldest first:
        what its baseline learnt before."""
        rollups = models.asic_rollups
        mean = rollups.c.hashrate_5s_ghs_mean
        found = collections.defaultdict(list)
        with self.engine.connect() as conn:
            names = _host_names(conn)
            silent = _silent_hosts(conn, now, window)
            quiet = {host_id for host_id, _ in silent}

            def read(where, keep=lambda host_id: True) -> None:
                for host_id, miner, bucket, hashrate in conn.execute(
                        sa.select(rollups.c.host_id, rollups.c.miner,
                                  rollups.c.bucket, mean)
                        .where(where, mean.is_not(None))
                        .order_by(rollups.c.bucket)):
                    if keep(host_id):
                        found[(names[host_id], miner)].append(
                            (bucket + ROLLUP_SECONDS / 2, hashrate))

            read(_buckets_within(rollups, now - window - span, now - window),
                 lambda host_id: host_id not in quiet)
            for chunk in _in_chunks(silent):
                read(sa.or_(*(_buckets_within(
                    rollups, newest - window - span, newest - window)
                    & (rollups.c.host_id == host_id)
                    for host_id, newest in chunk)))
        return dict(found)

    def stored_seqs(self) -> dict[str, list[int]]:
        """Return the stored sequence numbers of every host, sorted."""
        raw = models.host_samples
        seqs: dict[str, list[int]] = collections.defaultdict(list)
        with self.engine.connect() as conn:
            for name, seq in conn.execute(
                    sa.select(models.hosts.c.name, raw.c.seq)
                    .join(models.hosts, models.hosts.c.id == raw.c.host_id)
                    .order_by(models.hosts.c.name, raw.c.seq)):
                seqs[name].append(seq)
        return dict(seqs)
