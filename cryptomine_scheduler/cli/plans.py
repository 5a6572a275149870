"""``plan create|list|show|abort`` and ``rebalance``: re-plans on the
controller, and carrying one out while watching it."""

import contextlib
import signal
import time

from cliff import lister
from cliff import show

from cryptomine_scheduler.cli import columns
from cryptomine_scheduler.cli import errors

FINISHED_ACTIONS = ('succeeded', 'failed', 'skipped', 'aborted')
BALANCE_FIGURES = ('objective', 'sigma', 'peak', 'overloaded')


def add_scope_options(parser) -> None:
    parser.add_argument(
        '--max-moves', type=int, metavar='N',
        help='move at most N instances (default: [replan] max_moves; '
             'with --drain, all of the host\'s)')
    parser.add_argument(
        '--aggregate', metavar='NAME',
        help='plan only the hosts of this host aggregate')
    parser.add_argument(
        '--drain', metavar='HOST',
        help='empty this compute host: move every instance on it that may '
             'move (whatever the cool-down and the tenants\' daily moves) '
             'to the hosts that suit it best, and nothing else; rebalance '
             'disables its nova-compute service first, so that nova places '
             'nothing new there')
    parser.add_argument(
        '--cold', action='store_true',
        help='with --drain: move the instances that cannot live-migrate '
             '(PCI passthrough) by cold migration, now, whatever '
             '[replan] allow_cold_migration and the cold-migration windows '
             'say (their guests stop for the copy); flavors that say '
             'never still stay')


def scope(parsed_args) -> dict:
    """The scope options as the client takes them."""
    for option in ('cold', 'keep_enabled'):
        if getattr(parsed_args, option, False) and parsed_args.drain is None:
            raise errors.CommandError(
                f'--{option.replace("_", "-")} is for a drain: give '
                f'--drain HOST too')
    return {'max_moves': parsed_args.max_moves,
            'aggregate': parsed_args.aggregate,
            'drain': parsed_args.drain, 'cold': parsed_args.cold}


def _move(action: dict) -> str:
    return (f'{action["instance"]} {action["source"]} -> '
            f'{action["destination"]}')


def outcome(action: dict) -> str:
    """Its status, with why it did not succeed: ``failed (nova): ...``
    (a controller older than the causes gives none)."""
    cause = f' ({action["cause"]})' if action.get('cause') else ''
    error = f': {action["error"]}' if action['error'] else ''
    return f'{action["status"]}{cause}{error}'


def _actions(actions: list[dict]) -> columns.Text:
    rows = [['#', 'instance', 'from', 'to', 'how', 'GB', 'gain', 'status']]
    for a in actions:
        rows.append([str(a['position']), a['instance'], a['source'],
                     a['destination'], 'live' if a['live'] else 'cold',
                     f'{a["memory_mb"] / 1024:g}', f'{a["gain"]:.4f}',
                     outcome(a)])
    return columns.Text(actions,
                        columns.aligned(rows) if actions else 'none')


def _figure(efficacy: dict, name: str) -> columns.Text:
    before = efficacy['before'][name]
    after = efficacy['after'][name]
    shown = 'd' if name == 'overloaded' else '.4f'
    return columns.Text({'before': before, 'after': after},
                        f'{before:{shown}} -> {after:{shown}}')


def plan_fields(plan: dict) -> tuple[tuple, tuple]:
    """A plan, with its actions when it has them, as ShowOne fields."""
    fields = {
        'ID': plan['id'], 'Status': plan['status'],
        'Trigger': plan['trigger'], 'Dry Run': plan['dry_run'],
        'Created': columns.utc(plan['created_at']),
        'Finished': columns.utc(plan['finished_at']),
        'Planning Seconds': columns.number(plan['planning_seconds'], 3),
    }
    efficacy = plan['efficacy'] or {}
    if efficacy:
        fields.update({name.title(): _figure(efficacy, name)
                       for name in BALANCE_FIGURES})
        fields.update({
            'Moves': efficacy['moves'],
            'GB To Move': columns.number(efficacy['gb_to_move'], 2),
            'Gain Per Move': columns.number(efficacy['gain_per_move'], 5)})
    pinned = plan['pinned'] or {}
    fields['Pinned'] = columns.Text(pinned, ', '.join(
        f'{reason}: {count}' for reason, count in sorted(pinned.items())))
    fields['Error'] = plan['error']
    if 'actions' in plan:
        fields['Actions'] = _actions(plan['actions'])
    return tuple(fields), tuple(fields.values())


def nothing_to_do(plan: dict) -> errors.NothingToDo:
    if plan['trigger'] == 'drain':
        pinned = ', '.join(f'{count} {why}' for why, count
                           in sorted((plan['pinned'] or {}).items()))
        return errors.NothingToDo(
            f'nothing to do: plan {plan["id"]} can move no instance off the '
            f'host{f" ({pinned})" if pinned else ""}')
    objective = (plan['efficacy'] or {}).get('before', {}).get('objective')
    balance = '' if objective is None else f' (objective {objective:.4g})'
    return errors.NothingToDo(
        f'nothing to do: plan {plan["id"]} found no move worth its cost'
        f'{balance}')


