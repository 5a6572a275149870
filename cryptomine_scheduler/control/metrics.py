"""The controller's Prometheus metrics, in a registry of their own.

Ingest counters, per-host gauges and each device guest's loss are read
at scrape time, from the service's ingest totals, its load tracker's
snapshot (predicted loads as the scheduler's load model has them) and
its collector counters, so ingest pays nothing for them.  The
re-planner reports each plan and migration through
:meth:`Metrics.plan_finished` and :meth:`Metrics.migration_finished`.
The burst tier's gauges and counters are read from its history
(:class:`~cryptomine_scheduler.db.burst.BurstStore`) at scrape time:
every controller of a deployment reports the same values.
"""

import dataclasses
import math
import time
from collections.abc import Callable

import prometheus_client
from oslo_log import log as logging
from prometheus_client import core

from cryptomine_scheduler.db import plans
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.history.mining import MiningMetric
from cryptomine_scheduler.history.summaries import Stat
from cryptomine_scheduler.ingest import ingestor as ingest
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.telemetry import collector_counters
from cryptomine_scheduler.telemetry import validation
from cryptomine_scheduler.telemetry.sample import HostMetric

PREFIX = 'cryptomine'
PLAN_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
MIGRATION_BUCKETS = (5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)
#: The statuses a plan is counted with, how a migration is made, and
#: how a started migration ends (status, cause).  Their series are
#: served from the start at 0: Prometheus' increase() cannot count the
#: first event of a series that appears with it.
PLAN_STATUSES = (plans.PlanStatus.NOTHING_TO_DO, plans.PlanStatus.PLANNED,
                 plans.PlanStatus.RUNNING)
MIGRATION_KINDS = ('live', 'cold')
MIGRATION_ENDS = (('succeeded', ''), *(('failed', cause.value) for cause in (
    plans.ActionCause.NOVA, plans.ActionCause.NOVA_UNAVAILABLE,
    plans.ActionCause.TIMED_OUT, plans.ActionCause.ABORT_REQUESTED)))

LOG = logging.getLogger(__name__)


_INGEST_COUNTERS = (  # metric name, IngestTotals counter, help
    ('samples_received', 'received', 'Sample notifications received.'),
    ('samples_stored', 'stored',
     'Samples that passed validation and were stored.'),
    ('batches', 'batches', 'Batches of notifications handled.'),
    ('samples_summarised', 'summarised',
     'Samples added to the summaries, this controller\'s and its peers\'.'),
    ('samples_from_peers', 'from_peers',
     'Samples other controllers stored and cast to this one '
     '([controller] share_ingest).'),
)


class _IngestCollector:
    """Counters of :class:`~ingest.IngestTotals`, read when scraped."""

    def __init__(self, totals: ingest.IngestTotals):
        self._totals = totals

    def collect(self):
        totals = self._totals.wire()
        for name, key, text in _INGEST_COUNTERS:
            yield core.CounterMetricFamily(f'{PREFIX}_{name}', text,
                                           value=totals[key])
        rejected = core.CounterMetricFamily(
            f'{PREFIX}_samples_rejected', 'Samples rejected, by reason.',
            labels=['reason'])
        for reason in validation.Reason:
            rejected.add_metric([reason.value],
                                totals['rejected'][reason.value])
        yield rejected
        restarts = core.CounterMetricFamily(
            f'{PREFIX}_worker_restarts',
            'Worker processes that died and were started again, by '
            'service.', labels=['service'])
        for service, count in sorted(totals['worker_restarts'].items()):
            restarts.add_metric([service], count)
        yield restarts


@dataclasses.dataclass(frozen=True)
class _HostGauge:
    """A per-host gauge: a value read from a host's view and estimate."""

    name: str
    help: str
    read: Callable[[snapshot.HostView, scoring.Estimate], float]


def _newest(metric: MiningMetric) -> Callable[..., float]:
    """A gauge's reading of ``metric`` in the host's newest sample."""
    return lambda v, e: v.mining_metric(metric, Stat.LAST)


