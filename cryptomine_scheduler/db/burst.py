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

from cryptomine_scheduler import burst
from cryptomine_scheduler import tiers
from cryptomine_scheduler.db import models

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
        return dataclasses.asdict(self)


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


def _hours(rows, start: float, end: float, cost: bool = False) -> float:
    """Hours of ``rows`` (stays) within ``[start, end]``, each times its
    cost with ``cost``."""
    total = 0.0
    for row in rows:
        seconds = max(0.0, min(row.end if row.end is not None else end,
                               end) - max(row.start, start))
        total += seconds * ((row.cost_per_hour or 0.0) if cost else 1.0)
    return total / HOUR


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
        kept = set()
        for row in conn.execute(_open(table)).mappings():
            values = seen.get(row[key])
            if values is not None and all(row[k] == v
                                          for k, v in values.items()):
                kept.add(row[key])
            else:
                conn.execute(table.update().where(table.c.id == row['id'])
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
            period = [conn.execute(t.select().where(
                sa.or_(t.c.end.is_(None), t.c.end > since),
                t.c.start < now)).all() for t in (stays, hosts)]
            released = conn.execute(
                sa.select(r.host, r.cost_per_hour, r.empty_since,
                          r.released_at)
                .where(r.ended_at.is_(None))).all()
            empty = self._empty(conn)
        found: dict[str, HostStatus] = {}
        for row in current:
            before = found.get(row.host)
            found[row.host] = HostStatus(
                row.host, row.tier, row.cost_per_hour,
                1 + (before.instances if before else 0))
        for row in held:
            found.setdefault(row.host, HostStatus(
                row.host, tiers.Tier.BURST.value, row.cost_per_hour, 0))
        for host, since_ in empty.items():
            if host in found:
                found[host] = dataclasses.replace(found[host],
                                                  empty_since=since_)
        for row in released:
            found[row.host] = HostStatus(
                row.host, tiers.Tier.BURST.value, row.cost_per_hour, 0,
                row.empty_since, row.released_at)
        on_burst = [s for s in period[0] if s.tier == tiers.TIER_BURST]
        return Status(
            generated_at=now, since=since,
            hosts=tuple(found[h] for h in sorted(found)),
            cost_per_hour=sum(row.cost_per_hour for row in held),
            cost=_hours(period[1], since, now, cost=True),
            burst_host_hours=_hours(period[1], since, now),
            burst_instance_hours=_hours(on_burst, since, now))

    @staticmethod
    def _empty(conn) -> dict[str, float]:
        t = models.burst_empty_hosts.c
        return dict(conn.execute(sa.select(t.host, t.since)).all())

    def totals(self, now: float | None = None) -> Totals:
        """Since the history began."""
        now = self._clock() if now is None else now
        status = self.status(0.0, now)
        with self.engine.connect() as conn:
            releases = conn.execute(sa.select(sa.func.count()).select_from(
                models.burst_releases)).scalar_one()
        return Totals(
            hosts_held=sum(1 for h in status.hosts
                           if h.tier == tiers.TIER_BURST
                           and h.released_at is None),
            cost_per_hour=status.cost_per_hour,
            burst_host_hours=status.burst_host_hours, cost=status.cost,
            burst_instance_hours=status.burst_instance_hours,
            releasable=sum(1 for h in status.hosts
                           if h.released_at is not None),
            releases=releases)