class CreatePlan(show.ShowOne):
    """Compute a plan now and show its moves and efficacy.

    Nothing moves: ``rebalance`` plans and carries out.  Efficacy is the
    fleet's imbalance before and after (objective, sigma and peak of the
    hosts' weighted utilisation, hosts overloaded), the moves and the GB
    of guest memory they copy.  Exits 5 when no move is worth its cost.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--dry-run', action='store_true',
                            help='record the plan as a dry run (what-if)')
        add_scope_options(parser)
        return parser

    def take_action(self, parsed_args):
        plan = self.app.client_manager.cryptomine.create_plan(
            dry_run=parsed_args.dry_run, execute=False,
            **scope(parsed_args))
        if plan['status'] == 'nothing-to-do':
            raise nothing_to_do(plan)
        return plan_fields(plan)


class ListPlans(lister.Lister):
    """List past plans, newest first."""

    COLUMNS = ('ID', 'Created', 'Trigger', 'Dry Run', 'Status', 'Moves',
               'GB To Move', 'Objective Before', 'Objective After')

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--limit', type=int, default=20, metavar='N',
                            help='show the N newest plans (default 20)')
        return parser

    def take_action(self, parsed_args):
        plans = self.app.client_manager.cryptomine.list_plans(
            parsed_args.limit)
        return self.COLUMNS, [self._row(p) for p in plans]

    @staticmethod
    def _row(plan: dict) -> tuple:
        e = plan['efficacy'] or {}
        return (plan['id'], columns.utc(plan['created_at']), plan['trigger'],
                plan['dry_run'], plan['status'], e.get('moves'),
                columns.number(e.get('gb_to_move'), 2),
                columns.number(e.get('before', {}).get('objective'), 4),
                columns.number(e.get('after', {}).get('objective'), 4))


class ShowPlan(show.ShowOne):
    """Show a plan, its efficacy and its actions with their outcomes.

    Each action says how nova moves the instance: ``live``, or ``cold``
    (a guest holding a passed-through GPU or a miner, or whose flavor
    asks for it: stopped for the move, within the cold-migration windows
    and downtime budgets).
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('plan_id', metavar='ID', help='plan ID')
        return parser

    def take_action(self, parsed_args):
        return plan_fields(self.app.client_manager.cryptomine.get_plan(
            parsed_args.plan_id))


class AbortPlan(show.ShowOne):
    """Stop a running plan: no further move starts.

    nova is asked to abort the live migrations still running (it rolls
    them back; a cold migration finishes).  Exits 5 when the plan is not
    running.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('plan_id', metavar='ID', help='plan ID')
        return parser

    def take_action(self, parsed_args):
        plan = self.app.client_manager.cryptomine.abort_plan(
            parsed_args.plan_id)
        if plan['status'] != 'running':
            raise errors.NothingToDo(
                f'nothing to do: plan {plan["id"]} is not running '
                f'({plan["status"]})')
        self.app.stderr.write(f'Plan {plan["id"]} aborted: no further move '
                              f'will start\n')
        return plan_fields(plan)


class Progress:
    """A round's moves as they go: a bar redrawn in place on a terminal,
    a line per change of a move's status otherwise."""

    WIDTH = 30

    def __init__(self, stream):
        self._stream = stream
        self._tty = stream.isatty()
        self._seen: dict[int, str] = {}

    def update(self, plan: dict) -> None:
        actions = plan['actions']
        if self._tty:
            self._bar(actions)
        else:
            for a in actions:
                if a['status'] != self._seen.get(a['position'], 'pending'):
                    self._stream.write(
                        f'move {a["position"] + 1}/{len(actions)} '
                        f'{_move(a)}: {outcome(a)}\n')
                self._seen[a['position']] = a['status']
        self._stream.flush()

    def _bar(self, actions: list[dict]) -> None:
        statuses = [a['status'] for a in actions]
        done = sum(s in FINISHED_ACTIONS for s in statuses)
        filled = self.WIDTH * done // max(len(actions), 1)
        failed = statuses.count('failed')
        self._stream.write(
            f'\r[{"#" * filled}{"." * (self.WIDTH - filled)}] '
            f'{done}/{len(actions)} moves done, '
            f'{statuses.count("running")} running, {failed} failed')

    def end(self) -> None:
        if self._tty:
            self._stream.write('\n')
            self._stream.flush()


