"""What the filter and the weigher share in one nova-scheduler process.

nova builds its filters and weighers once; :func:`shared` gives them one
:class:`LoadAwarePlugin` holding what the whole process shares: the
snapshot cache, the estimates of the current snapshot and the
pending-boot credit.  What belongs to one request (its settings, the
hosts it judged) is a :class:`RequestState`, kept per request.  The
plugin works on small records of nova's objects (:class:`HostFacts`,
:class:`FlavorFacts`) built by the adapters, so it needs no nova import.
"""

import dataclasses
import threading
import typing
from collections.abc import Callable

import numpy as np
import oslo_messaging
from oslo_config import cfg

from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler import rpcapi
from cryptomine_scheduler.conf import scheduler as scheduler_conf
from cryptomine_scheduler.history import placements
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.placement import flavor_devices
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.scheduler import host_columns
from cryptomine_scheduler.scheduler import pending
from cryptomine_scheduler.scheduler import requests
from cryptomine_scheduler.scheduler import snapshot_client

ACCELERATOR_SPEC = scoring.ACCELERATOR_KEY
PRICE_SPEC = 'cryptomine:price_per_hour'
EXPECTED_LOAD_SPEC = placements.EXPECTED_LOAD_SPEC


class BadFlavor(ValueError):
    """A flavor's cryptomine extra spec cannot be understood."""


@dataclasses.dataclass(frozen=True)
class HostFacts:
    """What nova's host state tells about a host."""

    name: str
    num_instances: int
    vcpus: float
    memory_mb: float
    #: What its aggregates say it offers (None: they do not say).
    accelerators: frozenset[scoring.Accelerator] | None = None
    #: What it costs an hour if rented burst capacity; None: our own.
    burst_cost: float | None = None


@dataclasses.dataclass(frozen=True)
class FlavorFacts:
    """What a request asks for: the flavor (its ID, what the controller
    learns loads under) and the image's ID when nova knows it."""

    vcpus: int
    memory_mb: int
    extra_specs: dict
    flavorid: str | None = None
    image: str | None = None

    def accelerator(self) -> scoring.Accelerator | None:
        value = self.extra_specs.get(ACCELERATOR_SPEC)
        if value is None:
            return None
        try:
            return scoring.Accelerator(value.strip().lower())
        except ValueError:
            raise BadFlavor(
                f'{ACCELERATOR_SPEC}={value!r}; expected one of '
                f'{[a.value for a in scoring.Accelerator]}') from None

    def devices(self, kind: scoring.Accelerator | None) -> int:
        """How many devices of ``kind`` its guest holds
        (:mod:`.flavor_devices`)."""
        try:
            return flavor_devices.count(self.extra_specs, kind)
        except ValueError as exc:
            raise BadFlavor(str(exc)) from None

    def price_per_hour(self) -> float | None:
        """What a guest of the flavor earns an hour, None if unsaid."""
        value = self.extra_specs.get(PRICE_SPEC)
        if value is None:
            return None
        try:
            price = float(value)
        except ValueError:
            raise BadFlavor(f'{PRICE_SPEC}={value!r} is not a '
                            'number') from None
        if not price >= 0:
            raise BadFlavor(f'{PRICE_SPEC}={value!r} is not a price')
        return price

    def busy_vcpus(self, default_percent: float,
                   learned_percent: float | None = None) -> float:
        """The vCPUs its guest is expected to keep busy: at the load
        learned from its flavor's guests, else at its extra spec's, else
        at ``default_percent``."""
        value = (self.extra_specs.get(EXPECTED_LOAD_SPEC, default_percent)
                 if learned_percent is None else learned_percent)
        try:
            percent = float(value)
        except ValueError:
            raise BadFlavor(f'{EXPECTED_LOAD_SPEC}={value!r} is not a '
                            'number') from None
        return self.vcpus * min(max(percent, 0.0), 100.0) / 100.0


class HostLoad(typing.NamedTuple):
    """A host's predicted load with the guest being placed, or why there
    is none (``missing``).

    ``score`` is :func:`scoring.score` for the request, ``over`` how far
    the host is over its CPU or memory threshold (:func:`scoring.overage`)
    and ``thresholds`` the host's own (aggregates included).  A named
    tuple: one is made per host and request.
    """

    estimate: scoring.Estimate | None
    missing: str | None = None
    score: float | None = None
    over: float = 0.0
    thresholds: scoring.Thresholds | None = None
    burst_cost: float | None = None


