"""The controller's RPC endpoints; the client is in :mod:`.rpcapi`.

Two topics, so that the broker's permissions tell who may call what:
:class:`ReadEndpoint` on ``[messaging] controller_topic`` only reads
(nova-scheduler's plugin may write to that topic), and
:class:`OperatorEndpoint` on ``[messaging] operator_topic`` also plans,
moves and aborts (only cryptomine-api's bus user may write to it).

The client's names are re-exported here for callers that run where the
controller does.
"""

import enum
import math
import time
from collections.abc import Callable
from typing import TypeVar

import oslo_messaging

from cryptomine_scheduler import exception
from cryptomine_scheduler import rpcapi
from cryptomine_scheduler.db import burst as burst_db
from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.ingest import ingestor as ingest
from cryptomine_scheduler.replan import rounds as replan
from cryptomine_scheduler.telemetry import collector_counters
from cryptomine_scheduler.telemetry import sample as sample_mod

NAMESPACE = rpcapi.NAMESPACE
VERSION = rpcapi.VERSION
REMOTE_EXCEPTION_MODULES = rpcapi.REMOTE_EXCEPTION_MODULES
ControllerClient = rpcapi.ControllerClient
# Re-exported for clients.
PlanNotFound = exception.PlanNotFound
ReplanBusy = exception.ReplanBusy
ReplanUnavailable = exception.ReplanUnavailable
UnknownAggregate = exception.UnknownAggregate
NovaUnavailable = exception.NovaUnavailable
NotRunningHere = exception.NotRunningHere
UnknownMetric = exception.UnknownMetric
UnknownInstance = exception.UnknownInstance
E = TypeVar('E', bound=enum.Enum)


def _member(cls: type[E], value, what: str = 'metric') -> E:
    """The member of enum ``cls`` of ``value``; UnknownMetric, which
    lists them, for any other value."""
    try:
        return cls(value)
    except ValueError:
        raise UnknownMetric(f'unknown {what} {value!r}; one of '
                            f'{[m.value for m in cls]}') from None


def _check_device_metric(kind: sample_mod.DeviceKind, metric) -> None:
    """UnknownMetric unless ``metric`` is a reading of ``kind``."""
    metrics = sample_mod.DEVICE_METRICS[kind]
    if metric not in metrics:
        raise UnknownMetric(f'unknown {kind.value} metric {metric!r}; one '
                            f'of {list(metrics)}')


