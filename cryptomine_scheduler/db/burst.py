"""The burst tier in the database: stays, held, empty and released
burst hosts, and what they add up to (:class:`Status`).

:meth:`BurstStore.record` writes one look at the cluster in one
transaction: a stay whose instance moved (or whose host changed tier or
cost) ends at the look and the new one starts there; an instance no
longer seen ends its stay.  Between looks nothing is written, so a
controller that stops keeps every stay it committed, and the next look
(of any controller) carries on from the open rows.
"""

import dataclasses
import time
from collections.abc import Callable
from collections.abc import Mapping

import sqlalchemy as sa

from cryptomine_scheduler.db import models
from cryptomine_scheduler.placement import burst
from cryptomine_scheduler.placement import tiers

HOUR = 3600.0


@dataclasses.dataclass(frozen=True)
class HostStatus:
    """A host of the status: its tier, cost, instances; when a burst
    host has been empty and was released (None: not)."""

    host: str
    tier: str
    cost_per_hour: float | None
    instances: int
    empty_since: float | None = None
    released_at: float | None = None


@dataclasses.dataclass(frozen=True)
class Status:
    """The burst tier now, and over ``[since, generated_at]``.

    ``hosts`` are those running instances, and every burst host held or
    released; ``cost_per_hour`` is what the burst hosts held cost now;
    ``cost``, ``burst_host_hours`` and ``burst_instance_hours`` are over
    the period.
    """

    generated_at: float
    since: float
    hosts: tuple[HostStatus, ...]
    cost_per_hour: float
    cost: float
    burst_host_hours: float
    burst_instance_hours: float

    def wire(self) -> dict:
        """As JSON has it (lists, not tuples)."""
        return {**dataclasses.asdict(self),
                'hosts': [dataclasses.asdict(h) for h in self.hosts]}


@dataclasses.dataclass(frozen=True)
class Totals:
    """Everything the history holds, for the Prometheus counters."""

    hosts_held: int
    cost_per_hour: float
    burst_host_hours: float
    cost: float
    burst_instance_hours: float
    releasable: int
    releases: int


def _open(table):
    return table.select().where(table.c.end.is_(None))


def _hours(conn, table, since: float, now: float, *where,
           cost: bool = False) -> float:
    """Hours of the stays of ``table`` within ``[since, now]``, each
    times its cost with ``cost``."""
    since_, now_ = sa.literal(since, sa.Float), sa.literal(now, sa.Float)
    end = sa.func.coalesce(table.c.end, now_)
    seconds = (sa.case((end < now_, end), else_=now_)
               - sa.case((table.c.start > since_, table.c.start),
                         else_=since_))
    if cost:
        seconds = seconds * sa.func.coalesce(table.c.cost_per_hour, 0.0)
    total = conn.execute(sa.select(sa.func.sum(seconds)).where(
        sa.or_(table.c.end.is_(None), table.c.end > since_),
        table.c.start < now_, *where)).scalar()
    return (total or 0.0) / HOUR


