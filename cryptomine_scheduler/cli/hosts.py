"""``host list`` and ``host show``: the fleet's load as the controller's
summaries and history have it."""

import datetime
import math

from cliff import lister
from cliff import show

from cryptomine_scheduler import mining
from cryptomine_scheduler import scoring
from cryptomine_scheduler import snapshot
from cryptomine_scheduler.cli import client
from cryptomine_scheduler.cli import columns
from cryptomine_scheduler.sample import HostMetric
from cryptomine_scheduler.sample import InstanceMetric
from cryptomine_scheduler.summaries import Stat

HISTORY_METRICS = (HostMetric.CPU_PERCENT, HostMetric.MEM_PERCENT,
                   HostMetric.LOAD_1)


def add_load_options(parser) -> None:
    parser.add_argument(
        '--risk-factor', type=float, default=1.0, metavar='K',
        help='standard deviations added to the predicted load, as '
             "nova-scheduler's [cryptomine] risk_factor (default 1.0)")
    parser.add_argument(
        '--stale-after', type=float, default=60.0, metavar='SECONDS',
        help='data older than this is marked stale (default 60)')


def accelerator_kind(view: snapshot.HostView) -> str:
    return ','.join(sorted(a.value for a in scoring.accelerators(view)))


class ListHosts(lister.Lister):
    """List hosts with their load now and predicted.

    CPU, Memory and GPU (mean utilisation of the host's GPUs) are the last
    sample, in %; Predicted CPU and Memory are the risk-aware estimate the
    nova filter uses (max(EWMA, mean) + K standard deviations, %); CPU
    Trend is in % per minute; GPU Thermal Headroom (degrees C below the
    slowdown temperature) and GPU Power Headroom (% of the power limit)
    are risk-aware lower bounds; Age is the seconds since the newest
    sample.  Unknown values are empty (None in JSON).
    """

    auth_required = False
    COLUMNS = ('Host', 'Kind', 'CPU', 'Memory', 'GPU', 'Predicted CPU',
               'Predicted Memory', 'CPU Trend', 'GPU Thermal Headroom',
               'GPU Power Headroom', 'Age', 'Stale')

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_load_options(parser)
        return parser

    def take_action(self, parsed_args):
        snap = self.app.client_manager.cryptomine.snapshot()
        return self.COLUMNS, [
            self._row(name, view, parsed_args)
            for name, view in sorted(snap.hosts.items())]

    @staticmethod
    def _row(name: str, view: snapshot.HostView, parsed_args) -> tuple:
        est = scoring.estimate(view, parsed_args.risk_factor)
        return (
            name, accelerator_kind(view),
            columns.number(view.metric(HostMetric.CPU_PERCENT, Stat.LAST)),
            columns.number(view.metric(HostMetric.MEM_PERCENT, Stat.LAST)),
            columns.number(view.mining_metric(
                mining.MiningMetric.GPU_UTILIZATION, Stat.LAST)),
            columns.number(est.cpu_percent), columns.number(est.mem_percent),
            columns.number(view.metric(HostMetric.CPU_PERCENT, Stat.TREND),
                           2),
            columns.number(est.gpu_thermal_headroom_c),
            columns.number(est.gpu_power_headroom_percent),
            columns.number(view.age), view.age > parsed_args.stale_after)


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


def _history(histories: dict[HostMetric, dict]) -> columns.Text:
    lines = []
    for metric, history in histories.items():
        values = [v for _, v in history['points']]
        resolution = history['resolution_seconds']
        kind = (f'{resolution:g}-second rollups' if resolution
                else 'samples')
        if values:
            lines.append(
                f'{metric.value}: {len(values)} {kind}, min {min(values):g} '
                f'max {max(values):g} last {values[-1]:g} '
                f'{columns.sparkline(values)}')
        else:
            lines.append(f'{metric.value}: no {kind}')
    return columns.Text(
        {m.value: {'resolution_seconds': h['resolution_seconds'],
                   'points': h['points']} for m, h in histories.items()},
        '\n'.join(lines))


