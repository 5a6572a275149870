"""``instance history`` and ``instance migrations``: one guest's load
over time with the hosts it ran on, and the moves the plans made of
it."""

import time

from cliff import lister

from cryptomine_scheduler.cli import columns
from cryptomine_scheduler.cli import periods
from cryptomine_scheduler.cli import plans
from cryptomine_scheduler.telemetry import sample as sample_mod

METRICS = tuple(m.value for m in sample_mod.InstanceMetric)


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
    whole host's CPU; the default) or rss_mb.  Times are UTC; -f csv or
    -f json exports them.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_instance(parser, '1h')
        parser.add_argument(
            '--metric', default=METRICS[0], choices=METRICS,
            help='the metric listed (default %(default)s)')
        return parser

    def take_action(self, parsed_args):
        found = self.app.client_manager.cryptomine.instance_history(
            parsed_args.instance, time.time() - parsed_args.since,
            sample_mod.InstanceMetric(parsed_args.metric))
        return (('Time', 'Host', parsed_args.metric),
                [(columns.utc(t), host, value)
                 for t, host, value in found['points']])


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
