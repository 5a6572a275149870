"""``host list``, ``host show`` and ``host history``: the fleet's load as
the controller's summaries and history have it (shown by
:mod:`.host_views`)."""

import time

from cliff import lister
from cliff import show

from cryptomine_scheduler.cli import columns
from cryptomine_scheduler.cli import errors
from cryptomine_scheduler.cli import periods
from cryptomine_scheduler.telemetry import sample as sample_mod

#: What ``host list --kind`` takes: the values of its Kind column.
KINDS = ('cpu', 'gpu', 'asic')
#: A device kind and one of its readings, as ``--metric`` takes them.
DEVICE_METRICS = tuple(f'{kind.value}.{metric}'
                       for kind, metrics in sample_mod.DEVICE_METRICS.items()
                       for metric in metrics)
#: What ``host history --metric`` takes: a host metric, or a device's.
HISTORY_METRICS = (*(m.value for m in sample_mod.HostMetric),
                   *DEVICE_METRICS)


def add_metric(parser, metrics: tuple[str, ...]) -> None:
    """Add ``--metric``, one of ``metrics`` (the first by default)."""
    parser.add_argument(
        '--metric', default=metrics[0], choices=metrics, metavar='METRIC',
        help=f'one of {", ".join(metrics)} (default %(default)s)')


def device_metric(metric: str) -> tuple[sample_mod.DeviceKind | None, str]:
    """The kind of device and the reading of a ``--metric`` of
    :data:`DEVICE_METRICS`; None and ``metric`` for any other."""
    kind, _, reading = metric.partition('.')
    return (sample_mod.DeviceKind(kind), reading) if reading else (
        None, metric)


def add_load_options(parser) -> None:
    parser.add_argument(
        '--risk-factor', type=float, default=1.0, metavar='K',
        help='standard deviations added to the predicted load, as '
             "nova-scheduler's [cryptomine] risk_factor (default 1.0)")
    parser.add_argument(
        '--stale-after', type=float, default=60.0, metavar='SECONDS',
        help='data older than this is marked stale (default 60)')


class ListHosts(lister.Lister):
    """List hosts with their load now and predicted.

    CPU, Memory and GPU (mean utilisation of the host's GPUs) are the last
    sample, in %; Predicted CPU and Memory are the risk-aware estimate the
    nova filter uses (max(EWMA, mean) + K standard deviations, %); CPU
    Trend is in % per minute; GPU Thermal Headroom (degrees C below the
    slowdown temperature) and GPU Power Headroom (% of the power limit)
    are risk-aware lower bounds; Chassis Power is the chassis' predicted
    draw (W) as the host's BMC reads it, as the filter holds it to its
    power budget; Free GPUs and Free Miners are the
    devices a new guest could take (placement's counts where the
    controller has them, as the nova filter counts); Hashrate Ratio is the
    worst answering miner's hashrate against its own baseline in the
    newest sample; Age is the seconds since the newest sample.  Dropped
    (samples lost from a full buffer since the collector started) and
    Buffered (samples waiting for the message bus) are the
    counters of the host's collector in its newest sample.  Warming is
    how many guests nova placed there still count their expected load
    against it (the filter's pending-boot credit).  Unknown
    values are empty (None in JSON).  A compute host of placement that
    the controller holds no sample of (no collector reports under its
    nova name) is listed stale, with no readings and no Age.  ``--kind``
    and ``--stale`` keep only the hosts of those kinds, or the stale
    ones.
    """

    COLUMNS = ('Host', 'Kind', 'CPU', 'Memory', 'GPU', 'Predicted CPU',
               'Predicted Memory', 'CPU Trend', 'GPU Thermal Headroom',
               'GPU Power Headroom', 'Chassis Power', 'Free GPUs',
               'Free Miners', 'Hashrate Ratio', 'Age', 'Stale', 'Dropped',
               'Buffered', 'Warming')

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_load_options(parser)
        parser.add_argument(
            '--kind', action='append', choices=KINDS,
            help='only the hosts with this kind of device (cpu: none); '
                 'repeat for several.  A host with no sample has no '
                 'kind and is left out')
        parser.add_argument(
            '--stale', action='store_true',
            help='only the stale hosts, those with no sample at all '
                 'included')
        return parser

    def take_action(self, parsed_args):
        from cryptomine_scheduler.cli import host_views

        fleet = self.app.client_manager.cryptomine.fleet()
        rows = [host_views.row(h, parsed_args.risk_factor,
                               parsed_args.stale_after)
                for h in fleet.hosts]
        rows += map(host_views.never_sampled_row, fleet.never_sampled)
        kind, stale = self.COLUMNS.index('Kind'), self.COLUMNS.index('Stale')
        if parsed_args.kind:
            rows = [r for r in rows if r[kind] is not None
                    and set(parsed_args.kind) & set(r[kind].split(','))]
        if parsed_args.stale:
            rows = [r for r in rows if r[stale]]
        return self.COLUMNS, sorted(rows, key=lambda r: r[0])