class BurstStore:
    """The burst tables, on the history store's engine."""

    def __init__(self, engine: sa.Engine,
                 clock: Callable[[], float] = time.time):
        self.engine = engine
        self._clock = clock

    def record(self, now: float, stays: Mapping[str, burst.Stay],
               held: Mapping[str, float],
               empty_since: Mapping[str, float]) -> None:
        """Write one look: instance stays, burst hosts held, and since
        when each empty burst host is empty."""
        with self.engine.begin() as conn:
            self._carry(conn, models.tier_stays, 'instance', now, {
                instance: {'host': s.host, 'tier': s.tier.value,
                           'cost_per_hour': s.cost_per_hour}
                for instance, s in stays.items()})
            self._carry(conn, models.burst_host_stays, 'host', now, {
                host: {'cost_per_hour': cost} for host, cost in held.items()})
            conn.execute(models.burst_empty_hosts.delete())
            if empty_since:
                conn.execute(models.burst_empty_hosts.insert(), [
                    {'host': h, 'since': s} for h, s in empty_since.items()])

    @staticmethod
    def _carry(conn, table, key: str, now: float,
               seen: Mapping[str, dict]) -> None:
        """End the open rows of ``table`` whose ``key`` is not ``seen``
        with the same values; start a row for each ``seen`` without."""
        kept, ended = set(), []
        for row in conn.execute(_open(table)).mappings().all():
            values = seen.get(row[key])
            if values is not None and all(row[k] == v
                                          for k, v in values.items()):
                kept.add(row[key])
            else:
                ended.append(row['id'])
        if ended:
            conn.execute(table.update().where(table.c.id.in_(ended))
                         .values(end=now))
        new = [{key: name, 'start': now, **values}
               for name, values in seen.items() if name not in kept]
        if new:
            conn.execute(table.insert(), new)

    def empty_since(self) -> dict[str, float]:
        """Since when each empty burst host is empty."""
        with self.engine.connect() as conn:
            return self._empty(conn)

    def open_releases(self) -> tuple[str, ...]:
        """Hosts released and not enabled again."""
        r = models.burst_releases.c
        with self.engine.connect() as conn:
            return tuple(conn.execute(
                sa.select(r.host).where(r.ended_at.is_(None))
                .order_by(r.host)).scalars())

    def released(self, release: burst.Release, now: float,
                 controller: str) -> None:
        """Record ``release``: the host is no longer held nor empty."""
        s = models.burst_host_stays.c
        with self.engine.begin() as conn:
            conn.execute(models.burst_releases.insert(), {
                'host': release.host,
                'cost_per_hour': release.cost_per_hour,
                'empty_since': release.empty_since, 'released_at': now,
                'controller': controller, 'reason': release.reason})
            conn.execute(models.burst_host_stays.update()
                         .where(s.host == release.host, s.end.is_(None))
                         .values(end=now))
            conn.execute(models.burst_empty_hosts.delete().where(
                models.burst_empty_hosts.c.host == release.host))

    def end_release(self, host: str, now: float, why: str) -> None:
        """The host's release ended: enabled again, or removed."""
        r = models.burst_releases.c
        with self.engine.begin() as conn:
            conn.execute(models.burst_releases.update()
                         .where(r.host == host, r.ended_at.is_(None))
                         .values(ended_at=now, ended=why))

    def releases(self) -> list[dict]:
        """Every release, oldest first."""
        with self.engine.connect() as conn:
            return [{str(k): v for k, v in row.items()} for row in
                    conn.execute(models.burst_releases.select().order_by(
                        models.burst_releases.c.id)).mappings()]

    def stays(self, instance: str | None = None) -> list[dict]:
        """The tier stays (of ``instance``), oldest first."""
        t = models.tier_stays
        query = t.select().order_by(t.c.id)
        if instance is not None:
            query = query.where(t.c.instance == instance)
        with self.engine.connect() as conn:
            return [{str(k): v for k, v in row.items()}
                    for row in conn.execute(query).mappings()]

    def status(self, since: float, now: float | None = None) -> Status:
        """The tier now, and over ``[since, now]``."""
        now = self._clock() if now is None else now
        stays, hosts = models.tier_stays, models.burst_host_stays
        r = models.burst_releases.c
        with self.engine.connect() as conn:
            current = conn.execute(_open(stays)).all()
            held = conn.execute(_open(hosts)).all()
            released = conn.execute(
                sa.select(r.host, r.cost_per_hour, r.empty_since,
                          r.released_at)
                .where(r.ended_at.is_(None))).all()
            empty = self._empty(conn)
            cost = _hours(conn, hosts, since, now, cost=True)
            host_hours = _hours(conn, hosts, since, now)
            instance_hours = _hours(conn, stays, since, now,
                                    stays.c.tier == tiers.TIER_BURST)
        found: dict[str, HostStatus] = {}
        for row in current:
            before = found.get(row.host)
            found[row.host] = HostStatus(
                row.host, row.tier, row.cost_per_hour,
                1 + (before.instances if before else 0))
        for row in held:
            found.setdefault(row.host, HostStatus(
                row.host, tiers.TIER_BURST, row.cost_per_hour, 0))
        for host, since_ in empty.items():
            if host in found:
                found[host] = dataclasses.replace(found[host],
                                                  empty_since=since_)
        for row in released:
            found[row.host] = HostStatus(
                row.host, tiers.TIER_BURST, row.cost_per_hour, 0,
                row.empty_since, row.released_at)
        return Status(
            generated_at=now, since=since,
            hosts=tuple(found[h] for h in sorted(found)),
            cost_per_hour=sum(row.cost_per_hour for row in held),
            cost=cost, burst_host_hours=host_hours,
            burst_instance_hours=instance_hours)

    @staticmethod
    def _empty(conn) -> dict[str, float]:
        t = models.burst_empty_hosts.c
        return dict(conn.execute(sa.select(t.host, t.since)).all())

    def totals(self, now: float | None = None) -> Totals:
        """Since the history began, by SQL sums (a scrape reads no
        rows)."""
        now = self._clock() if now is None else now
        stays, hosts = models.tier_stays, models.burst_host_stays
        r = models.burst_releases.c
        with self.engine.connect() as conn:
            open_hosts = conn.execute(sa.select(
                sa.func.count(), sa.func.sum(hosts.c.cost_per_hour))
                .where(hosts.c.end.is_(None))).one()
            releases = conn.execute(sa.select(
                sa.func.count(), sa.func.count(r.ended_at))).one()
            return Totals(
                hosts_held=open_hosts[0], cost_per_hour=open_hosts[1] or 0.0,
                burst_host_hours=_hours(conn, hosts, 0.0, now),
                cost=_hours(conn, hosts, 0.0, now, cost=True),
                burst_instance_hours=_hours(
                    conn, stays, 0.0, now, stays.c.tier == tiers.TIER_BURST),
                releasable=releases[0] - releases[1], releases=releases[0])
