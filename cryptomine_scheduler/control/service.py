"""The controller service: ingest, RPC server and maintenance thread."""

import dataclasses
import functools
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence

import oslo_messaging
from openstack import connection as openstack_connection
from oslo_config import cfg
from oslo_log import log as logging

from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler import rpc
from cryptomine_scheduler.control import metrics
from cryptomine_scheduler.db import burst as burst_db
from cryptomine_scheduler.db import flavor_observations
from cryptomine_scheduler.db import placement_events
from cryptomine_scheduler.db import plans
from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.history import flavor_loads
from cryptomine_scheduler.history import nova_notifications
from cryptomine_scheduler.history import placements
from cryptomine_scheduler.history import shared_placements
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.ingest import absorbed_samples
from cryptomine_scheduler.ingest import bus as ingest_bus
from cryptomine_scheduler.ingest import ingestor as ingest
from cryptomine_scheduler.ingest import peer_samples
from cryptomine_scheduler.ingest import rate_limit
from cryptomine_scheduler.placement import burst
from cryptomine_scheduler.placement import device_inventory
from cryptomine_scheduler.replan import cluster
from cryptomine_scheduler.replan import executor
from cryptomine_scheduler.replan import nova_inventory
from cryptomine_scheduler.replan import nova_migrator
from cryptomine_scheduler.replan import rounds as replan
from cryptomine_scheduler.telemetry import collector_counters
from cryptomine_scheduler.telemetry import sample as sample_mod
from cryptomine_scheduler.telemetry import signing
from cryptomine_scheduler.telemetry import validation

LOG = logging.getLogger(__name__)

#: Hosts without load data that the controller's warning names.
NEVER_SAMPLED_NAMED = 20
#: Half-lives of history a restarted controller's miner baselines learn
#: from before its summaries' window (the oldest then weighs 1/16).
BASELINE_HALF_LIVES = 4


def validation_policy(conf: cfg.ConfigOpts) -> validation.Policy:
    secret = signing.check_master_secret(conf.messaging.master_secret)
    c = conf.controller
    return validation.Policy(
        master_secret=secret, max_clock_skew=c.max_clock_skew,
        max_age=c.raw_retention,
        limits=validation.Limits(
            sample_bytes=c.max_sample_bytes,
            instances=c.max_instances_per_sample,
            gpus=c.max_gpus_per_sample, asics=c.max_miners_per_sample))


def new_ingestor(conf: cfg.ConfigOpts, store: store_mod.HistoryStore,
                 clock: Callable[[], float]) -> ingest.Ingestor:
    """An ingestor storing into ``store`` under the configured policy."""
    c = conf.controller
    return ingest.Ingestor(
        store, validation_policy(conf),
        ingest.RejectionLog(c.rejection_log_interval, clock),
        rate_limit.HostRateLimit(c.host_sample_rate, c.host_sample_burst),
        clock)


@dataclasses.dataclass(frozen=True)
class NovaLink:
    """How the re-planner reads the cluster and moves instances, and how
    the controller counts every host's GPUs and miners; all None when
    this controller has no ``[nova_api]`` configured."""

    cluster_source: Callable[[], cluster.Cluster] | None = None
    migrator: executor.Migrator | None = None
    device_source: Callable[[], dict[
        str, device_inventory.HostDevices]] | None = None
    #: Disables a host's nova-compute service with a reason; False
    #: where it was disabled already.
    disable_service: Callable[[str, str], bool] | None = None

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> 'NovaLink':
        group = conf.nova_api
        if not (group.cloud or group.auth_type):
            return cls()
        return cls.through(nova_inventory.connect(conf), conf)

    @classmethod
    def through(cls, conn: openstack_connection.Connection,
                conf: cfg.ConfigOpts) -> 'NovaLink':
        """The link through the openstacksdk connection ``conn``."""
        classes = nova_inventory.device_classes(conf)
        cache = nova_inventory.InventoryCache()
        return cls(functools.partial(
            nova_inventory.read_cluster, conn,
            vgpu_live_migration=conf.replan.vgpu_live_migration,
            classes=classes, inventory_cache=cache),
                   nova_migrator.OpenStackMigrator(conn),
                   functools.partial(nova_inventory.read_devices, conn,
                                     classes, cache),
                   functools.partial(nova_inventory.disable_compute, conn))