_HOST_GAUGES = (
    _HostGauge('cpu_percent', 'Newest CPU use, % of the host.',
               lambda v, e: v.metric(HostMetric.CPU_PERCENT, Stat.LAST)),
    _HostGauge('predicted_cpu_percent',
               'Predicted CPU load, max(EWMA, mean) + k * stddev, % of '
               'the host.',
               lambda v, e: e.cpu_percent),
    _HostGauge('mem_percent', 'Newest memory use, % of the host.',
               lambda v, e: v.metric(HostMetric.MEM_PERCENT, Stat.LAST)),
    _HostGauge('predicted_mem_percent',
               'Predicted memory use, max(EWMA, mean) + k * stddev, % of '
               'the host.',
               lambda v, e: e.mem_percent),
    _HostGauge('gpu_thermal_headroom_celsius',
               'Newest distance of the hottest GPU from its slowdown '
               'temperature (GPU hosts only).',
               _newest(MiningMetric.GPU_THERMAL_HEADROOM)),
    _HostGauge('predicted_gpu_thermal_headroom_celsius',
               'Predicted GPU thermal headroom, min(EWMA, mean) - k * '
               'stddev (GPU hosts only).',
               lambda v, e: e.gpu_thermal_headroom_c),
    _HostGauge('gpu_power_headroom_percent',
               'Newest power headroom of the most loaded GPU, % of its '
               'limit (GPU hosts only).',
               _newest(MiningMetric.GPU_POWER_HEADROOM)),
    _HostGauge('predicted_gpu_power_headroom_percent',
               'Predicted GPU power headroom, min(EWMA, mean) - k * '
               'stddev (GPU hosts only).',
               lambda v, e: e.gpu_power_headroom_percent),
    _HostGauge('inlet_temperature_celsius',
               "Newest inlet (intake) air temperature of the chassis, as "
               "its BMC reads it (GPU and ASIC hosts whose collector "
               "reads the BMC).",
               _newest(MiningMetric.INLET_TEMPERATURE)),
    _HostGauge('chassis_power_watts',
               "Newest power draw of the chassis, as its BMC reads it "
               "(GPU and ASIC hosts whose collector reads the BMC).",
               _newest(MiningMetric.CHASSIS_POWER)),
    _HostGauge('chassis_power_cap_watts',
               "Newest power cap the chassis' BMC holds it to (GPU and "
               "ASIC hosts whose BMC caps their power).",
               lambda v, e: scoring.cap_or_nan(e)),
    _HostGauge('asic_errors_per_minute',
               'Mean ASIC hardware-error rate over the summary window '
               '(ASIC hosts only).',
               lambda v, e: e.asic_errors_per_min),
    _HostGauge('gpus', "GPUs of the host, placement's count where the "
               "controller has it, else the newest sample's.",
               lambda v, e: e.devices.gpu_count),
    _HostGauge('gpus_free', 'GPUs a new guest could take, counted as '
               'gpus is.',
               lambda v, e: e.devices.gpu_free),
    _HostGauge('gpu_throttled_ratio',
               "Share of the summary window's samples in which a GPU of "
               'the host was slowed for heat or power (GPU hosts read '
               'over NVML only).',
               lambda v, e: v.mining_metric(
                   MiningMetric.GPU_THROTTLED, Stat.MEAN)),
    _HostGauge('asics', "Miners of the host, placement's count where the "
               "controller has it, else the newest sample's.",
               lambda v, e: e.devices.asic_count),
    _HostGauge('asics_free', 'Miners a new guest could take, counted as '
               'asics is.',
               lambda v, e: e.devices.asic_free),
    _HostGauge('asics_unavailable',
               'Miners that did not answer at the newest sample.',
               _newest(MiningMetric.ASIC_UNAVAILABLE)),
    _HostGauge('asic_hashrate_gigahashes_per_second',
               "Hashrate of the host's miners at the newest sample, GH/s.",
               _newest(MiningMetric.ASIC_HASHRATE)),
    _HostGauge('asic_hashrate_ratio',
               'Hashrate of the worst answering miner against its own '
               'baseline at the newest sample (1: as usual).',
               _newest(MiningMetric.ASIC_HASHRATE_RATIO)),
    _HostGauge('data_age_seconds', 'Age of the newest sample.',
               lambda v, e: v.age),
    _HostGauge('window_samples',
               'Samples in the summary window.',
               lambda v, e: v.samples),
)