def _device_histories(api, host: str, since: float, view):
    """The history of each kind of the host's devices, by kind, or why it
    could not be read (an API older than the command)."""
    from cryptomine_scheduler.cli import host_views

    try:
        return {kind: api.device_history(host, kind, since)
                for kind in host_views.device_kinds(view)}
    except errors.CommandError as error:
        return f'unavailable: {error}'


class ShowHost(show.ShowOne):
    """Show one host: its summaries, recent history and instances.

    Summaries cover the controller's summary window (trend per minute);
    Collector has the counters the host's collector sent with its newest
    sample; History covers the last --since (an hour by default), and
    Device History the same period of each GPU's temperature and each
    miner's hashrate (GH/s, 5-second); Warming Guests are the guests nova
    placed there lately that still count their expected load against it
    (empty where the controller does not learn placements from nova).
    --plot draws that history into a new PNG file (an existing file or a
    symbolic link is refused unless --force).
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('host', metavar='HOST',
                            help='compute host name')
        periods.add_since(parser, '1h', 'the period of the history')
        parser.add_argument('--plot', metavar='FILE.png',
                            help='draw the history into this new PNG file')
        parser.add_argument(
            '--force', action='store_true',
            help='with --plot, replace the file if it exists (following '
                 'a symbolic link)')
        add_load_options(parser)
        return parser

    def take_action(self, parsed_args):
        from cryptomine_scheduler.cli import host_views

        api = self.app.client_manager.cryptomine
        host = parsed_args.host
        detail = api.host(host)
        since = detail.generated_at - parsed_args.since
        histories = {m: api.host_history(host, since, m)
                     for m in host_views.HISTORY_METRICS}
        if parsed_args.plot:
            host_views.plot(parsed_args.plot, host, histories,
                            force=parsed_args.force)
            self.app.stderr.write(f'History plotted to {parsed_args.plot}\n')
        fields = {'Host': host, **host_views.load_fields(
            detail.load.view, parsed_args.risk_factor,
            parsed_args.stale_after)}
        fields['Collector'] = host_views.collector(detail.load.reported)
        fields['History'] = host_views.history(histories)
        fields['Device History'] = host_views.device_history(
            _device_histories(api, host, since, detail.load.view))
        fields['Instances'] = host_views.instances(detail.instances)
        fields['Warming Guests'] = host_views.warming(detail.load.warming)
        return tuple(fields), tuple(fields.values())


class HostHistory(lister.Lister):
    """List one metric of a host over the last --since (an hour by
    default), a row a sample (raw samples within the controller's
    [controller] raw_retention, 5-minute means before).

    --metric is a host metric (default cpu_percent), or gpu.READING or
    asic.READING: then each of the host's GPUs (by index) or miners (by
    address) has a column, empty where that device gave no reading.
    Times are UTC; -f csv or -f json exports them.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('host', metavar='HOST',
                            help='compute host name')
        add_metric(parser, HISTORY_METRICS)
        periods.add_since(parser, '1h', 'the period of the history')
        return parser

    def take_action(self, parsed_args):
        from cryptomine_scheduler.cli import host_views

        api = self.app.client_manager.cryptomine
        host, metric = parsed_args.host, parsed_args.metric
        since = time.time() - parsed_args.since
        kind, reading = device_metric(metric)
        if kind is None:
            found = api.host_history(host, since,
                                     sample_mod.HostMetric(metric))
            return ('Time', metric), [(columns.utc(t), v)
                                      for t, v in found['points']]
        found = api.device_history(host, kind, since, reading)
        return host_views.device_rows(kind, found)
