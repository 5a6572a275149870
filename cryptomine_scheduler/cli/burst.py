"""``burst status``: the burst tier as the controller's history has
it."""

import collections
import time

from cliff import show

from cryptomine_scheduler.cli import columns
from cryptomine_scheduler.cli import periods


def _money(value: float | None) -> str:
    return '' if value is None else f'{value:.2f}'


def _hosts(hosts: list[dict]) -> columns.Text:
    rows = [['host', 'tier', 'cost/h', 'instances', 'empty since',
             'released']]
    for h in hosts:
        rows.append([h['host'], h['tier'], _money(h['cost_per_hour']),
                     str(h['instances']), columns.utc(h['empty_since']) or '',
                     columns.utc(h['released_at']) or ''])
    return columns.Text(hosts, columns.aligned(rows) if hosts else 'none')


def _tiers(hosts: list[dict]) -> columns.Text:
    counts = collections.defaultdict(lambda: [0, 0])
    for h in hosts:
        counts[h['tier']][0] += 1
        counts[h['tier']][1] += h['instances']
    found = {tier: {'hosts': n, 'instances': i}
             for tier, (n, i) in sorted(counts.items())}
    return columns.Text(found, '; '.join(
        f'{tier}: {v["hosts"]} hosts, {v["instances"]} instances'
        for tier, v in found.items()) or 'none')


def status_fields(status: dict) -> tuple[tuple, tuple]:
    """The burst status as ShowOne fields."""
    released = [h['host'] for h in status['hosts'] if h['released_at']]
    fields = {
        'Generated': columns.utc(status['generated_at']),
        'Since': columns.utc(status['since']),
        'Tiers': _tiers(status['hosts']),
        'Cost Per Hour': columns.number(status['cost_per_hour'], 2),
        'Cost': columns.number(status['cost'], 2),
        'Burst Host Hours': columns.number(status['burst_host_hours'], 2),
        'Burst Instance Hours': columns.number(
            status['burst_instance_hours'], 2),
        'Releasable': columns.Text(released, ', '.join(released) or 'none'),
        'Hosts': _hosts(status['hosts']),
    }
    return tuple(fields), tuple(fields.values())


class BurstStatus(show.ShowOne):
    """Show the burst tier: hosts per tier and their instances, what the
    burst hosts cost now, and over the last --since (a day by default)
    their cost, the hours they were held (Burst Host Hours) and the
    hours instances ran on them (Burst Instance Hours).

    Hosts lists the hosts running instances and every burst host held
    or released, as the controller's last look at nova saw them;
    Releasable are the burst hosts it disabled after they stayed empty
    for [burst] release_after, until the operator enables them again.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        periods.add_since(parser, '1d', 'the period of cost and hours')
        return parser

    def take_action(self, parsed_args):
        status = self.app.client_manager.cryptomine.burst_status(
            time.time() - parsed_args.since)
        return status_fields(status)