@dataclasses.dataclass(frozen=True)
class Settings:
    """Options and flavor of the request being scheduled, read once for
    all its hosts (a reloaded nova.conf applies from the next request)."""

    stale_after: float
    risk_factor: float
    missing_data_policy: str
    overload_policy: str
    thresholds: scoring.Thresholds
    weights: scoring.Weights
    weight_multiplier: float
    bad_flavor: str | None
    demand: scoring.Demand
    guest: pending.Request

    @classmethod
    def read(cls, opts, flavor: FlavorFacts,
             instance_uuid: str | None = None,
             learned_percent: float | None = None) -> 'Settings':
        try:
            accelerator, bad_flavor = flavor.accelerator(), None
            devices = flavor.devices(accelerator)
            price = flavor.price_per_hour()
        except BadFlavor as exc:
            accelerator, devices, price = None, 0, None
            bad_flavor = str(exc)
        try:
            busy = flavor.busy_vcpus(opts.default_expected_load_percent,
                                     learned_percent)
        except BadFlavor:
            busy = float(flavor.vcpus)
        return cls(
            stale_after=opts.stale_after, risk_factor=opts.risk_factor,
            missing_data_policy=opts.missing_data_policy,
            overload_policy=opts.overload_policy,
            thresholds=scoring.Thresholds.from_opts(opts),
            weights=scoring.Weights.from_opts(opts),
            weight_multiplier=opts.weight_multiplier,
            bad_flavor=bad_flavor,
            demand=scoring.Demand(
                accelerator=accelerator,
                accelerator_penalty=opts.accelerator_penalty,
                devices=devices,
                price_per_hour=price,
                burst_min_margin=opts.burst_min_margin),
            guest=pending.Request(
                instance_uuid, busy, float(flavor.memory_mb),
                devices if accelerator is scoring.Accelerator.GPU else 0))


class Estimates:
    """Hosts' estimates without credit for one snapshot and risk factor,
    computed once and shared by every request on that snapshot."""

    def __init__(self, snap: snapshot.LoadSnapshot | None,
                 risk_factor: float):
        self.snapshot = snap
        self.risk_factor = risk_factor
        self.by_host: dict[str, scoring.Estimate] = {}
        self._table: host_columns.HostTable | None = None

    def get(self, name: str, view: snapshot.HostView) -> scoring.Estimate:
        est = self.by_host.get(name)
        if est is None:  # two requests may both compute it: same value
            est = self.by_host[name] = scoring.estimate(view,
                                                        self.risk_factor)
        return est

    def table(self) -> host_columns.HostTable | None:
        """Every host's estimate as columns; None without a snapshot."""
        snap = self.snapshot
        if self._table is None and snap is not None:
            # Two requests may both build it: the same table.
            self._table = host_columns.HostTable.build(snap, {
                name: self.get(name, view)
                for name, view in snap.hosts.items()})
        return self._table