class ReadEndpoint:
    """Serves summaries, history and counters from a running
    controller; nothing it offers changes anything."""

    target = oslo_messaging.Target(namespace=NAMESPACE, version=VERSION)

    def __init__(self, store: store_mod.HistoryStore,
                 tracker: snapshot.LoadTracker, totals: ingest.IngestTotals,
                 raw_retention: float,
                 collectors: collector_counters.CounterBook,
                 clock: Callable[[], float] = time.time):
        self._store = store
        self._collectors = collectors
        self._tracker = tracker
        self._totals = totals
        self._raw_retention = raw_retention
        self._clock = clock

    @oslo_messaging.expected_exceptions(exception.BadArgument)
    def get_load_snapshot(self, ctxt, instances_since=None):
        if instances_since is not None and not (
                instances_since.__class__ in (int, float)
                and 0 <= instances_since < math.inf):
            raise exception.BadArgument(
                f'instances_since {instances_since!r} is not a number of '
                'seconds')
        return self._tracker.snapshot(self._clock(), instances_since)

    @oslo_messaging.expected_exceptions(store_mod.UnknownHost, UnknownMetric)
    def get_host_history(self, ctxt, host, since, metric):
        history = self._store.history(
            host, _member(sample_mod.HostMetric, metric), float(since),
            raw_since=self._raw_since())
        return {'host': history.host, 'metric': history.metric.value,
                'resolution_seconds': history.resolution_seconds,
                'points': [list(p) for p in history.points]}

    @oslo_messaging.expected_exceptions(store_mod.UnknownHost, UnknownMetric)
    def get_device_history(self, ctxt, host, kind, since, metric):
        device_kind = _member(sample_mod.DeviceKind, kind, 'kind of device')
        _check_device_metric(device_kind, metric)
        history = self._store.device_history(
            host, device_kind, metric, float(since),
            raw_since=self._raw_since())
        return {'host': history.host, 'kind': history.kind.value,
                'metric': history.metric,
                'resolution_seconds': history.resolution_seconds,
                'devices': {device: [list(p) for p in points]
                            for device, points in history.devices.items()}}

    @oslo_messaging.expected_exceptions(UnknownInstance, UnknownMetric)
    def get_instance_history(self, ctxt, instance, since, metric):
        history = self._store.instance_history(
            instance, _member(sample_mod.InstanceMetric, metric),
            float(since), raw_since=self._raw_since())
        return {'instance': history.instance,
                'metric': history.metric.value,
                'resolution_seconds': history.resolution_seconds,
                'points': [list(p) for p in history.points]}

    @oslo_messaging.expected_exceptions(UnknownInstance, UnknownMetric)
    def get_instance_device_history(self, ctxt, instance, kind, since,
                                    metric):
        device_kind = _member(sample_mod.DeviceKind, kind, 'kind of device')
        _check_device_metric(device_kind, metric)
        history = self._store.instance_device_history(
            instance, device_kind, metric, float(since))
        return {'instance': history.instance, 'kind': history.kind.value,
                'metric': history.metric, 'resolution_seconds': 0,
                'devices': {f'{host}/{device}': [list(p) for p in points]
                            for (host, device), points
                            in history.devices.items()}}

    def _raw_since(self) -> float:
        """The oldest time raw samples answer a history from."""
        return self._clock() - self._raw_retention

    def get_ingest_stats(self, ctxt):
        return self._totals.wire()

    def get_never_sampled(self, ctxt):
        return self._tracker.never_sampled()

    @oslo_messaging.expected_exceptions(exception.BadArgument)
    def get_collector_counters(self, ctxt, host=None):
        if not (host is None or isinstance(host, str)):
            raise exception.BadArgument(f'host {host!r} is not a name')
        if host is None:
            newest = self._collectors.since()
        else:
            reported = self._collectors.get(host)
            newest = {} if reported is None else {host: reported}
        return {name: reported.wire() for name, reported in newest.items()}


class OperatorEndpoint(ReadEndpoint):
    """What :class:`ReadEndpoint` serves, the plans (creating, carrying
    out, aborting and reading them, and an instance's migrations) and
    the burst tier's status."""

    def __init__(self, *args, replanner: replan.Replanner,
                 burst: burst_db.BurstStore, **kwargs):
        super().__init__(*args, **kwargs)
        self._replanner = replanner
        self._burst = burst

    @oslo_messaging.expected_exceptions(exception.BadArgument)
    def get_burst_status(self, ctxt, since):
        if not (since.__class__ in (int, float) and math.isfinite(since)):
            raise exception.BadArgument(f'since {since!r} is not a time')
        return self._burst.status(float(since), self._clock()).wire()

    @oslo_messaging.expected_exceptions(ReplanBusy, ReplanUnavailable,
                                        UnknownAggregate, NovaUnavailable,
                                        exception.UnknownHost,
                                        exception.BadArgument)
    def create_plan(self, ctxt, dry_run, execute, max_moves=None,
                    aggregate=None, drain=None, cold=False, disable=False):
        return self._replanner.create(
            trigger=replan.OPERATOR if drain is None else replan.DRAIN,
            dry_run=bool(dry_run), execute=bool(execute),
            max_moves=max_moves, aggregate=aggregate, drain=drain,
            cold=bool(cold), disable=bool(disable))

    def list_plans(self, ctxt, limit=20):
        return self._replanner.plans.list(int(limit))

    @oslo_messaging.expected_exceptions(PlanNotFound)
    def get_plan(self, ctxt, plan_id):
        return self._replanner.plans.get(plan_id)

    @oslo_messaging.expected_exceptions(PlanNotFound, NotRunningHere)
    def abort_plan(self, ctxt, plan_id):
        return self._replanner.abort(plan_id)

    def get_instance_migrations(self, ctxt, instance, since):
        return self._replanner.plans.migrations_of(instance, float(since))
