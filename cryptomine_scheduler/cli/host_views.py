"""How ``host list`` and ``host show`` show a host's load: the scoring
of the nova filter on the controller's summaries, history and instances.

Imported by the commands when they run: it needs numpy.
"""

import datetime
import math
import os

from cryptomine_scheduler.api import documents
from cryptomine_scheduler.cli import client
from cryptomine_scheduler.cli import columns
from cryptomine_scheduler.cli import errors
from cryptomine_scheduler.history import mining
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.history.summaries import Stat
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.telemetry import collector_counters
from cryptomine_scheduler.telemetry.sample import DeviceKind
from cryptomine_scheduler.telemetry.sample import HostMetric
from cryptomine_scheduler.telemetry.sample import InstanceMetric

HISTORY_METRICS = (HostMetric.CPU_PERCENT, HostMetric.MEM_PERCENT,
                   HostMetric.LOAD_1)
#: Headings of the values of :func:`_mining`.
MINING_COLUMNS = ('Free GPUs', 'Free Miners', 'Hashrate Ratio')


def accelerator_kind(view: snapshot.HostView) -> str:
    return ','.join(sorted(a.value for a in scoring.accelerators(view)))


def device_kinds(view: snapshot.HostView | None) -> tuple[DeviceKind, ...]:
    """The kinds of device of the host whose history ``host show``
    reads: every kind for a host without a recent sample (a silent
    host's history tells what it last did)."""
    if view is None:
        return tuple(DeviceKind)
    kinds = scoring.accelerators(view)
    return tuple(kind for kind in DeviceKind
                 if scoring.Accelerator(kind.value) in kinds)


def row(host: client.HostLoad, risk_factor: float,
        stale_after: float) -> tuple:
    """A row of ``host list``."""
    view, reported = host.view, host.reported
    est = scoring.estimate(view, risk_factor)
    counters = (None, None) if reported is None else (
        reported.counters.dropped, reported.counters.buffered)
    return (
        host.name, accelerator_kind(view),
        columns.number(view.metric(HostMetric.CPU_PERCENT, Stat.LAST)),
        columns.number(view.metric(HostMetric.MEM_PERCENT, Stat.LAST)),
        columns.number(view.mining_metric(
            mining.MiningMetric.GPU_UTILIZATION, Stat.LAST)),
        columns.number(est.cpu_percent), columns.number(est.mem_percent),
        columns.number(view.metric(HostMetric.CPU_PERCENT, Stat.TREND), 2),
        columns.number(est.gpu_thermal_headroom_c),
        columns.number(est.gpu_power_headroom_percent),
        columns.number(est.chassis_power_w, 0),
        *_mining(view, est),
        columns.number(view.age), view.age > stale_after, *counters,
        None if host.warming is None else len(host.warming))


def never_sampled_row(name: str) -> tuple:
    """A row of ``host list`` for a compute host of placement that the
    controller holds no sample of: stale, every reading unknown."""
    return (name, *(None,) * 14, True, None, None, None)


def _mining(view: snapshot.HostView, est: scoring.Estimate) -> tuple:
    """The GPUs and miners a new guest could take (placement's counts
    where the controller has them, as the filter's) and the worst
    answering miner's hashrate against its baseline, newest sample."""
    return (columns.count(est.devices.gpu_free),
            columns.count(est.devices.asic_free),
            columns.number(view.mining_metric(
                mining.MiningMetric.ASIC_HASHRATE_RATIO, Stat.LAST), 2))


def load_fields(view: snapshot.HostView | None, risk_factor: float,
                stale_after: float) -> dict:
    """``host show``'s fields of the host's summaries; only Stale where
    it has none (no sample within the summary window)."""
    if view is None:
        return {'Stale': True}
    est = scoring.estimate(view, risk_factor)
    return {
        'Kind': accelerator_kind(view),
        'Samples': view.samples,
        'Newest': columns.utc(view.newest),
        'Age': columns.number(view.age),
        'Stale': view.age > stale_after,
        'Predicted CPU': columns.number(est.cpu_percent),
        'Predicted Memory': columns.number(est.mem_percent),
        'GPU Thermal Headroom': columns.number(est.gpu_thermal_headroom_c),
        'GPU Power Headroom': columns.number(
            est.gpu_power_headroom_percent),
        'ASIC Errors Per Minute': columns.number(est.asic_errors_per_min),
        # The chassis' readings of the host's BMC, as the filter and the
        # re-planner hold them to their limits.
        'Predicted Inlet Temperature': columns.number(
            est.inlet_temperature_c),
        'Predicted Chassis Power': columns.number(est.chassis_power_w),
        'BMC Power Cap': columns.number(scoring.cap_or_nan(est)),
        **dict(zip(MINING_COLUMNS, _mining(view, est), strict=True)),
        'Summaries': _summaries(view)}


def _summaries(view: snapshot.HostView) -> columns.Text:
    """Every metric's statistics over the summary window."""
    rows = [(m.value, [view.metric(m, s) for s in Stat])
            for m in HostMetric]
    rows += [(m.value, [view.mining_metric(m, s) for s in Stat])
             for m in mining.METRICS]
    known = {name: [columns.number(v, 3) for v in values]
             for name, values in rows
             if not all(math.isnan(v) for v in values)}
    header = ['metric'] + [s.name.lower() for s in Stat]
    text = columns.aligned([header] + [
        [name] + ['' if v is None else f'{v:g}' for v in values]
        for name, values in known.items()])
    return columns.Text({name: dict(zip(header[1:], values, strict=True))
                         for name, values in known.items()}, text)