#: Where a controller learns placement events, as counted.
PLACEMENT_SOURCES = ('nova', 'peers', 'database')


class _SnapshotCollector:
    """Per-host gauges, and the device loss of each guest holding a
    device, computed from a fresh snapshot at each scrape."""

    def __init__(self, tracker: snapshot.LoadTracker, risk_factor: float,
                 clock: Callable[[], float]):
        self._tracker = tracker
        self._risk_factor = risk_factor
        self._clock = clock

    def collect(self):
        snap = snapshot.LoadSnapshot.from_wire(
            self._tracker.snapshot(self._clock()))
        families = [core.GaugeMetricFamily(f'{PREFIX}_host_{g.name}',
                                           g.help, labels=['host'])
                    for g in _HOST_GAUGES]
        for host, view in sorted(snap.hosts.items()):
            est = scoring.estimate(view, self._risk_factor)
            for gauge, family in zip(_HOST_GAUGES, families, strict=True):
                value = gauge.read(view, est)
                if not math.isnan(value):  # a reading the host lacks
                    family.add_metric([host], value)
        loss = core.GaugeMetricFamily(
            f'{PREFIX}_instance_device_loss',
            'Share of its work the GPU or miner a guest holds lost at its '
            "host's newest sample (throttling, a sagging or dead miner).",
            labels=['host', 'instance_uuid'])
        for uuid, view in sorted(snap.instances.items()):
            if view.device_loss is not None:
                loss.add_metric([view.host, uuid], view.device_loss)
        never = core.GaugeMetricFamily(
            f'{PREFIX}_host_never_sampled',
            'Compute hosts of placement that the controller holds no '
            'sample of (1 each): no collector reports under the name '
            'nova gives the host.', labels=['host'])
        for host in self._tracker.never_sampled():
            never.add_metric([host], 1)
        yield from families
        yield loss
        yield never
        if self._tracker.placements is not None:
            yield from _placements(snap, self._tracker.placements.counts())


def _placements(snap: snapshot.LoadSnapshot, counts: dict[str, int]):
    """The guests warming up on each host, and where the controller's
    placement events came from (with the controller learning them)."""
    warming = core.GaugeMetricFamily(
        f'{PREFIX}_host_warming_guests',
        'Guests nova placed on the host that still count their expected '
        'load against it (the pending-boot credit).', labels=['host'])
    for host in sorted(set(snap.hosts) | set(snap.pending)):
        warming.add_metric([host], len(snap.pending.get(host, ())))
    yield warming
    events = core.CounterMetricFamily(
        f'{PREFIX}_placement_events',
        "Guests placed, failed or deleted, by where this controller "
        "learnt it: nova (its notifications), peers, database (at start).",
        labels=['source'])
    for source in PLACEMENT_SOURCES:
        events.add_metric([source], counts.get(source, 0))
    yield events
    yield core.CounterMetricFamily(
        f'{PREFIX}_nova_notifications_unreadable',
        "nova's instance notifications that could not be read (skipped).",
        value=counts.get('unreadable', 0))


_COLLECTOR_COUNTERS = (  # name, CollectorCounters field, is a counter, help
    ('collector_samples_dropped', 'dropped', True,
     "Samples the host's collector dropped from its full buffer since it "
     'started.'),
    ('collector_samples_buffered', 'buffered', False,
     "Samples waiting in the host's collector for the message bus."),
    ('collector_publish_failures', 'publish_failures', True,
     "Publishes the host's collector retried since it started."),
    ('collector_source_errors', 'source_errors', True,
     "Source failures of the host's collector since it started."),
)


class _CollectorCountersCollector:
    """The counters each host's collector reported in its newest
    sample, for the hosts that sampled within the summary window."""

    def __init__(self, book: collector_counters.CounterBook, window: float,
                 clock: Callable[[], float]):
        self._book = book
        self._window = window
        self._clock = clock

    def collect(self):
        newest = sorted(self._book.since(self._clock() - self._window)
                        .items())
        for name, field, is_counter, text in _COLLECTOR_COUNTERS:
            family = (core.CounterMetricFamily if is_counter
                      else core.GaugeMetricFamily)(
                f'{PREFIX}_{name}', text, labels=['host'])
            for host, reported in newest:
                family.add_metric([host], getattr(reported.counters, field))
            yield family


