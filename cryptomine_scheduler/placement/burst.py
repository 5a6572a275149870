"""Burst hosts: what the cluster holds on each tier, and releasing the
burst hosts that stayed empty.

Each look at the cluster (:class:`Sweeper`, every ``[burst]
check_interval`` seconds on one controller at a time):

1. a released host that nova shows enabled again (the operator's choice)
   or no longer shows is no longer released;
2. every instance's host, tier and cost, and the burst hosts held (not
   released), are recorded in one transaction (:mod:`.db.burst`), so the
   history is precise to the interval and a crash loses no committed
   look;
3. a burst host that accepts instances (its compute service enabled and
   up) and has none is empty since the first look that saw it so; one
   empty for ``release_after`` seconds is released: its compute service
   is disabled with the reason :func:`reason`, the release is recorded,
   and ``cryptomine.burst.releasable`` is sent for the operator's
   provisioning.  A host enabled again counts from the first look after.

The rules are the pure functions :func:`observe` and :func:`due`.
"""

import dataclasses
import datetime
import time
from collections.abc import Callable
from collections.abc import Mapping

from oslo_log import log as logging

from cryptomine_scheduler.placement import tiers
from cryptomine_scheduler.replan import cluster as cluster_mod

LOG = logging.getLogger(__name__)
EVENT_TYPE = 'cryptomine.burst.releasable'
LOCK_NAME = b'cryptomine-burst'
REASON_PREFIX = 'cryptomine: burst host releasable since '
#: How a release ends.
RE_ENABLED = 're-enabled'
REMOVED = 'removed'


@dataclasses.dataclass(frozen=True)
class Stay:
    """Where an instance runs: its host, the host's tier and cost."""

    host: str
    tier: tiers.Tier
    cost_per_hour: float | None


@dataclasses.dataclass(frozen=True)
class Look:
    """What one look at the cluster found."""

    #: instance -> where it runs
    stays: dict[str, Stay]
    #: burst host not released -> its cost an hour
    held: dict[str, float]
    #: burst host accepting instances and running none -> its cost
    empty: dict[str, float]


@dataclasses.dataclass(frozen=True)
class Release:
    """A burst host found empty for long enough."""

    host: str
    cost_per_hour: float
    empty_since: float

    @property
    def reason(self) -> str:
        return reason(self.empty_since)

    def payload(self) -> dict:
        """The body of ``cryptomine.burst.releasable``."""
        return {'host': self.host, 'tier': tiers.Tier.BURST.value,
                'cost_per_hour': self.cost_per_hour,
                'empty_since': self.empty_since}


def reason(empty_since: float) -> str:
    """The compute service's disabled reason of a released host."""
    when = datetime.datetime.fromtimestamp(empty_since, datetime.UTC)
    return REASON_PREFIX + when.isoformat(timespec='seconds')


def observe(found: cluster_mod.Cluster, released: frozenset[str]) -> Look:
    """The stays, held and empty burst hosts of ``found``, the
    ``released`` hosts (still disabled) neither held nor empty."""
    hosts = {h.name: h for h in found.hosts}
    stays, occupied = {}, set()
    for server in found.servers:
        host = hosts.get(server.host)
        cost = None if host is None else host.burst_cost_per_hour
        stays[server.uuid] = Stay(server.host, tiers.tier_of(cost), cost)
        occupied.add(server.host)
    held = {h.name: h.burst_cost_per_hour for h in found.hosts
            if h.tier is tiers.Tier.BURST and h.name not in released}
    empty = {name: cost for name, cost in held.items()
             if name not in occupied and hosts[name].accepts_moves}
    return Look(stays, held, empty)


def due(empty: Mapping[str, float], since: Mapping[str, float],
        now: float, release_after: float
        ) -> tuple[dict[str, float], tuple[Release, ...]]:
    """Since when each empty host is empty (``since`` carried over, else
    ``now``), and those empty for ``release_after`` seconds or more."""
    empty_since = {host: since.get(host, now) for host in empty}
    return empty_since, tuple(
        Release(host, empty[host], start)
        for host, start in sorted(empty_since.items())
        if now - start >= release_after)


class Sweeper:
    """One look at the cluster at a time, on one controller at a time.

    ``cluster_source`` reads the cluster from nova, ``disable`` disables
    a host's compute service with a reason (False where it was disabled
    already; only hosts that accept instances are released), ``notify``
    sends a release's payload; ``lock`` is a :class:`~.replan.PlanningLock` on
    :data:`LOCK_NAME`.
    """

    def __init__(self, store, lock,
                 cluster_source: Callable[[], cluster_mod.Cluster],
                 disable: Callable[[str, str], bool],
                 notify: Callable[[dict], None], controller: str,
                 release_after: float, release: bool = True,
                 clock: Callable[[], float] = time.time):
        self._store = store
        self._lock = lock
        self._cluster_source = cluster_source
        self._disable = disable
        self._notify = notify
        self._controller = controller
        self._release_after = release_after
        self._release = release
        self._clock = clock

    def sweep(self) -> tuple[Release, ...] | None:
        """Look once; the hosts released, None while another controller
        looks."""
        if not self._lock.acquire():
            LOG.debug('Burst look skipped: another controller looks')
            return None
        try:
            return self._sweep()
        finally:
            self._lock.release()

    def _sweep(self) -> tuple[Release, ...]:
        found = self._cluster_source()
        now = self._clock()
        hosts = {h.name: h for h in found.hosts}
        released = set()
        for host in self._store.open_releases():
            if host not in hosts:
                self._store.end_release(host, now, REMOVED)
            elif hosts[host].accepts_moves:
                LOG.info('Burst host %s enabled again: used again', host)
                self._store.end_release(host, now, RE_ENABLED)
            else:
                released.add(host)
        look = observe(found, frozenset(released))
        empty_since, releases = due(look.empty, self._store.empty_since(),
                                    now, self._release_after)
        self._store.record(now, look.stays, look.held, empty_since)
        if not self._release:
            return ()
        done = []
        for release in releases:
            try:
                self._disable(release.host, release.reason)
            except Exception:
                LOG.exception('Disabling burst host %s failed; retrying '
                              'next look', release.host)
                continue
            self._store.released(release, now, self._controller)
            LOG.info('Burst host %s released: %s', release.host,
                     release.reason)
            self._notify(release.payload())
            done.append(release)
        return tuple(done)
