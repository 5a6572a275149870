"""``instance history`` and ``instance migrations``: one guest's load
(or its GPUs' or miners' readings) over time with the hosts it ran on,
and the moves the plans made of it."""

import time

from cliff import lister

from cryptomine_scheduler.cli import columns
from cryptomine_scheduler.cli import hosts
from cryptomine_scheduler.cli import periods
from cryptomine_scheduler.cli import plans
from cryptomine_scheduler.telemetry import sample as sample_mod

#: What ``instance history --metric`` takes: an instance metric, or a
#: reading of the devices it held.
METRICS = (*(m.value for m in sample_mod.InstanceMetric),
           *hosts.DEVICE_METRICS)


def _add_instance(parser, since: str) -> None:
    parser.add_argument('instance', metavar='UUID',
                        help="the instance's (nova server's) UUID")
    periods.add_since(parser, since, 'the period listed')


class InstanceHistory(lister.Lister):
    """List one metric of an instance over the last --since (an hour by
    default), a row a sample, with the host it ran on: a move shows as a
    change of host.

    Raw samples within the controller's [controller] raw_retention,
    5-minute means before.  --metric is cpu_percent (a share of the
    whole host's CPU; the default) or rss_mb, or gpu.READING or
    asic.READING: then each GPU or miner the instance held has a column,
    HOST/INDEX or HOST/ADDRESS (raw samples only: the 5-minute means do
    not say who held a device).  Times are UTC; -f csv or -f json exports
    them.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_instance(parser, '1h')
        hosts.add_metric(parser, METRICS)
        return parser

    def take_action(self, parsed_args):
        from cryptomine_scheduler.cli import host_views

        api = self.app.client_manager.cryptomine
        instance, metric = parsed_args.instance, parsed_args.metric
        since = time.time() - parsed_args.since
        kind, reading = hosts.device_metric(metric)
        if kind is None:
            found = api.instance_history(
                instance, since, sample_mod.InstanceMetric(metric))
            return (('Time', 'Host', metric),
                    [(columns.utc(t), host, value)
                     for t, host, value in found['points']])
        return host_views.device_rows(kind, api.instance_device_history(
            instance, kind, since, reading))


class InstanceMigrations(lister.Lister):
    """List the migrations the plans started of an instance over the last
    --since (a day by default), oldest first: the plan, when it started
    and ended, the hosts, live or cold, and how it ended (with why it
    did not succeed).

    Moves made outside the plans (by an operator through nova) are not
    listed; ``instance history`` shows them as a change of host.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_instance(parser, '1d')
        return parser

    def take_action(self, parsed_args):
        found = self.app.client_manager.cryptomine.instance_migrations(
            parsed_args.instance, time.time() - parsed_args.since)
        return (('Plan', 'Started', 'Finished', 'From', 'To', 'How',
                 'Status'),
                [(m['plan_id'], columns.utc(m['started_at']),
                  columns.utc(m['finished_at']), m['source'],
                  m['destination'], 'live' if m['live'] else 'cold',
                  plans.outcome(m)) for m in found])