class RequestState:
    """One placement being scheduled: its settings, its snapshot and the
    hosts judged so far (the filter judges a host, the weigher reuses
    it).  Used by one request's thread only."""

    def __init__(self, settings: Settings, estimates: Estimates,
                 boots: pending.PendingBoots):
        self.settings = settings
        self.snapshot = estimates.snapshot
        #: Each host's score once judged (NaN: no fresh data).
        self.scores: dict[str, float] = {}
        self._estimates = estimates
        self._boots = boots
        self._loads: dict[str, HostLoad] = {}
        #: The guest and its rules, as the columns take them.
        self.guest = host_columns.Guest(
            settings.guest.busy_vcpus, settings.guest.memory_mb,
            settings.stale_after, settings.weights, settings.demand,
            settings.bad_flavor is not None)

    def table(self) -> host_columns.HostTable | None:
        """The snapshot's hosts as columns (shared by its requests)."""
        return self._estimates.table()

    def default_group(self) -> host_columns.HostGroup:
        """The settings of a host in no aggregate."""
        settings = self.settings
        return host_columns.HostGroup(settings.thresholds,
                                      settings.missing_data_policy,
                                      settings.overload_policy)

    def judge_all(self, rows: host_columns.HostRows
                  ) -> host_columns.Verdicts:
        """Judge every host of ``rows`` with the guest on it in one pass
        (the filter's and the weigher's path; :meth:`host_load` says
        why, host by host) and keep their scores."""
        self._boots.observe_all(zip(rows.names, rows.num_instances,
                                    strict=True))
        credit_cpu = np.zeros(len(rows.names))
        credit_mem = np.zeros(len(rows.names))
        credit_gpus = np.zeros(len(rows.names))
        snap = self.snapshot
        waiting = self._boots.waiting(snap)
        if waiting and snap is not None:
            for at, name in enumerate(rows.names):
                if name in waiting:
                    credit = self._boots.credit(
                        name, snap, float(rows.vcpus[at]),
                        float(rows.memory_mb[at]))
                    credit_cpu[at] = credit.cpu_percent
                    credit_mem[at] = credit.mem_percent
                    credit_gpus[at] = credit.gpus
        verdicts = host_columns.judge(self.table(), rows, self.guest,
                                      credit_cpu, credit_mem, credit_gpus)
        self.scores.update(zip(rows.names, verdicts.score.tolist(),
                               strict=True))
        return verdicts

    def cached_load(self, name: str) -> HostLoad | None:
        """The load of host ``name`` if already judged in this request."""
        return self._loads.get(name)

    def host_load(self, host: HostFacts,
                  thresholds: scoring.Thresholds | None = None) -> HostLoad:
        """The predicted load of ``host`` with this request's guest on it,
        judged against ``thresholds`` (the request's by default)."""
        load = self._loads.get(host.name)
        if load is None:
            load = self.judge(host, thresholds or self.settings.thresholds)
        return load

    def judge(self, host: HostFacts,
              thresholds: scoring.Thresholds) -> HostLoad:
        """Judge ``host`` (not judged yet in this request) and keep it."""
        load = self._loads[host.name] = self._judge(host, thresholds)
        return load

    def _judge(self, host: HostFacts,
               thresholds: scoring.Thresholds) -> HostLoad:
        self._boots.observe(host.name, host.num_instances)
        snap, settings = self.snapshot, self.settings
        if snap is None:
            return HostLoad(None, 'no load snapshot from the controller')
        view = snap.hosts.get(host.name)
        if view is None:
            return HostLoad(None, 'never sampled')
        if view.age > settings.stale_after:
            return HostLoad(None, f'data {view.age:.0f}s old')
        guest = settings.guest
        cpu = guest.busy_vcpus / host.vcpus * 100.0 if host.vcpus else 0.0
        mem = (guest.memory_mb / host.memory_mb * 100.0 if host.memory_mb
               else 0.0)
        credit = self._boots.credit(host.name, snap, host.vcpus,
                                    host.memory_mb)
        cpu += credit.cpu_percent
        mem += credit.mem_percent
        estimate = scoring.with_busy_gpus(scoring.with_load(
            self._estimates.get(host.name, view), cpu, mem), credit.gpus)
        if host.accelerators:
            estimate = dataclasses.replace(estimate, accelerators=(
                scoring.offered(host.accelerators, estimate)))
        over = scoring.overage(estimate, thresholds)
        return HostLoad(estimate, None, scoring.score(
            estimate, settings.weights, settings.demand, over,
            host.burst_cost), over, thresholds, host.burst_cost)


