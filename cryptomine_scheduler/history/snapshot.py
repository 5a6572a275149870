"""The load snapshot: every host's and instance's summary at one instant.

:class:`LoadTracker` feeds stored samples into two
:class:`~cryptomine_scheduler.history.summaries.SummaryBook` s and renders the
compact, versioned wire form that the controller serves by RPC;
:class:`LoadSnapshot` is the typed view a consumer reads it back into.
"""

import dataclasses
import functools
import threading
import typing

import numpy as np

from cryptomine_scheduler.history import flavor_loads as flavor_loads_mod
from cryptomine_scheduler.history import mining
from cryptomine_scheduler.history import summaries
from cryptomine_scheduler.placement import device_inventory
from cryptomine_scheduler.telemetry import sample as sample_mod

if typing.TYPE_CHECKING:
    # Only the controller learns placements; nova-scheduler, which reads
    # snapshots, does not import them.
    from cryptomine_scheduler.history import placements as placements_mod

SNAPSHOT_VERSION = 1
HOST_METRICS = tuple(sample_mod.HostMetric)
INSTANCE_METRICS = tuple(sample_mod.InstanceMetric)
_HOST_ROW = {m: i for i, m in enumerate(HOST_METRICS)}
_INSTANCE_ROW = {m: i for i, m in enumerate(INSTANCE_METRICS)}
_MINING_ROW = {m: i for i, m in enumerate(mining.METRICS)}


@dataclasses.dataclass(frozen=True)
class SeriesView:
    """A summary as read from a snapshot."""

    newest: float
    age: float
    samples: int
    stats: np.ndarray

    def get(self, metric_index: int, stat: summaries.Stat) -> float:
        return float(self.stats[metric_index, stat])


@dataclasses.dataclass(frozen=True)
class HostView(SeriesView):
    """A host's load; ``mining_stats`` is None without GPU or ASIC;
    ``devices`` its GPUs and miners as placement counts them, None when
    the controller does not read placement or it counts none."""

    mining_stats: np.ndarray | None = None
    devices: device_inventory.HostDevices | None = None

    def metric(self, metric: sample_mod.HostMetric,
               stat: summaries.Stat) -> float:
        return self.get(_HOST_ROW[metric], stat)

    def mining_metric(self, metric: mining.MiningMetric,
                      stat: summaries.Stat) -> float:
        """The statistic, NaN where the host has no such reading."""
        if self.mining_stats is None:
            return np.nan
        return float(self.mining_stats[_MINING_ROW[metric], stat])


@dataclasses.dataclass(frozen=True)
class InstanceView(SeriesView):
    """A guest's load on ``host``; ``device_loss`` what the device it
    holds lost at the host's newest sample
    (:meth:`.mining.MiningDeriver.guest_losses`), None when it holds none
    or that is not known yet."""

    host: str = ''
    device_loss: float | None = None

    def metric(self, metric: sample_mod.InstanceMetric,
               stat: summaries.Stat) -> float:
        return self.get(_INSTANCE_ROW[metric], stat)


@dataclasses.dataclass(frozen=True)
class PendingView:
    """A guest nova placed on ``host`` that is still warming up: its
    flavor's size and expected load (None: the scheduler's default), and
    how many GPUs it holds."""

    uuid: str
    host: str
    vcpus: int
    memory_mb: int
    expected_load_percent: float | None
    gpus: int = 0


class SnapshotVersionError(ValueError):
    """The snapshot was written by an incompatible controller."""