class ControllerService:
    """Owns the store, the summaries and the messaging servers.

    With ``[controller] ingest_workers``, other processes consume the
    samples (:mod:`~cryptomine_scheduler.ingest.workers`) and hand each
    stored batch to :meth:`absorb`; this one keeps the summaries and
    answers RPC.  With ``[controller] share_ingest``, it casts each
    stored batch to the other controllers and absorbs theirs
    (:mod:`~cryptomine_scheduler.ingest.peer_samples`).  Learning
    placements from nova, it shares each one likewise and keeps them in
    the database (:mod:`~cryptomine_scheduler.history.shared_placements`).
    """

    def __init__(self, conf: cfg.ConfigOpts, notification_transport,
                 rpc_transport, clock: Callable[[], float] = time.time,
                 nova: NovaLink | None = None,
                 restarts: Callable[[], dict[str, int]] = dict):
        self.conf = conf
        self._clock = clock
        c = conf.controller
        self.store = store_mod.HistoryStore.open(
            conf.database.connection, conf.database.auto_upgrade)
        learn = conf.nova_notifications
        book = (placements.Placements(learn.warmup, learn.max_age,
                                      clock=clock)
                if learn.enabled else None)
        self.tracker = snapshot.LoadTracker(
            c.summary_window, c.ewma_half_life,
            c.hashrate_baseline_half_life, book,
            flavor_loads.FlavorLoads(learn.learn_guests,
                                     learn.learn_min_guests))
        self.placement_events = placement_events.PlacementEventStore(
            self.store.engine)
        self._nova_transport = self.nova_listener = None
        if learn.enabled:
            self._nova_transport = oslo_messaging.get_notification_transport(
                cm_conf.bus_conf(conf, learn.exchange, learn.durable_queues),
                url=learn.transport_url)
            self.nova_listener = nova_notifications.listener(
                conf, self._nova_transport, self.tracker.placements)
        self.absorbed = absorbed_samples.AbsorbedSamples(c.summary_window)
        self.totals = ingest.IngestTotals(restarts)
        self.collectors = collector_counters.CounterBook()
        self._never_sampled: list[str] = []
        self.burst = burst_db.BurstStore(self.store.engine, clock)
        self.observations = flavor_observations.FlavorObservationStore(
            self.store.engine)
        self.metrics = metrics.Metrics(self.totals, self.tracker,
                                       conf.cryptomine.risk_factor,
                                       self.collectors, clock, self.burst)
        self.listener_pool = ingest_bus.listener_pool(conf)
        self.ingestor = new_ingestor(conf, self.store, clock)
        self.listener = None
        if not c.ingest_workers:
            self.listener = ingest_bus.sample_listener(
                conf, notification_transport, self.ingestor, self.absorb)
        nova = nova or NovaLink.from_conf(conf)
        self.replanner = replan.Replanner(
            conf, plans.PlanStore(self.store.engine, clock), self.tracker,
            nova.cluster_source, nova.migrator, self.metrics, clock,
            nova.disable_service)
        served = (self.store, self.tracker, self.totals, c.raw_retention,
                  self.collectors, clock)
        self.rpc_servers = [
            oslo_messaging.get_rpc_server(
                rpc_transport, oslo_messaging.Target(topic=topic,
                                                     server=conf.host),
                [endpoint], executor='threading')
            for topic, endpoint in (
                (conf.messaging.controller_topic, rpc.ReadEndpoint(*served)),
                (conf.messaging.operator_topic, rpc.OperatorEndpoint(
                    *served, replanner=self.replanner, burst=self.burst)))]
        self.peers = self.peer_server = None
        peer_endpoints = []
        if c.share_ingest:
            self.peers = peer_samples.PeerCaster(
                rpc_transport, conf.messaging.peer_topic, conf.host)
            peer_endpoints.append(peer_samples.PeerEndpoint(
                conf.host, self.absorb_from_peer))
        if book is not None:
            book.on_event = shared_placements.Sharing(
                self.placement_events, rpc_transport,
                conf.messaging.peer_topic, conf.host)
            peer_endpoints.append(shared_placements.PeerEndpoint(
                conf.host, book))
        if peer_endpoints:
            self.peer_server = oslo_messaging.get_rpc_server(
                rpc_transport, oslo_messaging.Target(
                    topic=conf.messaging.peer_topic, server=conf.host),
                peer_endpoints, executor='threading')
        self._stop = threading.Event()
        self._periodic = [threading.Thread(
            target=self._every, args=(c.maintenance_interval,
                                      self.maintain_once, 'Rollup/purge'),
            name='cryptomine-maintenance', daemon=True)]
        refresh = conf.nova_api.device_refresh_interval
        if nova.device_source is not None and refresh:
            self._periodic.append(threading.Thread(
                target=self._every, args=(
                    refresh, functools.partial(self.count_devices,
                                               nova.device_source),
                    'Reading GPUs and miners from placement', True),
                name='cryptomine-devices', daemon=True))
        self.burst_lock = self.sweeper = None
        if (nova.cluster_source is not None
                and nova.disable_service is not None):
            self._add_sweeper(nova, notification_transport)

    def _add_sweeper(self, nova: NovaLink, transport) -> None:
        """Look at the burst tier every ``[burst] check_interval`` (0:
        never; :attr:`sweeper` looks on demand)."""
        b = self.conf.burst
        self.burst_lock = replan.PlanningLock(
            self.conf.replan.coordination_url, self.conf.host,
            burst.LOCK_NAME)
        notifier = oslo_messaging.Notifier(
            transport, publisher_id=f'cryptomine-controller.{self.conf.host}',
            driver='messagingv2', topics=b.notification_topics)
        self.sweeper = burst.Sweeper(
            self.burst, self.burst_lock, nova.cluster_source,
            nova.disable_service,
            functools.partial(notifier.info, {}, burst.EVENT_TYPE),
            self.conf.host, b.release_after, b.release_empty_hosts,
            self._clock)
        if not b.check_interval:
            return
        self._periodic.append(threading.Thread(
            target=self._every, args=(b.check_interval, self.sweeper.sweep,
                                      'Looking at the burst tier', True),
            name='cryptomine-burst', daemon=True))

    def absorb(self, result: ingest.BatchResult) -> None:
        """Add a batch's valid samples to the summaries, those stored now
        and those stored before (by a peer controller), then count it (a
        sample counted as stored is already in the next snapshot); with
        shared ingest, cast them to the other controllers."""
        valid = result.stored + result.known
        self.totals.add(result, self._summarise(valid))
        if self.peers is not None and valid:
            self.peers.cast(valid)

    def absorb_from_peer(
            self, samples: Sequence[sample_mod.LoadSample]) -> None:
        """Add the samples a peer controller stored to the summaries."""
        self.totals.add_from_peers(len(samples), self._summarise(samples))

    def _summarise(self, samples: Iterable[sample_mod.LoadSample]) -> int:
        """Add the samples not summarised yet; return how many."""
        count = 0
        for sample in samples:
            if self.absorbed.first_time(sample):
                self.tracker.add(sample)
                self.collectors.add(sample)
                count += 1
        return count

    def maintain_once(self) -> store_mod.PurgeResult:
        """Save the loads learnt since last time, roll up closed buckets
        and purge what is past retention (observations of learnt loads
        after ``rollup_retention``, placements after ``[nova_notifications]
        max_age``)."""
        c = self.conf.controller
        now = self._clock()
        self.observations.add(self.tracker.take_learned())
        self.observations.purge(now - c.rollup_retention)
        self.placement_events.purge(
            now - self.conf.nova_notifications.max_age)
        return self.store.purge(now, c.raw_retention, c.rollup_retention)

    def count_devices(self, source: Callable[[], dict[
            str, device_inventory.HostDevices]]) -> int:
        """Put placement's count of every compute host's GPUs and miners
        in the snapshots, and say which of those hosts have no load
        data when that changes; return how many hosts have devices."""
        devices = source()
        self.tracker.set_devices(devices)
        never = self.tracker.never_sampled()
        if never != self._never_sampled:
            if never:
                more = len(never) - NEVER_SAMPLED_NAMED
                LOG.warning(
                    '%d compute host(s) of placement have no load data: '
                    '%s%s (no collector reports under those names; see '
                    '"never sampled" in the troubleshooting guide)',
                    len(never), ', '.join(never[:NEVER_SAMPLED_NAMED]),
                    f' and {more} more' if more > 0 else '')
            else:
                LOG.info('Every compute host of placement has load data')
            self._never_sampled = never
        return sum(1 for d in devices.values() if d)

    def _every(self, interval: float, action: Callable[[], object],
               what: str, at_start: bool = False) -> None:
        """Run ``action`` every ``interval`` seconds until stopped (first
        at once with ``at_start``); a failure is logged and retried at
        the next interval."""
        if at_start:
            interval, first = 0.0, interval
        while not self._stop.wait(interval):
            if at_start:
                interval, at_start = first, False
            try:
                LOG.debug('%s done: %s', what, action())
            except Exception:
                LOG.exception('%s failed; retrying next interval', what)

    def _restore_placements(self, now: float, learnt: set[str]) -> None:
        """Read back the placement events of the last ``max_age``, less
        those of the guests ``learnt`` from already (whose warm-up ended:
        they would be learnt from twice)."""
        events = [e for e in self.placement_events.since(
            now - self.conf.nova_notifications.max_age)
            if e.uuid not in learnt]
        for event in events:
            self.tracker.placements.apply(event, 'database')
        LOG.info('Placements restored from %d events', len(events))

    def start(self) -> None:
        # Peers' batches stored from now on come by the peer topic, those
        # stored before from the database (counted once if both).
        if self.peer_server is not None:
            self.peer_server.start()
        now, window = self._clock(), self.tracker.window
        learnt = self.observations.since(
            now - self.conf.controller.rollup_retention)
        for seen in learnt:
            self.tracker.flavor_loads.observe(seen.flavor, seen.image,
                                              seen.percent)
        LOG.info('Learnt loads restored from %d warm guests', len(learnt))
        if self.tracker.placements is not None:
            self._restore_placements(now, {o.instance_uuid for o in learnt})
        self.tracker.deriver.learn_hashrates(self.store.miner_hashrates(
            now, window, BASELINE_HALF_LIVES
            * self.conf.controller.hashrate_baseline_half_life))
        rows = self._summarise(self.store.summary_samples(now, window))
        LOG.info('Summaries rebuilt from %d stored samples', rows)
        self.replanner.start()
        if self.burst_lock is not None:
            self.burst_lock.start()
        for server in self.rpc_servers:
            server.start()
        for listener in (self.listener, self.nova_listener):
            if listener is not None:
                listener.start()
        for thread in self._periodic:
            thread.start()
        if self.conf.prometheus.metrics_port:
            self.metrics.serve(self.conf.prometheus.metrics_host,
                               self.conf.prometheus.metrics_port)

    def stop(self) -> None:
        """Stop answering RPC, let the running migrations end for a
        while (starting no more), stop consuming, finish the batch in
        hand, close the store."""
        self._stop.set()
        servers = self.rpc_servers + (
            [self.peer_server] if self.peer_server is not None else [])
        for server in servers:
            server.stop()
        for server in servers:
            server.wait()
        self.replanner.stop()
        self.metrics.stop()
        for listener in (self.listener, self.nova_listener):
            if listener is not None:
                listener.stop()
                listener.wait()
        if self._nova_transport is not None:
            self._nova_transport.cleanup()
        for thread in self._periodic:
            if thread.is_alive():
                thread.join()
        if self.burst_lock is not None:
            self.burst_lock.stop()
        learned = self.tracker.take_learned()
        try:
            self.observations.add(learned)
        except Exception:
            LOG.exception('Could not save the loads of %d warm guests',
                          len(learned))
        self.store.close()
