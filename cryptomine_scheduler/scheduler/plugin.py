"""What the filter and the weigher share in one nova-scheduler process.

nova builds its filters and weighers once; :func:`shared` gives them one
:class:`LoadAwarePlugin` holding the snapshot cache and the pending-boot
credit.  The plugin works on small records of nova's objects
(:class:`HostFacts`, :class:`FlavorFacts`) built by the adapters, so it
needs no nova import.
"""

import dataclasses
import math
import threading
from collections.abc import Callable

import oslo_messaging
from oslo_config import cfg

from cryptomine_scheduler import rpcapi
from cryptomine_scheduler import scoring
from cryptomine_scheduler import snapshot
from cryptomine_scheduler.conf import scheduler as scheduler_conf
from cryptomine_scheduler.scheduler import pending
from cryptomine_scheduler.scheduler import snapshot_client

ACCELERATOR_SPEC = 'cryptomine:accelerator'
EXPECTED_LOAD_SPEC = 'cryptomine:expected_load_percent'


class BadFlavor(ValueError):
    """A flavor's cryptomine extra spec cannot be understood."""


@dataclasses.dataclass(frozen=True)
class HostFacts:
    """What nova's host state tells about a host."""

    name: str
    num_instances: int
    vcpus: float
    memory_mb: float


@dataclasses.dataclass(frozen=True)
class FlavorFacts:
    """What a request asks for."""

    vcpus: int
    memory_mb: int
    extra_specs: dict

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

    def busy_vcpus(self, default_percent: float) -> float:
        value = self.extra_specs.get(EXPECTED_LOAD_SPEC, default_percent)
        try:
            percent = float(value)
        except ValueError:
            raise BadFlavor(f'{EXPECTED_LOAD_SPEC}={value!r} is not a '
                            'number') from None
        return self.vcpus * min(max(percent, 0.0), 100.0) / 100.0


@dataclasses.dataclass(frozen=True)
class HostLoad:
    """A host's estimate and score, or why there is none (``missing``)."""

    estimate: scoring.Estimate | None
    missing: str | None = None
    score: float | None = None


@dataclasses.dataclass(frozen=True)
class Settings:
    """Options and flavor of the request being scheduled, read once for
    all its hosts (a reloaded nova.conf applies from the next request)."""

    stale_after: float
    risk_factor: float
    missing_data_policy: str
    thresholds: scoring.Thresholds
    weights: scoring.Weights
    weight_multiplier: float
    accelerator: scoring.Accelerator | None
    bad_flavor: str | None

    @classmethod
    def read(cls, opts, flavor: FlavorFacts) -> 'Settings':
        try:
            accelerator, bad_flavor = flavor.accelerator(), None
        except BadFlavor as exc:
            accelerator, bad_flavor = None, str(exc)
        return cls(
            stale_after=opts.stale_after, risk_factor=opts.risk_factor,
            missing_data_policy=opts.missing_data_policy,
            thresholds=scoring.Thresholds(
                max_cpu_percent=opts.max_cpu_percent,
                max_mem_percent=opts.max_mem_percent,
                min_gpu_thermal_headroom_c=opts.min_gpu_thermal_headroom_c,
                min_gpu_power_headroom_percent=(
                    opts.min_gpu_power_headroom_percent),
                max_asic_errors_per_min=opts.max_asic_errors_per_min),
            weights=scoring.Weights(cpu=opts.cpu_weight,
                                    memory=opts.memory_weight,
                                    gpu_thermal=opts.gpu_thermal_weight,
                                    gpu_power=opts.gpu_power_weight),
            weight_multiplier=opts.weight_multiplier,
            accelerator=accelerator, bad_flavor=bad_flavor)