@dataclasses.dataclass(frozen=True)
class LoadSnapshot:
    """Summaries of every host and instance, as served by the controller."""

    generated_at: float
    window: float
    hosts: dict[str, HostView]
    instances: dict[str, InstanceView]
    #: Whether the controller learns placements from nova; if so the
    #: guests warming up, by host, and their UUIDs.
    learns_placements: bool = False
    pending: dict[str, tuple[PendingView, ...]] = dataclasses.field(
        default_factory=dict)
    placed: frozenset[str] = frozenset()
    #: What warm guests of each flavor use (:mod:`.flavor_loads`).
    flavor_loads: flavor_loads_mod.Table = dataclasses.field(
        default_factory=dict)

    def learned_load(self, flavor: str | None,
                     image: str | None) -> float | None:
        """The learned load (% of its vCPUs) of a guest of ``flavor``
        booted from ``image``; None when not learned."""
        return flavor_loads_mod.expected(self.flavor_loads, flavor, image)

    @classmethod
    def from_wire(cls, wire: dict) -> 'LoadSnapshot':
        if wire.get('version') != SNAPSHOT_VERSION:
            raise SnapshotVersionError(
                f'snapshot version {wire.get("version")!r}, expected '
                f'{SNAPSHOT_VERSION}')
        _check_layout(wire)
        now = wire['generated_at']
        hosts = {name: HostView(newest=v['newest'], age=now - v['newest'],
                                samples=v['samples'],
                                stats=_padded(v['stats']),
                                mining_stats=_from_wire_stats(
                                    v.get('mining')),
                                devices=_devices_from_wire(v))
                 for name, v in wire['hosts'].items()}
        instances = {
            uuid: InstanceView(newest=v['newest'], age=now - v['newest'],
                               samples=v['samples'],
                               stats=_padded(v['stats']), host=v['host'],
                               device_loss=v.get('device_loss'))
            for uuid, v in wire['instances'].items()}
        pending: dict[str, list[PendingView]] = {}
        for uuid, v in wire.get('pending', {}).items():
            pending.setdefault(v['host'], []).append(PendingView(
                uuid, v['host'], v['vcpus'], v['memory_mb'],
                v['expected_load_percent'], int(v.get('gpu', 0))))
        return cls(now, wire['window'], hosts, instances, 'pending' in wire,
                   {host: tuple(views) for host, views in pending.items()},
                   frozenset(wire.get('pending', ())),
                   wire.get('flavor_loads', {}))


def _layout() -> dict:
    return {'stats': [s.name.lower() for s in summaries.Stat],
            'host_metrics': [m.value for m in HOST_METRICS],
            'instance_metrics': [m.value for m in INSTANCE_METRICS],
            'mining_metrics': [m.value for m in mining.METRICS]}


def _to_wire_stats(stats: np.ndarray) -> list:
    """Rounded rows, NaN as None (JSON has no NaN)."""
    return [[None if np.isnan(v) else v for v in row]
            for row in stats.round(4).tolist()]


def _from_wire_stats(rows) -> np.ndarray | None:
    """Mining stats, NaN rows for the metrics their writer did not know
    (appended since)."""
    if rows is None:
        return None
    stats = _padded([[np.nan if v is None else v for v in row]
                     for row in rows])
    missing = len(mining.METRICS) - len(stats)
    if missing <= 0:
        return stats
    return np.pad(stats, ((0, missing), (0, 0)), constant_values=np.nan)


def _devices_from_wire(host: dict) -> device_inventory.HostDevices | None:
    devices = host.get('devices')
    return (None if devices is None
            else device_inventory.HostDevices.from_wire(devices))


def _check_layout(wire: dict) -> None:
    """Raise unless ``wire`` is laid out as ours, or as a writer's that
    knew only the first statistics or mining metrics (the others read as
    NaN, see _padded and _from_wire_stats): a release that adds one
    reads its predecessor's snapshots, so nova-scheduler's plugin can be
    upgraded before the controllers."""
    for key, expected in _layout().items():
        found = wire.get(key)
        if (key in ('stats', 'mining_metrics') and isinstance(found, list)
                and found):
            expected = expected[:len(found)]
        if found != expected:
            raise SnapshotVersionError(f'snapshot {key} {found!r} '
                                       f'differ from {expected!r}')