@contextlib.contextmanager
def interrupt_deferred():
    """Ctrl-C only noted (in the list yielded), never raised in the middle
    of a request to the API: a plan whose creation was cut short would
    run on without its ID, which the abort that follows needs."""
    pressed = []
    previous = signal.signal(signal.SIGINT,
                             lambda *_: pressed.append(True))
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def sleep_unless(pressed: list, seconds: float) -> None:
    """Sleep ``seconds``, or less once Ctrl-C was noted in ``pressed``."""
    deadline = time.monotonic() + seconds
    while not pressed and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.1))


class Rebalance(show.ShowOne):
    """Plan and carry out now, showing progress and a final summary.

    Asks for confirmation unless --yes (and refuses without --yes when
    stdin is not a terminal).  Ctrl-C aborts the plan: no further move
    starts, and the moves still running are listed and aborted in nova
    (live migrations roll back).
    Exits 0 when every move succeeded, 1 when one failed or was skipped
    or aborted, 5 when there is nothing to do or another round runs,
    130 after Ctrl-C.
    """

    exit_code = 0

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_scope_options(parser)
        parser.add_argument(
            '--keep-enabled', action='store_true',
            help='with --drain: leave the host\'s nova-compute service '
                 'enabled (by default it is disabled before anything moves, '
                 'with the reason "cryptomine: drained by plan ID", and '
                 'stays so: enable it after the maintenance with '
                 '"openstack compute service set --enable HOST '
                 'nova-compute")')
        parser.add_argument('--yes', action='store_true',
                            help='do not ask for confirmation')
        parser.add_argument(
            '--poll-interval', type=float, default=2.0, metavar='SECONDS',
            help='seconds between two looks at the progress (default 2)')
        return parser

    def run(self, parsed_args):
        super().run(parsed_args)
        return self.exit_code

    def _confirm(self, parsed_args) -> None:
        if parsed_args.yes:
            return
        if not self.app.stdin.isatty():
            raise errors.CommandError('refusing to rebalance: stdin is not '
                                      'a terminal to confirm on (pass '
                                      '--yes)')
        where = (f' in aggregate {parsed_args.aggregate}'
                 if parsed_args.aggregate else '')
        if parsed_args.drain is not None:
            where += f' off {parsed_args.drain}'
        details = [f'at most {parsed_args.max_moves} moves'] * (
            parsed_args.max_moves is not None)
        if parsed_args.cold:
            details.append('cold where they cannot move live')
        said = f' ({"; ".join(details)})' if details else ''
        asked = f'plan and migrate instances{where} now{said}'
        if parsed_args.drain is not None and not parsed_args.keep_enabled:
            asked = (f'disable nova-compute on {parsed_args.drain}, then '
                     f'{asked}')
        self.app.stderr.write(f'{asked[0].upper()}{asked[1:]}? [y/N] ')
        self.app.stderr.flush()
        if self.app.stdin.readline().strip().lower() not in ('y', 'yes'):
            raise errors.CommandError('rebalance cancelled')

    def take_action(self, parsed_args):
        planned = scope(parsed_args)
        self._confirm(parsed_args)
        controller = self.app.client_manager.cryptomine
        with interrupt_deferred() as interrupted:
            plan = controller.create_plan(
                dry_run=False, execute=True,
                keep_enabled=parsed_args.keep_enabled, **planned)
            if parsed_args.drain is not None and not parsed_args.keep_enabled:
                self._report_disabled(parsed_args.drain, plan)
            if plan['status'] == 'nothing-to-do':
                raise nothing_to_do(plan)
            self.app.stderr.write(f'Plan {plan["id"]}: '
                                  f'{len(plan["actions"])} moves\n')
            progress = Progress(self.app.stderr)
            while plan['finished_at'] is None and not interrupted:
                progress.update(plan)
                sleep_unless(interrupted, parsed_args.poll_interval)
                if not interrupted:
                    plan = controller.get_plan(plan['id'])
            if interrupted:
                progress.end()
                plan = controller.abort_plan(plan['id'])
                self._report_interrupted(plan)
                self.exit_code = 130
                return plan_fields(plan)
        progress.update(plan)
        progress.end()
        if plan['status'] != 'succeeded':
            self.exit_code = 1
        return plan_fields(plan)

    def _report_disabled(self, host: str, plan: dict) -> None:
        """Say what became of the drained host's nova-compute service."""
        said = ('disabled by this drain' if plan.get('disabled_host')
                else 'was disabled already')
        self.app.stderr.write(
            f'nova-compute on {host} {said}: enable it after the '
            f'maintenance with "openstack compute service set --enable '
            f'{host} nova-compute"\n')

    def _report_interrupted(self, plan: dict) -> None:
        running = [a for a in plan['actions'] if a['status'] == 'running']
        self.app.stderr.write(
            f'Interrupted: plan {plan["id"]} aborted, no further move will '
            f'start; {len(running)} still running:\n')
        for a in running:
            self.app.stderr.write(f'  {_move(a)}\n')
        self.app.stderr.flush()