_BURST = (  # name, Totals field, is a counter, help
    ('burst_hosts', 'hosts_held', False,
     'Burst hosts held now (in nova and not released).'),
    ('burst_cost_per_hour', 'cost_per_hour', False,
     'What the burst hosts held cost an hour now.'),
    ('burst_host_hours', 'burst_host_hours', True,
     'Hours burst hosts were held, in all.'),
    ('burst_cost', 'cost', True,
     'What the burst hosts held cost, in all.'),
    ('burst_instance_hours', 'burst_instance_hours', True,
     'Hours instances ran on burst hosts, in all.'),
    ('burst_releasable_hosts', 'releasable', False,
     'Burst hosts released (disabled) and not enabled again.'),
    ('burst_releases', 'releases', True,
     'Burst hosts released, in all.'),
)


class _BurstCollector:
    """The burst tier's totals, read from its history when scraped."""

    def __init__(self, store, clock: Callable[[], float]):
        self._store = store
        self._clock = clock

    def collect(self):
        totals = self._store.totals(self._clock())
        for name, field, is_counter, text in _BURST:
            family = (core.CounterMetricFamily if is_counter
                      else core.GaugeMetricFamily)
            yield family(f'{PREFIX}_{name}', text,
                         value=getattr(totals, field))


class Metrics:
    """The controller's registry, its HTTP endpoint and the re-plan API."""

    def __init__(self, totals: ingest.IngestTotals,
                 tracker: snapshot.LoadTracker, risk_factor: float,
                 collectors: collector_counters.CounterBook,
                 clock: Callable[[], float] = time.time, burst=None):
        """``burst``: the burst tier's :class:`~.db.burst.BurstStore`."""
        self.registry = prometheus_client.CollectorRegistry()
        self.registry.register(_IngestCollector(totals))
        if burst is not None:
            self.registry.register(_BurstCollector(burst, clock))
        self.registry.register(
            _SnapshotCollector(tracker, risk_factor, clock))
        self.registry.register(_CollectorCountersCollector(
            collectors, tracker.window, clock))
        self._plans = prometheus_client.Counter(
            f'{PREFIX}_plans', 'Re-plans finished, by status.', ['status'],
            registry=self.registry)
        self._plan_seconds = prometheus_client.Histogram(
            f'{PREFIX}_plan_duration_seconds',
            'Seconds a re-plan took, whatever its status.',
            buckets=PLAN_BUCKETS, registry=self.registry)
        self._migrations = prometheus_client.Counter(
            f'{PREFIX}_migrations',
            'Migrations finished, by status, how (live or cold) and the '
            'cause of a failure (empty on success).',
            ['status', 'how', 'cause'], registry=self.registry)
        self._migration_seconds = prometheus_client.Histogram(
            f'{PREFIX}_migration_duration_seconds',
            'Seconds from requesting a migration to its end, whatever its '
            'status, by how (live, or cold: the guest stopped).',
            ['how'], buckets=MIGRATION_BUCKETS, registry=self.registry)
        for status in PLAN_STATUSES:
            self._plans.labels(status.value)
        for how in MIGRATION_KINDS:
            self._migration_seconds.labels(how)
            for status, cause in MIGRATION_ENDS:
                self._migrations.labels(status, how, cause)
        self._server = self._thread = None

    def plan_finished(self, status: str, seconds: float) -> None:
        """Count a finished re-plan and record how long it took."""
        self._plans.labels(status).inc()
        self._plan_seconds.observe(seconds)

    def migration_finished(self, status: str, seconds: float, how: str,
                           cause: str | None = None) -> None:
        """Count a finished migration (``how``: live or cold; ``cause``:
        why it failed) and record how long it took."""
        self._migrations.labels(status, how, cause or '').inc()
        self._migration_seconds.labels(how).observe(seconds)

    def serve(self, host: str, port: int) -> None:
        """Serve the registry over HTTP from a daemon thread."""
        self._server, self._thread = prometheus_client.start_http_server(
            port, addr=host, registry=self.registry)
        LOG.info('Prometheus metrics served on %s port %d', host, port)

    def stop(self) -> None:
        """Stop serving, if serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None
