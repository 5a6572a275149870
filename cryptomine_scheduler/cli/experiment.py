"""``experiment run|cleanup|report``: replay a trace on a real cloud
(devstack) and compare what was measured with the simulator.

Nova is reached through openstacksdk, the controller through
cryptomine-api, both with the cloud of ``--os-cloud`` (``$OS_CLOUD``;
``devstack-admin`` when neither it nor ``$OS_AUTH_URL`` is set).  Like
the other commands, these import only cliff at the top.
"""

import argparse
import datetime
import math
import os
import secrets

from cliff import command
from cliff import lister
from cliff import show

from cryptomine_scheduler.cli import errors

#: Options that say whom to ask without the default cloud.
AUTH_OPTIONS = ('os_cloud', 'os_auth_url', 'os_endpoint', 'os_token')
TRACE_FORMATS = ('planetlab', 'bitbrains', 'csv')
POLICIES = ('nova-spread', 'load-aware', 'load-aware-replan')


def _number(zero: bool):
    """An argparse type: a finite number above 0 (or 0 with ``zero``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > 0 or zero and value == 0)):
            raise argparse.ArgumentTypeError(
                f'expected a number {"of at least" if zero else "above"} '
                f'0, not {text!r}')
        return value
    return parse


_positive = _number(zero=False)
_non_negative = _number(zero=True)


def _connection(app):
    """openstacksdk's connection to the cloud of the app's options."""
    from openstack import config as os_config
    from openstack import connection
    from openstack import exceptions as os_exceptions

    try:
        return connection.Connection(config=os_config.OpenStackConfig(
        ).get_one(argparse=app.options))
    except os_exceptions.ConfigException as exc:
        raise errors.CommandError(f'cannot connect: {exc}') from None


def _default_cloud(app) -> None:
    """devstack's administrator, unless a cloud, an --os-* option of
    authentication or $OS_AUTH_URL says whom to ask."""
    from cryptomine_scheduler.experiment import setup as setup_mod

    options = app.options
    if not any(getattr(options, name, None) for name in AUTH_OPTIONS) \
            and not os.environ.get('OS_AUTH_URL'):
        options.os_cloud = setup_mod.DEFAULT_CLOUD


def _read(path: str) -> str:
    try:
        with open(path, encoding='utf-8') as f:
            return f.read().strip()
    except OSError as exc:
        raise errors.CommandError(f'{path}: {exc.strerror}') from None


def _load_record(path: str):
    from cryptomine_scheduler.experiment import record as record_mod

    try:
        return record_mod.load(path)
    except OSError as exc:
        raise errors.NotFound(f'{path}: {exc.strerror}') from None
    except (ValueError, KeyError, TypeError) as exc:
        raise errors.CommandError(f'{path}: not an experiment record '
                                  f'({exc})') from None


def _placement(path: str, trace: str) -> dict[str, str]:
    """Where the run of the record at ``path``, of ``trace``, booted
    each trace VM."""
    earlier = _load_record(path)
    if earlier.setup.trace != trace:
        raise errors.CommandError(
            f'--placement-from {path}: a run of {earlier.setup.trace}, '
            f'not of {trace}')
    found = earlier.placement()
    if not found:
        raise errors.CommandError(f'--placement-from {path}: no server '
                                  'of that run booted on a known host')
    return found


def _teardown(app, path: str) -> int:
    """Delete what the record at ``path`` still names; how many."""
    from cryptomine_scheduler.experiment import runner

    found = _load_record(path)
    left = len(found.left())
    try:
        runner.teardown(_connection(app), runner.Saver(found, path),
                        notify=_stderr(app))
    except runner.TeardownIncomplete as exc:
        raise errors.CommandError(str(exc)) from None
    return left


def _stderr(app):
    return lambda message: app.stderr.write(message + '\n')


class RunExperiment(show.ShowOne):
    """Replay a trace on the cloud: one VM per trace VM, then teardown.

    Boots each trace VM's server with cloud-init user data that starts
    the load player on its part of the trace, compressed; waits
    --duration seconds after the players start, reads nova's migration
    records, and deletes everything it created: also on an error,
    Ctrl-C or SIGTERM.  The record (--record) names every resource
    before it is created: "experiment cleanup RECORD" (or "run
    --resume RECORD") deletes what a killed run left.  The policy
    options describe how the cloud was set up; they are recorded for
    "experiment report".

    With --emulated, nova, the controller and fake hosts run in this
    process instead (the emulated testbed), set up as the policy
    options say; the run writes its report (--output), as nothing of
    it outlives the process.  --with-control plays the trace first
    without re-planning on the same boots (the control run), so that
    the two reports differ by re-planning alone.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        work = parser.add_argument_group('workload')
        work.add_argument('--trace', metavar='PATH',
                          help='trace file or directory')
        work.add_argument('--trace-format', default='planetlab',
                          help=f'one of {", ".join(TRACE_FORMATS)}')
        work.add_argument('--instances', type=int, metavar='N',
                          help='play the first N trace VMs only')
        work.add_argument('--mapping', metavar='FILE',
                          help='YAML or JSON: the flavors to create and '
                               'which flavor each trace VM boots with')
        work.add_argument('--compression', type=_positive, default=60.0,
                          help='trace seconds played per second '
                               '(default 60)')
        work.add_argument('--duration', type=_positive, default=1440.0,
                          metavar='SECONDS',
                          help='seconds the players run (default 1440: '
                               'a day at 60x)')
        work.add_argument('--warmup', type=_non_negative, default=120.0,
                          metavar='SECONDS',
                          help='seconds from the first boot to the '
                               'players\' start (default 120)')
        guests = parser.add_argument_group('guests')
        guests.add_argument('--image',
                            help='an image with cloud-init and python3 '
                                 '(name or ID; cirros has no python3)')
        guests.add_argument('--network', default='private',
                            help='name or ID, or none or auto')
        guests.add_argument('--public-key', metavar='FILE',
                            help='create a keypair of this key for the '
                                 'servers (deleted at the end)')
        guests.add_argument('--placement-from', metavar='RECORD',
                            help='boot each trace VM on the host the run '
                                 'of RECORD (the same trace) booted it '
                                 "on, so that two policies start from "
                                 'the same placement (an administrator\'s '
                                 'request; the filters still apply)')
        policy = parser.add_argument_group(
            'policy set-up', 'how the cloud was configured (recorded for '
                             'the report; the run changes nothing), or '
                             'how the emulated testbed is set up')
        policy.add_argument('--policy', choices=POLICIES,
                            default='load-aware-replan')
        policy.add_argument('--replan-interval', type=_non_negative,
                            default=300.0, metavar='SECONDS')
        policy.add_argument('--max-moves', type=int, default=10)
        policy.add_argument('--summary-window', type=_positive,
                            default=600.0, metavar='SECONDS')
        policy.add_argument('--ewma-half-life', type=_positive,
                            default=60.0, metavar='SECONDS')
        policy.add_argument('--migration-mb-per-s', type=_positive,
                            default=125.0)
        policy.add_argument('--overload-percent', type=_positive,
                            default=90.0)
        policy.add_argument('--fleet', metavar='FILE',
                            help='simulator fleet file of the compute '
                                 'hosts, for the prediction')
        emulated = parser.add_argument_group(
            'emulated testbed', 'nova, the controller and fake hosts in '
                                'this process instead of a cloud')
        emulated.add_argument('--emulated', action='store_true',
                              help='run on the emulated testbed (needs '
                                   'nova installed; no --image)')
        emulated.add_argument('--transport-url', metavar='URL',
                              help='the bus of the emulated controller, '
                                   'e.g. rabbit://guest:guest@127.0.0.1:'
                                   '5672/ (default: fake:/, in-process)')
        emulated.add_argument('--hosts', type=int, default=10,
                              help='fake hosts (default 10)')
        emulated.add_argument('--host-vcpus', type=int, default=16)
        emulated.add_argument('--host-memory-mb', type=int, default=32768)
        emulated.add_argument('--min-gain', type=_non_negative,
                              help="the controller's [replan] min_gain "
                                   '(default: its default, 0.07)')
        emulated.add_argument('--with-control', action='store_true',
                              help='with --policy load-aware-replan: play '
                                   'the trace on the same boots without '
                                   're-planning first (record '
                                   'RECORD-control.json, report in '
                                   'OUTPUT/control)')
        emulated.add_argument('--output', metavar='DIR',
                              help='where the report goes (default: '
                                   'NAME-report)')
        parser.add_argument('--record', metavar='FILE',
                            help='default: ./NAME.json')
        parser.add_argument('--poll-interval', type=_positive, default=5.0,
                            metavar='SECONDS',
                            help='seconds between looks at the servers')
        parser.add_argument('--resume', metavar='RECORD',
                            help='delete what the run of RECORD left, '
                                 'then run its set-up again')
        return parser

    def _setup(self, args):
        from cryptomine_scheduler.experiment import setup as setup_mod

        if not (args.trace and args.mapping
                and (args.image or args.emulated)):
            raise errors.CommandError('--trace, --mapping and --image are '
                                      'needed (or --resume RECORD); no '
                                      '--image with --emulated')
        if args.trace_format not in TRACE_FORMATS:
            raise errors.CommandError(f'--trace-format: one of '
                                      f'{", ".join(TRACE_FORMATS)}')
        return setup_mod.Setup(
            trace=os.path.abspath(args.trace),
            trace_format=args.trace_format,
            mapping=os.path.abspath(args.mapping),
            compression=args.compression, duration=args.duration,
            image=args.image, network=args.network,
            cloud=self.app.options.os_cloud, instances=args.instances,
            fleet=args.fleet and os.path.abspath(args.fleet),
            warmup=args.warmup,
            public_key=args.public_key and _read(args.public_key),
            boot_hosts=args.placement_from and _placement(
                args.placement_from, os.path.abspath(args.trace)),
            policy=setup_mod.PolicySetup(
                policy=args.policy, replan_interval=args.replan_interval,
                max_moves=args.max_moves,
                summary_window=args.summary_window,
                ewma_half_life=args.ewma_half_life,
                migration_mb_per_s=args.migration_mb_per_s,
                overload_percent=args.overload_percent))

    def take_action(self, parsed_args):
        from cryptomine_scheduler.experiment import flavors
        from cryptomine_scheduler.experiment import record as record_mod
        from cryptomine_scheduler.experiment import runner
        from cryptomine_scheduler.experiment import workload
        from cryptomine_scheduler.simulator import traces

        if parsed_args.emulated:
            return self._emulated(parsed_args)
        _default_cloud(self.app)
        if parsed_args.resume:
            setup = _load_record(parsed_args.resume).setup
            _teardown(self.app, parsed_args.resume)
        else:
            setup = self._setup(parsed_args)
        try:
            trace = workload.part(
                traces.read(setup.trace_format, setup.trace),
                setup.compression, setup.duration, setup.instances)
            mapping = flavors.load(setup.mapping)
            guests = workload.guests(trace, mapping, setup.compression)
        except ValueError as exc:  # unreadable trace, mapping, fleet
            raise errors.CommandError(str(exc)) from None
        name = (f'cmx-{datetime.datetime.now():%Y%m%d%H%M%S}-'
                f'{secrets.token_hex(2)}')
        path = parsed_args.record or f'{name}.json'
        found = record_mod.Record(name=name, setup=setup)
        saver = runner.Saver(found, path)
        saver()
        self.app.stderr.write(f'{name}: {len(guests)} servers, record '
                              f'{path}\n')
        try:
            runner.Runner(_connection(self.app), saver, guests, mapping,
                          runner.Timing(poll=parsed_args.poll_interval),
                          notify=_stderr(self.app)).run()
        except runner.Interrupted as exc:
            raise errors.CommandError(
                f'interrupted by {exc}; what it created is deleted') from None
        except runner.TeardownIncomplete as exc:
            raise errors.CommandError(str(exc)) from None
        return _summary(found, path)

    def _emulated(self, args):
        """The run on the emulated testbed, and its report (the
        controller's history ends with the process)."""
        import dataclasses

        from cryptomine_scheduler.experiment import emulated
        from cryptomine_scheduler.experiment import flavors
        from cryptomine_scheduler.experiment import record as record_mod
        from cryptomine_scheduler.experiment import runner
        from cryptomine_scheduler.experiment import workload
        from cryptomine_scheduler.simulator import report
        from cryptomine_scheduler.simulator import traces

        if args.resume:
            raise errors.CommandError('nothing of an emulated run outlives '
                                      'it: no --resume')
        if args.hosts < 1 or args.host_vcpus < 1 or args.host_memory_mb < 1:
            raise errors.CommandError('--hosts, --host-vcpus and '
                                      '--host-memory-mb: above 0')
        setup = dataclasses.replace(
            self._setup(args), image=emulated.IMAGE, network='none',
            cloud=emulated.CLOUD, warmup=0.0, public_key=None)
        try:
            trace = workload.part(
                traces.read(setup.trace_format, setup.trace),
                setup.compression, setup.duration, setup.instances)
            mapping = flavors.load(setup.mapping)
            workload.guests(trace, mapping, setup.compression)
        except ValueError as exc:  # unreadable trace, mapping
            raise errors.CommandError(str(exc)) from None
        name = (f'cmx-{datetime.datetime.now():%Y%m%d%H%M%S}-'
                f'{secrets.token_hex(2)}')
        path = args.record or f'{name}.json'
        saver = runner.Saver(record_mod.Record(name=name, setup=setup), path)
        control = None
        if args.with_control:
            try:
                control = runner.Saver(emulated.control_record(saver.record),
                                       f'{os.path.splitext(path)[0]}'
                                       '-control.json')
            except ValueError as exc:
                raise errors.CommandError(f'--with-control: {exc}') from None
        saver()
        found = emulated.Emulation(
            hosts=args.hosts, vcpus=args.host_vcpus,
            memory_mb=args.host_memory_mb,
            transport_url=args.transport_url or 'fake:/')
        if args.min_gain is not None:
            found = dataclasses.replace(found, min_gain=args.min_gain)
        try:
            outcome = emulated.run(setup, trace, mapping, saver, found,
                                   runner.Timing(poll=args.poll_interval),
                                   notify=_stderr(self.app), control=control)
        except runner.Interrupted as exc:
            raise errors.CommandError(
                f'interrupted by {exc}; nothing outlives the run') from None
        output = args.output or f'{name}-report'
        shown = [outcome.comparison]
        if outcome.control is not None:
            _write_report(self.app, outcome.control.comparison,
                          os.path.join(output, 'control'))
            shown.insert(0, outcome.control.comparison)
        _write_report(self.app, outcome.comparison, output)
        for comparison in shown:
            for line in report.table(comparison).splitlines():
                self.app.stderr.write(line + '\n')
        return _summary(outcome.record, path)


def _write_report(app, comparison, folder: str) -> None:
    """Write a run's report and plots into ``folder``; say where."""
    from cryptomine_scheduler.experiment import fidelity

    written = fidelity.write(comparison, folder)
    app.stderr.write(f'report and plots: {", ".join(written)}\n')


def _summary(found, path: str):
    servers = found.servers()
    return (('Name', 'Record', 'Servers', 'Boot Errors', 'Migrations',
             'Started', 'Ended'),
            (found.name, path, len(servers),
             sum(s.status == 'ERROR' for s in servers),
             len(found.migrations or ()), _utc(found.start_at),
             _utc(found.ended_at)))


def _utc(moment: float | None) -> str:
    if moment is None:
        return '-'
    return datetime.datetime.fromtimestamp(
        moment, datetime.UTC).strftime('%Y-%m-%d %H:%M:%S')


class CleanupExperiment(command.Command):
    """Delete what an experiment's record says may be left.

    For a run that was killed (SIGKILL, a lost machine): servers are
    deleted first and waited for, then the keypair and flavors; a
    resource recorded without an ID is looked up by its name.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('record', metavar='RECORD')
        return parser

    def take_action(self, parsed_args):
        _default_cloud(self.app)
        left = _teardown(self.app, parsed_args.record)
        self.app.stderr.write(f'{left} resources were left; none is now\n')


class ReportExperiment(lister.Lister):
    """Compare an experiment's measured figures with the simulator's.

    Reads each host's CPU history from cryptomine-api (from the
    players' start) and nova's migration records (those the run saved
    in its record, or nova's if it was killed first), and replays the
    same part of the trace in the simulator under the recorded policy
    set-up.  Prints the
    simulator's table, one row predicted and one measured, and writes
    report.json, fidelity.json (measured minus predicted) and the plots
    into --output.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('record', metavar='RECORD')
        parser.add_argument('--output', metavar='DIR',
                            default='experiment-report')
        return parser

    def take_action(self, parsed_args):
        from cryptomine_scheduler.experiment import cloud
        from cryptomine_scheduler.experiment import fidelity
        from cryptomine_scheduler.experiment import measured
        from cryptomine_scheduler.experiment import workload
        from cryptomine_scheduler.simulator import report
        from cryptomine_scheduler.simulator import traces
        from cryptomine_scheduler.telemetry import sample

        _default_cloud(self.app)
        found = _load_record(parsed_args.record)
        if found.start_at is None:
            raise errors.NothingToDo(f'{parsed_args.record}: the run '
                                     'booted nothing')
        setup = found.setup
        api = self.app.client_manager.cryptomine
        history = {}
        hosts = ({h.name for h in api.fleet().hosts}
                 | {s.host for s in found.servers() if s.host})
        for host in sorted(hosts):
            try:
                points = api.host_history(host, found.start_at,
                                          sample.HostMetric.CPU_PERCENT)
            except errors.NotFound:  # never sampled
                continue
            history[host] = tuple(tuple(p) for p in points['points'])
        if found.migrations is None:
            found.migrations = cloud.migrations(
                _connection(self.app),
                {s.id for s in found.servers() if s.id})
        try:
            trace = workload.part(
                traces.read(setup.trace_format, setup.trace),
                setup.compression, setup.duration, setup.instances)
            result = fidelity.compare(
                trace, measured.Measurements(found, history))
        except ValueError as exc:  # unreadable trace, mapping, fleet
            raise errors.CommandError(str(exc)) from None
        _write_report(self.app, result, parsed_args.output)
        return report.rows(result)