def _instances(found: dict[str, snapshot.InstanceView]) -> columns.Text:
    records = [{'uuid': uuid,
                'cpu_percent': columns.number(
                    view.metric(InstanceMetric.CPU_PERCENT, Stat.LAST)),
                'rss_mb': columns.number(
                    view.metric(InstanceMetric.RSS_MB, Stat.LAST), 0),
                'age': columns.number(view.age)}
               for uuid, view in sorted(found.items())]
    if not records:
        return columns.Text(records, 'none')
    return columns.Text(records, columns.aligned(
        [['uuid', 'cpu %', 'rss MiB', 'age s']]
        + [[str(r[k]) for k in ('uuid', 'cpu_percent', 'rss_mb', 'age')]
           for r in records]))


def plot(path: str, host: str, histories: dict[HostMetric, dict]) -> None:
    """Draw ``histories`` one panel each into the PNG ``path`` (Agg)."""
    # matplotlib takes a second to import: only when plotting.
    from matplotlib import figure
    from matplotlib.backends import backend_agg

    fig = figure.Figure(figsize=(9, 2.2 * len(histories)))
    backend_agg.FigureCanvasAgg(fig)
    axes = fig.subplots(len(histories), 1, sharex=True, squeeze=False)
    for ax, (metric, history) in zip(axes[:, 0], histories.items(),
                                     strict=True):
        ax.plot([datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
                 for t, _ in history['points']],
                [v for _, v in history['points']], linewidth=1)
        ax.set_ylabel(metric.value)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f'{host} (UTC)')
    fig.autofmt_xdate()
    try:
        fig.savefig(path, format='png')
    except OSError as exc:
        raise client.CommandError(
            f'cannot write plot {path}: {exc.strerror}') from None


class ShowHost(show.ShowOne):
    """Show one host: its summaries, recent history and instances.

    Summaries cover the controller's summary window (trend per minute);
    History covers the last --since seconds.  --plot draws that history
    into a PNG file.
    """

    auth_required = False

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('host', metavar='HOST',
                            help='compute host name')
        parser.add_argument(
            '--since', type=float, default=3600.0, metavar='SECONDS',
            help='history of the last SECONDS (default 3600)')
        parser.add_argument('--plot', metavar='FILE.png',
                            help='draw the history into this PNG file')
        add_load_options(parser)
        return parser

    def take_action(self, parsed_args):
        controller = self.app.client_manager.cryptomine
        host = parsed_args.host
        snap = controller.snapshot()
        since = snap.generated_at - parsed_args.since
        histories = {m: controller.host_history(host, since, m)
                     for m in HISTORY_METRICS}
        if parsed_args.plot:
            plot(parsed_args.plot, host, histories)
            self.app.stderr.write(f'History plotted to {parsed_args.plot}\n')
        view = snap.hosts.get(host)
        fields = {'Host': host}
        if view is None:  # no sample within the summary window
            fields['Stale'] = True
        else:
            est = scoring.estimate(view, parsed_args.risk_factor)
            fields.update({
                'Kind': accelerator_kind(view),
                'Samples': view.samples,
                'Newest': columns.utc(view.newest),
                'Age': columns.number(view.age),
                'Stale': view.age > parsed_args.stale_after,
                'Predicted CPU': columns.number(est.cpu_percent),
                'Predicted Memory': columns.number(est.mem_percent),
                'GPU Thermal Headroom': columns.number(
                    est.gpu_thermal_headroom_c),
                'GPU Power Headroom': columns.number(
                    est.gpu_power_headroom_percent),
                'ASIC Errors Per Minute': columns.number(
                    est.asic_errors_per_min),
                'Summaries': _summaries(view)})
        fields['History'] = _history(histories)
        fields['Instances'] = _instances(
            {uuid: i for uuid, i in snap.instances.items() if i.host == host})
        return tuple(fields), tuple(fields.values())