def collector(reported: collector_counters.Reported | None
              ) -> columns.Text | None:
    """``host show``'s counters of the host's collector and the sample
    that carried them; None where it sent none (a collector of schema 1,
    or none since the controller started)."""
    if reported is None:
        return None
    c = reported.counters
    return columns.Text(reported.wire(), (
        f'dropped {c.dropped}, buffered {c.buffered}, publish failures '
        f'{c.publish_failures}, source errors {c.source_errors}\nfrom '
        f'sample {reported.seq} at {columns.utc(reported.timestamp)}'))


def _series_line(label: str, points: list, resolution: int) -> str:
    """One series: its count, range, last value and sparkline."""
    values = [v for _, v in points]
    kind = f'{resolution:g}-second rollups' if resolution else 'samples'
    if not values:
        return f'{label}: no {kind}'
    return (f'{label}: {len(values)} {kind}, min {min(values):g} '
            f'max {max(values):g} last {values[-1]:g} '
            f'{columns.sparkline(values)}')


def history(histories: dict[HostMetric, dict]) -> columns.Text:
    return columns.Text(
        {m.value: {'resolution_seconds': h['resolution_seconds'],
                   'points': h['points']} for m, h in histories.items()},
        '\n'.join(_series_line(m.value, h['points'],
                               h['resolution_seconds'])
                  for m, h in histories.items()))


#: How ``host show`` and ``host history`` name the devices of each kind.
DEVICE_LABELS = {DeviceKind.GPU: 'GPU', DeviceKind.ASIC: 'miner'}


def device_rows(kind: DeviceKind, found: dict) -> tuple[tuple, list]:
    """A device history as a table: a column per device, a row per time
    (UTC) any of them was read at, empty where a device was not."""
    devices = list(found['devices'])
    by_time: dict[float, list] = {}
    for n, device in enumerate(devices):
        for at, value in found['devices'][device]:
            by_time.setdefault(at, [None] * len(devices))[n] = value
    return (('Time', *(f'{DEVICE_LABELS[kind]} {d}' for d in devices)),
            [(columns.utc(at), *by_time[at]) for at in sorted(by_time)])


def device_history(histories: dict[DeviceKind, dict] | str
                   ) -> columns.Text | None:
    """Each device's history of its kind's default reading (the GPUs'
    temperature, the miners' hashrate), or why it could not be read;
    None where no device has any."""
    if isinstance(histories, str):
        return columns.Text(histories, histories)
    found = {kind: history for kind, history in histories.items()
             if history['devices']}
    if not found:
        return None
    return columns.Text(
        {kind.value: history for kind, history in found.items()},
        '\n'.join(_series_line(
            f'{DEVICE_LABELS[kind]} {device} {history["metric"]}', points,
            history['resolution_seconds'])
            for kind, history in found.items()
            for device, points in history['devices'].items()))


def instances(found: dict[str, snapshot.InstanceView]) -> columns.Text:
    """The guests' load, and what the device each one holds lost (a
    column of its own where that is known of some guest)."""
    records = [{'uuid': uuid,
                'cpu_percent': columns.number(
                    view.metric(InstanceMetric.CPU_PERCENT, Stat.LAST)),
                'rss_mb': columns.number(
                    view.metric(InstanceMetric.RSS_MB, Stat.LAST), 0),
                'age': columns.number(view.age),
                'device_lost_percent': columns.number(
                    None if view.device_loss is None
                    else 100.0 * view.device_loss)}
               for uuid, view in sorted(found.items())]
    if not records:
        return columns.Text(records, 'none')
    keys = ['uuid', 'cpu_percent', 'rss_mb', 'age']
    header = ['uuid', 'cpu %', 'rss MiB', 'age s']
    if any(r['device_lost_percent'] is not None for r in records):
        keys.append('device_lost_percent')
        header.append('device lost %')
    return columns.Text(records, columns.aligned(
        [header] + [['' if r[k] is None else str(r[k]) for k in keys]
                    for r in records]))


def warming(guests: tuple[snapshot.PendingView, ...] | None
            ) -> columns.Text | None:
    """The guests still warming up on the host, as the nova filter
    counts them; None where that is not known."""
    if guests is None:
        return None
    records = documents.warming(guests)
    if not records:
        return columns.Text(records, 'none')
    keys = ('uuid', 'vcpus', 'memory_mb', 'expected_load_percent', 'gpus')
    return columns.Text(records, columns.aligned(
        [['uuid', 'vCPUs', 'memory MiB', 'expected %', 'GPUs']]
        + [['' if r[k] is None else str(r[k]) for k in keys]
           for r in records]))


def plot(path: str, host: str, histories: dict[HostMetric, dict],
         force: bool = False) -> None:
    """Draw ``histories`` one panel each into the PNG ``path`` (Agg): a
    new file, never one that exists or a symbolic link, unless
    ``force``."""
    # matplotlib takes a second to import: only when plotting.
    from matplotlib import figure
    from matplotlib.backends import backend_agg

    fig = figure.Figure(figsize=(9, 2.2 * len(histories)))
    backend_agg.FigureCanvasAgg(fig)
    axes = fig.subplots(len(histories), 1, sharex=True, squeeze=False)
    for ax, (metric, found) in zip(axes[:, 0], histories.items(),
                                   strict=True):
        ax.plot([datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
                 for t, _ in found['points']],
                [v for _, v in found['points']], linewidth=1)
        ax.set_ylabel(metric.value)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f'{host} (UTC)')
    fig.autofmt_xdate()
    # O_EXCL refuses any existing name, a symbolic link (even dangling)
    # included.
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        with os.fdopen(os.open(path, flags, 0o644), 'wb') as out:
            fig.savefig(out, format='png')
    except FileExistsError:
        raise errors.CommandError(
            f'cannot write plot {path}: it exists (--force replaces it)'
        ) from None
    except OSError as exc:
        raise errors.CommandError(
            f'cannot write plot {path}: {exc.strerror}') from None