class LoadAwarePlugin:
    """Snapshot, pending boots and the load model, per request.

    Per-host work is done once: a host's estimate and score without
    credit once per snapshot, with credit once per request (the filter
    computes it, the weigher reuses it).
    """

    def __init__(self, opts, cache: snapshot_client.SnapshotCache,
                 boots: pending.PendingBoots,
                 close: Callable[[], None] = lambda: None):
        self.opts = opts
        self.cache = cache
        self.boots = boots
        self.close = close
        self.settings: Settings | None = None
        self._owner: object = None
        self._owner_uuid: str | None = None
        self._snapshot: snapshot.LoadSnapshot | None = None
        self._estimates: dict[str, HostLoad] = {}
        self._estimates_key: tuple = ()
        self._loads: dict[str, HostLoad] = {}
        self._lock = threading.Lock()

    def begin_request(self, owner: object, flavor: FlavorFacts,
                      instance_uuid: str | None) -> None:
        """Start scheduling a placement, once per (``owner``, instance),
        whoever of the filter and the weigher calls first.

        ``owner`` is nova's ``RequestSpec``, compared by identity; holding
        it keeps its id from being reused by the next request's.
        """
        with self._lock:
            if owner is self._owner and instance_uuid == self._owner_uuid:
                return
            self._owner, self._owner_uuid = owner, instance_uuid
            self.settings = Settings.read(self.opts, flavor)
            self.cache.ttl = self.opts.snapshot_ttl
            self.cache.max_age = self.opts.snapshot_max_age
            self.boots.timeout = self.opts.pending_boot_timeout
            self._snapshot = self.cache.get(first_wait=self.opts.rpc_timeout)
            # A snapshot is made while the previous one is still held
            # (by the cache and by us), so it never reuses that one's id.
            key = (id(self._snapshot), self.settings.risk_factor,
                   self.settings.weights)
            if key != self._estimates_key:
                self._estimates, self._estimates_key = {}, key
            self._loads = {}
        try:
            busy = flavor.busy_vcpus(self.opts.default_expected_load_percent)
        except BadFlavor:
            busy = float(flavor.vcpus)
        self.boots.start_request(pending.Request(instance_uuid, busy,
                                                 float(flavor.memory_mb)))

    def cached_load(self, name: str) -> HostLoad | None:
        """The load of host ``name`` if already known in this request."""
        return self._loads.get(name)

    def host_load(self, host: HostFacts) -> HostLoad:
        """The predicted load of ``host`` for the current request."""
        load = self._loads.get(host.name)
        if load is None:
            load = self._loads[host.name] = self._host_load(host)
        return load

    def _host_load(self, host: HostFacts) -> HostLoad:
        self.boots.observe(host.name, host.num_instances)
        snap = self._snapshot
        if snap is None:
            return HostLoad(None, 'no load snapshot from the controller')
        view = snap.hosts.get(host.name)
        if view is None:
            return HostLoad(None, 'never sampled')
        if view.age > self.settings.stale_after:
            return HostLoad(None, f'data {view.age:.0f}s old')
        base = self._estimates.get(host.name)
        if base is None:
            estimate = scoring.estimate(view, self.settings.risk_factor)
            base = self._estimates[host.name] = HostLoad(
                estimate, score=scoring.score(estimate,
                                              self.settings.weights))
        credit = self.boots.credit(host.name, snap, host.vcpus,
                                   host.memory_mb)
        if credit == scoring.NO_CREDIT:
            return base
        estimate = scoring.with_credit(base.estimate, credit)
        return HostLoad(estimate, score=scoring.score(
            estimate, self.settings.weights))


def median(values: list[float]) -> float:
    """The median, or 0 for no values (used for hosts without data)."""
    ordered = sorted(v for v in values if not math.isnan(v))
    if not ordered:
        return 0.0
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2.0


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
            self._transport = oslo_messaging.get_rpc_transport(
                self._conf, url=opts.controller_transport_url,
                allowed_remote_exmods=rpcapi.REMOTE_EXCEPTION_MODULES)
            self._client = rpcapi.ControllerClient(
                self._transport, opts.controller_topic,
                timeout=opts.rpc_timeout)
        return self._client.get_load_snapshot()


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
