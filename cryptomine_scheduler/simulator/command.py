"""The ``simulate`` command line, shared by ``cryptomine simulate`` and
``python -m cryptomine_scheduler.simulator``: its options, and the
comparison they ask for."""

import argparse
import dataclasses
import math

from cryptomine_scheduler.simulator import comparison
from cryptomine_scheduler.simulator import engine
from cryptomine_scheduler.simulator import fleet as fleet_mod
from cryptomine_scheduler.simulator import policies
from cryptomine_scheduler.simulator import synthetic
from cryptomine_scheduler.simulator import traces

FORMATS = (*traces.READERS, 'synthetic')
DEFAULTS = engine.DEFAULTS


def _policy_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(',') if n.strip()]
    unknown = set(names) - set(policies.POLICIES)
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f'expected a comma-separated list of {list(policies.POLICIES)}')
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulate options to ``parser``."""
    source = parser.add_argument_group('workload')
    source.add_argument('--trace-format', choices=FORMATS,
                        default='synthetic',
                        help='reader of --trace; synthetic (the default) '
                             'generates a seeded mining mix instead')
    source.add_argument('--trace', metavar='PATH',
                        help='trace file or directory')
    source.add_argument('--seed', type=int, default=0,
                        help='seed of the synthetic workload')
    source.add_argument('--instances', type=int, metavar='N',
                        help='keep the first N instances (synthetic: '
                             'generate N, default 300)')
    limit = source.add_mutually_exclusive_group()
    limit.add_argument('--hours', type=float,
                       help='simulate the first HOURS (synthetic: '
                            'default 24)')
    limit.add_argument('--steps', type=int,
                       help='simulate the first STEPS steps')
    hosts = parser.add_argument_group(
        'fleet', 'a fleet file, or --hosts identical CPU hosts sized for '
                 'the trace (--target-load) unless given; by default the '
                 'synthetic workload brings its own fleet and a trace gets '
                 'one host per 10 instances')
    hosts.add_argument('--fleet', metavar='FILE',
                       help='YAML, JSON or INI fleet file')
    hosts.add_argument('--hosts', type=int, metavar='N')
    hosts.add_argument('--host-vcpus', type=int, metavar='N')
    hosts.add_argument('--host-memory-mb', type=int, metavar='MB')
    hosts.add_argument('--cpu-allocation-ratio', type=float,
                       help='default: room for 1.25 x the vCPUs the '
                            'trace holds at once')
    hosts.add_argument('--ram-allocation-ratio', type=float, default=1.25)
    hosts.add_argument('--target-load', type=float, default=0.6,
                       metavar='FRACTION',
                       help='mean CPU load the sized hosts get (0-1)')
    run = parser.add_argument_group('policies')
    run.add_argument('--policies', type=_policy_list,
                     default=list(policies.POLICIES),
                     help='comma-separated, default all: '
                          + ', '.join(policies.POLICIES))
    run.add_argument('--replan-interval', type=float,
                     default=DEFAULTS.replan_interval, metavar='SECONDS',
                     help='re-plans and Watcher audits')
    run.add_argument('--max-moves', type=int, default=DEFAULTS.max_moves,
                     help='migrations per re-plan at most')
    run.add_argument('--window', type=float, default=DEFAULTS.window,
                     metavar='SECONDS', help='summary window')
    run.add_argument('--half-life', type=float, default=DEFAULTS.half_life,
                     metavar='SECONDS', help='EWMA half-life')
    run.add_argument('--risk-factor', type=float,
                     default=DEFAULTS.risk_factor)
    run.add_argument('--expected-load-percent', type=float,
                     default=DEFAULTS.expected_load_percent,
                     help='load a booting instance counts for, %% of '
                          'its vCPUs')
    run.add_argument('--migration-mb-per-s', type=float,
                     default=DEFAULTS.migration_mb_per_s)
    run.add_argument('--overload-percent', type=float,
                     default=DEFAULTS.overload_percent)
    run.add_argument('--watcher-threshold', type=float,
                     default=DEFAULTS.watcher_threshold,
                     help='standard deviation of normalised load')
    parser.add_argument('--output', metavar='DIR',
                        default='simulation-report',
                        help='folder for report.json and the plots')


def _limit_steps(args, step: float) -> int | None:
    if args.steps is not None:
        return args.steps
    if args.hours is not None:
        return max(1, math.ceil(args.hours * 3600.0 / step))
    return None


def workload(args) -> tuple[traces.Trace, fleet_mod.Fleet | None]:
    """The trace the options name, and the synthetic fleet if any."""
    if args.trace_format == 'synthetic':
        if args.trace:
            raise ValueError('--trace needs --trace-format')
        case = synthetic.scenario(
            args.seed, args.instances or 300,
            args.hours if args.hours is not None else 24.0)
        trace = case.trace.head(_limit_steps(args, case.trace.step))
        return trace, case.fleet
    if not args.trace:
        raise ValueError(f'--trace-format {args.trace_format} needs --trace')
    trace = traces.read(args.trace_format, args.trace)
    return trace.head(_limit_steps(args, trace.step), args.instances), None


def hosts(args, trace: traces.Trace,
          default: fleet_mod.Fleet | None) -> fleet_mod.Fleet:
    """The fleet the options name."""
    if args.fleet:
        return fleet_mod.load(args.fleet)
    if args.hosts is None and default is not None:
        return default
    return fleet_mod.sized(
        trace, args.hosts or max(2, len(trace.instances) // 10),
        args.target_load, vcpus=args.host_vcpus,
        memory_mb=args.host_memory_mb,
        cpu_allocation_ratio=args.cpu_allocation_ratio,
        ram_allocation_ratio=args.ram_allocation_ratio)


def settings(args) -> engine.Settings:
    return dataclasses.replace(
        DEFAULTS, replan_interval=args.replan_interval,
        max_moves=args.max_moves, window=args.window,
        half_life=args.half_life, risk_factor=args.risk_factor,
        expected_load_percent=args.expected_load_percent,
        migration_mb_per_s=args.migration_mb_per_s,
        overload_percent=args.overload_percent,
        watcher_threshold=args.watcher_threshold)


def execute(args) -> comparison.Comparison:
    """Run the comparison the parsed options ask for."""
    trace, default_fleet = workload(args)
    return comparison.compare(trace, hosts(args, trace, default_fleet),
                              args.policies, settings(args))