class LoadAwarePlugin:
    """Snapshot cache, pending boots and per-snapshot estimates of one
    nova-scheduler process; each request's own state is a
    :class:`RequestState` kept apart (see :mod:`.requests`)."""

    def __init__(self, opts, cache: snapshot_client.SnapshotCache,
                 boots: pending.PendingBoots,
                 close: Callable[[], None] = lambda: None):
        self.opts = opts
        self.cache = cache
        self.boots = boots
        self.close = close
        #: ``weight_multiplier`` as read at the latest request's start
        #: (nova asks for it per host, without the request).
        self.weight_multiplier: float = opts.weight_multiplier
        self._estimates = Estimates(None, 0.0)
        self._requests: requests.RequestMap[RequestState] = (
            requests.RequestMap())
        self._lock = threading.Lock()

    def begin_request(self, owner: object, flavor: FlavorFacts,
                      instance_uuid: str | None) -> RequestState:
        """The state of the placement of ``instance_uuid`` for ``owner``
        (nova's ``RequestSpec``, by identity), made by whichever of the
        filter and the weigher calls first."""
        return self._requests.get_or_make(
            owner, instance_uuid,
            lambda: self._new_request(flavor, instance_uuid))

    def _new_request(self, flavor: FlavorFacts,
                     instance_uuid: str | None) -> RequestState:
        opts = self.opts
        self.cache.ttl = opts.snapshot_ttl
        self.cache.max_age = opts.snapshot_max_age
        self.boots.timeout = opts.pending_boot_timeout
        self.boots.default_percent = opts.default_expected_load_percent
        self.boots.handover = opts.pending_boot_handover
        snap = self.cache.get(first_wait=opts.rpc_timeout)
        settings = Settings.read(
            opts, flavor, instance_uuid,
            None if snap is None else snap.learned_load(flavor.flavorid,
                                                        flavor.image))
        self.weight_multiplier = settings.weight_multiplier
        with self._lock:
            estimates = self._estimates
            if (estimates.snapshot is not snap
                    or estimates.risk_factor != settings.risk_factor):
                estimates = self._estimates = Estimates(
                    snap, settings.risk_factor)
        self.boots.start_request(settings.guest)
        return RequestState(settings, estimates, self.boots)


_shared: dict[int, LoadAwarePlugin] = {}
_shared_lock = threading.Lock()


class ControllerFetch:
    """Fetches snapshots from the controller ``conf`` names.

    The transport is made on the first fetch, so that the options in force
    when scheduling starts (not when nova loaded the filter) are used.
    """

    def __init__(self, conf: cfg.ConfigOpts):
        self._conf = conf
        self._transport = None
        self._client: rpcapi.ControllerClient | None = None

    def close(self) -> None:
        """Close the connection to the controller, if one was made."""
        if self._transport is not None:
            self._transport.cleanup()
            self._transport = self._client = None

    def __call__(self) -> snapshot.LoadSnapshot:
        if self._client is None:
            opts = self._conf.cryptomine
            # nova's transport URL and RabbitMQ settings, the controller's
            # exchange and durability.
            self._transport = oslo_messaging.get_rpc_transport(
                cm_conf.bus_conf(self._conf, opts.controller_exchange,
                                 opts.controller_durable_queues),
                url=opts.controller_transport_url,
                allowed_remote_exmods=rpcapi.REMOTE_EXCEPTION_MODULES)
            self._client = rpcapi.ControllerClient(
                self._transport, opts.controller_topic,
                timeout=opts.rpc_timeout)
        # Only the guests that pending boots may be waiting for: every
        # other guest of the fleet would make the snapshot 40x larger.
        return self._client.get_load_snapshot(
            instances_since=self._conf.cryptomine.pending_boot_timeout)


def build(conf: cfg.ConfigOpts) -> LoadAwarePlugin:
    """A plugin fetching snapshots from the controller configured."""
    opts = conf.cryptomine
    fetch = ControllerFetch(conf)
    cache = snapshot_client.SnapshotCache(fetch, opts.snapshot_ttl,
                                          opts.snapshot_max_age)
    return LoadAwarePlugin(opts, cache,
                           pending.PendingBoots(opts.pending_boot_timeout),
                           close=fetch.close)


def shared(conf: cfg.ConfigOpts) -> LoadAwarePlugin:
    """The one plugin of this process for ``conf`` (built on first use)."""
    scheduler_conf.register_opts(conf)
    with _shared_lock:
        plugin = _shared.get(id(conf))
        if plugin is None:
            plugin = _shared[id(conf)] = build(conf)
        return plugin


def forget(conf: cfg.ConfigOpts) -> None:
    """Drop the shared plugin of ``conf`` so the next use builds anew
    (after nova reloaded its configuration, or between tests)."""
    with _shared_lock:
        dropped = _shared.pop(id(conf), None)
    if dropped is not None:
        dropped.close()
