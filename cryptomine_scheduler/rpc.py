"""The controller's RPC API (server endpoint and client).

Version history:

* 1.0: ``get_load_snapshot``, ``get_host_history``, ``get_ingest_stats``.
* 1.1: ``create_plan``, ``list_plans``, ``get_plan``, ``abort_plan``.
"""

import time
from collections.abc import Callable

import oslo_messaging

from cryptomine_scheduler import ingest
from cryptomine_scheduler import replan
from cryptomine_scheduler import sample as sample_mod
from cryptomine_scheduler import snapshot
from cryptomine_scheduler.db import plans as plans_mod
from cryptomine_scheduler.db import store as store_mod

NAMESPACE = 'cryptomine'
VERSION = '1.1'
# Exceptions the client re-raises as themselves rather than RemoteError.
REMOTE_EXCEPTION_MODULES = ['cryptomine_scheduler.db.store',
                            'cryptomine_scheduler.db.plans',
                            'cryptomine_scheduler.replan',
                            'cryptomine_scheduler.rpc']
# Re-exported for clients.
PlanNotFound = plans_mod.PlanNotFound
ReplanBusy = replan.ReplanBusy
ReplanUnavailable = replan.ReplanUnavailable
UnknownAggregate = replan.UnknownAggregate
NovaUnavailable = replan.NovaUnavailable
NotRunningHere = replan.NotRunningHere


class UnknownMetric(ValueError):
    """The metric name is not one of :class:`~sample.HostMetric`."""


class ControllerEndpoint:
    """Serves summaries and history from a running controller."""

    target = oslo_messaging.Target(namespace=NAMESPACE, version=VERSION)

    def __init__(self, store: store_mod.HistoryStore,
                 tracker: snapshot.LoadTracker, totals: ingest.IngestTotals,
                 raw_retention: float, replanner: replan.Replanner,
                 clock: Callable[[], float] = time.time):
        self._store = store
        self._replanner = replanner
        self._tracker = tracker
        self._totals = totals
        self._raw_retention = raw_retention
        self._clock = clock

    def get_load_snapshot(self, ctxt):
        return self._tracker.snapshot(self._clock())

    @oslo_messaging.expected_exceptions(store_mod.UnknownHost, UnknownMetric)
    def get_host_history(self, ctxt, host, since, metric):
        try:
            host_metric = sample_mod.HostMetric(metric)
        except ValueError:
            raise UnknownMetric(
                f'unknown metric {metric!r}; one of '
                f'{[m.value for m in sample_mod.HostMetric]}') from None
        now = self._clock()
        history = self._store.history(host, host_metric, float(since),
                                      raw_since=now - self._raw_retention)
        return {'host': history.host, 'metric': history.metric.value,
                'resolution_seconds': history.resolution_seconds,
                'points': [list(p) for p in history.points]}

    def get_ingest_stats(self, ctxt):
        return self._totals.wire()

    @oslo_messaging.expected_exceptions(ReplanBusy, ReplanUnavailable,
                                        UnknownAggregate, NovaUnavailable)
    def create_plan(self, ctxt, dry_run, execute, max_moves=None,
                    aggregate=None):
        return self._replanner.create(
            trigger=replan.OPERATOR, dry_run=bool(dry_run),
            execute=bool(execute), max_moves=max_moves, aggregate=aggregate)

    def list_plans(self, ctxt, limit=20):
        return self._replanner.plans.list(int(limit))

    @oslo_messaging.expected_exceptions(PlanNotFound)
    def get_plan(self, ctxt, plan_id):
        return self._replanner.plans.get(plan_id)

    @oslo_messaging.expected_exceptions(PlanNotFound, NotRunningHere)
    def abort_plan(self, ctxt, plan_id):
        return self._replanner.abort(plan_id)



class ControllerClient:
    """Calls a controller over RPC."""

    def __init__(self, transport, topic: str, timeout: float = 10.0):
        # 1.0 by default: the 1.0 calls keep working against a controller
        # not yet upgraded; newer calls ask for their version.
        target = oslo_messaging.Target(topic=topic, namespace=NAMESPACE,
                                       version='1.0')
        self._client = oslo_messaging.get_rpc_client(
            transport, target, timeout=timeout)

    def get_load_snapshot(self) -> snapshot.LoadSnapshot:
        return snapshot.LoadSnapshot.from_wire(
            self._client.call({}, 'get_load_snapshot'))

    def get_host_history(self, host: str, since: float,
                         metric: sample_mod.HostMetric) -> dict:
        return self._client.call({}, 'get_host_history', host=host,
                                 since=since, metric=metric.value)

    def get_ingest_stats(self) -> dict:
        return self._client.call({}, 'get_ingest_stats')

    def create_plan(self, dry_run: bool, execute: bool,
                    max_moves: int | None = None,
                    aggregate: str | None = None,
                    timeout: float | None = None) -> dict:
        """Plan now; with ``execute`` the moves run in the background
        (poll :meth:`get_plan`).  Reading a large cloud from nova takes
        a while: ``timeout`` overrides the client's."""
        return self._client.prepare(version='1.1', timeout=timeout).call(
            {}, 'create_plan', dry_run=dry_run, execute=execute,
            max_moves=max_moves, aggregate=aggregate)

    def list_plans(self, limit: int = 20) -> list[dict]:
        return self._client.prepare(version='1.1').call(
            {}, 'list_plans', limit=limit)

    def get_plan(self, plan_id: str) -> dict:
        return self._client.prepare(version='1.1').call(
            {}, 'get_plan', plan_id=plan_id)

    def abort_plan(self, plan_id: str) -> dict:
        """Ask the controller running the plan (any controller can read
        it, only its own can stop it) to start no further move."""
        owner = self.get_plan(plan_id)['controller']
        return self._client.prepare(version='1.1', server=owner).call(
            {}, 'abort_plan', plan_id=plan_id)
