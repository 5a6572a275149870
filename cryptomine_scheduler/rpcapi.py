"""The controller's RPC API as its callers see it: the client.

Imported by nova-scheduler's filter and weigher and by the command line,
so it needs oslo.messaging and nothing of the controller's own
(:mod:`cryptomine_scheduler.rpc` has the server's endpoint).

Version history:

* 1.0: ``get_load_snapshot``, ``get_host_history``, ``get_ingest_stats``.
* 1.1: ``create_plan``, ``list_plans``, ``get_plan``, ``abort_plan``.
* 1.2: ``get_load_snapshot`` takes ``instances_since``.
* 1.3: ``get_collector_counters``.
* 1.4: ``get_burst_status``.
* 1.5: ``get_never_sampled``.
* 1.6: ``get_device_history``.
* 1.7: ``get_instance_history``, ``get_instance_device_history``,
  ``get_instance_migrations``.
* 1.8: ``create_plan`` takes ``drain`` and ``cold``.
* 1.9: ``create_plan`` takes ``disable``.

The plan and burst calls and ``get_instance_migrations`` are served on
``[messaging] operator_topic`` only: a client for them (cryptomine-api)
is made with that topic, nova-scheduler's with ``controller_topic``, on
which the controller only reads.
"""

import oslo_messaging

from cryptomine_scheduler import exception
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.telemetry import collector_counters
from cryptomine_scheduler.telemetry import sample as sample_mod

NAMESPACE = 'cryptomine'
VERSION = '1.9'
# Exceptions the client re-raises as themselves rather than RemoteError:
# those of :mod:`.exception`; from a controller not yet upgraded, the
# modules that defined them before (imported only then, and only where
# the controller's dependencies are installed) and oslo.messaging's
# UnsupportedVersion for a call newer than the controller.
REMOTE_EXCEPTION_MODULES = [exception.__name__,
                            'cryptomine_scheduler.db.store',
                            'cryptomine_scheduler.db.plans',
                            'cryptomine_scheduler.replan',
                            'cryptomine_scheduler.rpc',
                            oslo_messaging.UnsupportedVersion.__module__]


class ControllerClient:
    """Calls a controller over RPC."""

    def __init__(self, transport, topic: str, timeout: float = 10.0):
        # 1.0 by default: the 1.0 calls keep working against a controller
        # not yet upgraded; newer calls ask for their version.
        target = oslo_messaging.Target(topic=topic, namespace=NAMESPACE,
                                       version='1.0')
        self._client = oslo_messaging.get_rpc_client(
            transport, target, timeout=timeout)

    def get_load_snapshot(self, instances_since: float | None = None
                          ) -> snapshot.LoadSnapshot:
        """Every host's summary, and every instance's, or with
        ``instances_since`` (seconds) only those of the instances first
        sampled that recently (needs a controller of 1.2 or later)."""
        if instances_since is None:
            wire = self._client.call({}, 'get_load_snapshot')
        else:
            wire = self._client.prepare(version='1.2').call(
                {}, 'get_load_snapshot', instances_since=instances_since)
        return snapshot.LoadSnapshot.from_wire(wire)

    def get_host_history(self, host: str, since: float,
                         metric: sample_mod.HostMetric) -> dict:
        return self._client.call({}, 'get_host_history', host=host,
                                 since=since, metric=metric.value)

    def get_device_history(self, host: str, kind: sample_mod.DeviceKind,
                           since: float, metric: str) -> dict:
        """``metric`` of each device of ``kind`` on ``host`` since
        ``since``, by device (needs a controller of 1.6 or later)."""
        return self._client.prepare(version='1.6').call(
            {}, 'get_device_history', host=host, kind=kind.value,
            since=since, metric=metric)

    def get_instance_history(self, instance: str, since: float,
                             metric: sample_mod.InstanceMetric) -> dict:
        """``metric`` of ``instance`` since ``since``, with the host of
        each point (needs a controller of 1.7 or later)."""
        return self._client.prepare(version='1.7').call(
            {}, 'get_instance_history', instance=instance, since=since,
            metric=metric.value)

    def get_instance_device_history(self, instance: str,
                                    kind: sample_mod.DeviceKind,
                                    since: float, metric: str) -> dict:
        """``metric`` of each device of ``kind`` that ``instance`` held
        since ``since``, by ``host/device`` (needs a controller of 1.7 or
        later)."""
        return self._client.prepare(version='1.7').call(
            {}, 'get_instance_device_history', instance=instance,
            kind=kind.value, since=since, metric=metric)

    def get_instance_migrations(self, instance: str, since: float
                                ) -> list[dict]:
        """The migrations the plans started of ``instance`` since
        ``since``, oldest first (needs a controller of 1.7 or later)."""
        return self._client.prepare(version='1.7').call(
            {}, 'get_instance_migrations', instance=instance, since=since)

    def get_ingest_stats(self) -> dict:
        return self._client.call({}, 'get_ingest_stats')

    def get_collector_counters(self, host: str | None = None
                               ) -> dict[str, collector_counters.Reported]:
        """The counters each host's collector sent with its newest
        sample since the controller started, by host; with ``host`` only
        that host's, if any (needs a controller of 1.3 or later)."""
        wire = self._client.prepare(version='1.3').call(
            {}, 'get_collector_counters', host=host)
        return {name: collector_counters.Reported.from_wire(reported)
                for name, reported in wire.items()}

    def get_never_sampled(self) -> list[str]:
        """The compute hosts of placement that the controller holds no
        sample of, sorted (needs a controller of 1.5 or later)."""
        return self._client.prepare(version='1.5').call(
            {}, 'get_never_sampled')

    def create_plan(self, dry_run: bool, execute: bool,
                    max_moves: int | None = None,
                    aggregate: str | None = None,
                    drain: str | None = None, cold: bool = False,
                    disable: bool = False,
                    timeout: float | None = None) -> dict:
        """Plan now; with ``execute`` the moves run in the background
        (poll :meth:`get_plan`).  With ``drain`` (a controller of 1.8 or
        later), the plan empties that host, ``cold`` moving its guests
        that cannot live-migrate by cold migration, and ``disable`` (1.9)
        disabling its nova-compute service first.  Reading a large
        cloud from nova takes a while: ``timeout`` overrides the
        client's."""
        scope = {'max_moves': max_moves, 'aggregate': aggregate}
        version = '1.1'
        if drain is not None or cold:
            scope.update(drain=drain, cold=cold)
            version = '1.8'
        if disable:
            scope['disable'] = True
            version = '1.9'
        return self._client.prepare(version=version, timeout=timeout).call(
            {}, 'create_plan', dry_run=dry_run, execute=execute, **scope)

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

    def get_burst_status(self, since: float) -> dict:
        """The burst tier now and since ``since`` (Unix seconds), as
        :class:`~cryptomine_scheduler.db.burst.Status` (needs a
        controller of 1.4 or later)."""
        return self._client.prepare(version='1.4').call(
            {}, 'get_burst_status', since=since)