def _padded(rows) -> np.ndarray:
    """Stats rows with NaN for the statistics their writer did not
    know (appended since)."""
    stats = np.asarray(rows, dtype=float)
    missing = len(summaries.Stat) - stats.shape[-1]
    if missing <= 0:
        return stats
    return np.pad(stats, ((0, 0), (0, missing)), constant_values=np.nan)


def _series_wire(summary: summaries.Summary) -> dict:
    return {'newest': summary.newest, 'samples': summary.samples,
            'stats': summary.stats.round(4).tolist()}


def _host_wire(summary: summaries.Summary,
               mining_summary: summaries.Summary | None,
               devices: device_inventory.HostDevices | None) -> dict:
    wire = _series_wire(summary)
    if mining_summary is not None:
        wire['mining'] = _to_wire_stats(mining_summary.stats)
    if devices:
        wire['devices'] = devices.wire()
    return wire


def _instance_wire(summary: summaries.Summary, host: str,
                   device_loss: float | None) -> dict:
    wire = {**_series_wire(summary), 'host': host}
    if device_loss is not None:
        wire['device_loss'] = round(device_loss, 4)
    return wire


class LoadTracker:
    """In-memory summaries of the stored load, kept current by ingest.

    A snapshot lists, for each host, only the instances its newest sample
    lists (the guests running there now), so its size is bounded by the
    hosts and the per-sample instance limit, however many guests a host
    has reported in the window.  With ``placements`` (learnt from nova)
    it also lists the guests placed that are still warming up, and
    learns from those warmed up what each flavor's guests use.
    """

    def __init__(self, window: float, half_life: float,
                 baseline_half_life: float = 1800.0,
                 placements: 'placements_mod.Placements | None' = None,
                 flavor_loads: flavor_loads_mod.FlavorLoads | None = None):
        self.window = window
        self.placements = placements
        self.flavor_loads = flavor_loads or flavor_loads_mod.FlavorLoads()
        self.hosts = summaries.SummaryBook(len(HOST_METRICS), window,
                                           half_life)
        self.mining = summaries.SummaryBook(len(mining.METRICS), window,
                                            half_life)
        self.deriver = mining.MiningDeriver(baseline_half_life)
        # An instance that stopped reporting (deleted, or moved to a host
        # whose collector is down) is forgotten after one window.
        self.instances = summaries.SummaryBook(
            len(INSTANCE_METRICS), window, half_life, forget_after=window)
        #: instance -> the host whose newest sample listed it last
        self._instance_host: dict[str, str] = {}
        #: host -> (timestamp, instances) of its newest sample
        self._listed: dict[str, tuple[float, frozenset[str]]] = {}
        #: host -> its logical CPUs, from its newest sample telling them
        self._cpus: dict[str, int] = {}
        #: host -> its GPUs and miners, as placement counted them last
        self._devices: dict[str, device_inventory.HostDevices] = {}
        #: every compute host of placement's last reading
        self._compute_hosts: frozenset[str] = frozenset()
        #: what warm guests were measured to use, not saved yet
        self._learned: list[flavor_loads_mod.Observation] = []
        self._lock = threading.Lock()

    def set_devices(self,
                    devices: dict[str, device_inventory.HostDevices]
                    ) -> None:
        """Replace every host's device counts by a new reading of
        placement: each of its compute hosts, with the devices it counts
        there (hosts it left out count none)."""
        self._devices = {host: d for host, d in devices.items() if d}
        self._compute_hosts = frozenset(devices)

    def never_sampled(self) -> list[str]:
        """The compute hosts of placement's last reading that the
        summaries hold no sample of, sorted: no collector reports under
        the name nova gives the host (or none did within the history
        read at start)."""
        with self._lock:
            return sorted(self._compute_hosts.difference(self._listed))

    def add(self, sample: sample_mod.LoadSample) -> None:
        self.hosts.add(sample.host, sample.timestamp,
                       [getattr(sample.host_load, m.value)
                        for m in HOST_METRICS])
        row = self.deriver.derive(sample)
        if row is not None:
            self.mining.add(sample.host, sample.timestamp, row)
        for instance in sample.instances:
            self.instances.add(instance.uuid, sample.timestamp,
                               (instance.cpu_percent, instance.rss_mb))
        # Listed once summarised: a snapshot shows all of them or none.
        with self._lock:
            listed = self._listed.get(sample.host)
            if listed is None or sample.timestamp >= listed[0]:
                uuids = frozenset(i.uuid for i in sample.instances)
                self._listed[sample.host] = (sample.timestamp, uuids)
                if sample.cpus is not None:
                    self._cpus[sample.host] = sample.cpus
                for uuid in uuids:
                    self._instance_host[uuid] = sample.host

    def snapshot(self, now: float,
                 instances_since: float | None = None) -> dict:
        """Return the wire form of the current snapshot.

        With ``instances_since`` (seconds) only the instances first
        sampled that recently are in it: what nova-scheduler needs to
        tell whether the guests it placed are running yet, without the
        whole fleet's guests (40 a host make the snapshot 40 times
        larger and slower).
        """
        with self._lock:
            for uuid in self.instances.forget(now):
                self._instance_host.pop(uuid, None)
            candidates = (
                list(self._instance_host) if instances_since is None
                else self.instances.first_seen_since(now - instances_since))
            running = {}
            for uuid in candidates:
                host = self._instance_host.get(uuid)
                if host is not None and uuid in self._listed[host][1]:
                    running[uuid] = host
        instances = self.instances.summaries(now, running)
        losses = {host: self.deriver.guest_losses(host)
                  for host in set(running.values())}
        mining_summaries = self.mining.summaries(now)
        devices = self._devices
        wire = {
            'version': SNAPSHOT_VERSION,
            'generated_at': now,
            'window': self.window,
            **_layout(),
            'hosts': {name: _host_wire(s, mining_summaries.get(name),
                                       devices.get(name))
                      for name, s in self.hosts.summaries(now).items()},
            'instances': {uuid: _instance_wire(
                s, running[uuid], losses[running[uuid]].get(uuid))
                for uuid, s in instances.items()},
        }
        if self.placements is not None:
            warming = self.placements.warming(
                self.instances.first_time,
                functools.partial(self._learn, now))
            learned = self.flavor_loads.wire()
            wire['pending'] = {uuid: _pending_wire(placement, learned)
                               for uuid, placement in warming.items()}
            wire['flavor_loads'] = learned
        return wire

    def _learn(self, now: float, uuid: str,
               placement: 'placements_mod.Placement') -> None:
        """Note what the guest ``uuid``, warm now, uses of its vCPUs:
        its recent (EWMA) share of its host's CPUs, scaled."""
        with self._lock:
            host = self._instance_host.get(uuid)
            cpus = self._cpus.get(host)
        if placement.flavor is None or cpus is None or not placement.vcpus:
            return
        summary = self.instances.summaries(now, (uuid,)).get(uuid)
        if summary is None:
            return
        share = summary.get(_INSTANCE_ROW[sample_mod.InstanceMetric
                                          .CPU_PERCENT], summaries.Stat.EWMA)
        if share == share:
            percent = share * cpus / placement.vcpus
            self.flavor_loads.observe(placement.flavor, placement.image,
                                      percent)
            with self._lock:
                self._learned.append(flavor_loads_mod.Observation(
                    uuid, placement.flavor, placement.image, percent, now))

    def take_learned(self) -> list[flavor_loads_mod.Observation]:
        """What warm guests were measured to use since the last call,
        for the database."""
        with self._lock:
            learned, self._learned = self._learned, []
        return learned


def _pending_wire(placement: 'placements_mod.Placement',
                  learned: flavor_loads_mod.Table) -> dict:
    """A warming guest as served: its expected load learned from its
    flavor's guests, else its flavor's extra spec."""
    wire = placement.wire()
    percent = flavor_loads_mod.expected(learned, placement.flavor,
                                        placement.image)
    if percent is not None:
        wire['expected_load_percent'] = percent
    return wire
