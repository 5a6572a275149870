"""The ``simulate`` command line, shared by ``cryptomine simulate`` and
``python -m cryptomine_scheduler.simulator``: its options, and the
comparison they ask for."""

import argparse
import dataclasses
import math

from cryptomine_scheduler.conf.scheduler import OVERLOAD_HARD
from cryptomine_scheduler.conf.scheduler import OVERLOAD_SOFT
from cryptomine_scheduler.placement.scoring import Accelerator
from cryptomine_scheduler.planning import heap
from cryptomine_scheduler.planning import problem as problem_mod
from cryptomine_scheduler.simulator import comparison
from cryptomine_scheduler.simulator import engine
from cryptomine_scheduler.simulator import fleet as fleet_mod
from cryptomine_scheduler.simulator import policies
from cryptomine_scheduler.simulator import synthetic
from cryptomine_scheduler.simulator import traces

FORMATS = (*traces.READERS, 'synthetic')
DEFAULTS = engine.DEFAULTS
#: The synthetic workloads and their fleets.
SCENARIOS = {'mining-day': synthetic.scenario,
             'burst-peak': synthetic.burst_peak}


def _comma_list(text: str, allowed) -> list[str]:
    """The names of a comma-separated ``text``, each one of ``allowed``."""
    names = [n.strip() for n in text.split(',') if n.strip()]
    if not names or set(names) - set(allowed):
        raise argparse.ArgumentTypeError(
            f'expected a comma-separated list of {list(allowed)}')
    return names


def _policy_list(text: str) -> list[str]:
    return _comma_list(text, policies.POLICIES)


def _device_kinds(text: str) -> tuple[Accelerator, ...]:
    kinds = {kind.value: kind for kind in problem_mod.DEVICES}
    return tuple(kinds[name] for name in _comma_list(text, kinds))


def _bounded(kind: type, least: float, most: float = math.inf, *,
             above: bool = False):
    """An argparse type: a finite ``kind`` from ``least`` (excluded when
    ``above``) to ``most``."""
    span = (f'{"an integer" if kind is int else "a number"} '
            f'{"above" if above else "at least"} {least:g}'
            + (f' and at most {most:g}' if most < math.inf else ''))

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and least <= value <= most) \
                or above and value == least:
            raise argparse.ArgumentTypeError(f'expected {span}, not {text!r}')
        return value
    return parse


_COUNT = _bounded(int, 0)
_POSITIVE_INT = _bounded(int, 0, above=True)
_POSITIVE = _bounded(float, 0, above=True)
_NON_NEGATIVE = _bounded(float, 0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulate options to ``parser``."""
    source = parser.add_argument_group('workload')
    source.add_argument('--trace-format', choices=FORMATS,
                        default='synthetic',
                        help='reader of --trace; synthetic (the default) '
                             'generates a seeded mining mix instead')
    source.add_argument('--trace', metavar='PATH',
                        help='trace file or directory')
    source.add_argument('--scenario', choices=tuple(SCENARIOS),
                        default='mining-day',
                        help='the synthetic workload: mining-day (CPU, '
                             'GPU and ASIC miners and tenants on home '
                             'hosts) or burst-peak (CPU tenants and a '
                             'wave of miners past home capacity, with a '
                             'pool of rented burst hosts)')
    source.add_argument('--seed', type=_COUNT, default=0,
                        help='seed of the synthetic workload, of its '
                             "miners' failures and of Watcher's random "
                             'choice of destinations')
    source.add_argument('--instances', type=_POSITIVE_INT, metavar='N',
                        help='keep the first N instances (synthetic: '
                             'generate N, default 300)')
    limit = source.add_mutually_exclusive_group()
    limit.add_argument('--hours', type=_POSITIVE,
                       help='simulate the first HOURS (synthetic: '
                            'default 24)')
    limit.add_argument('--steps', type=_POSITIVE_INT,
                       help='simulate the first STEPS steps')
    hosts = parser.add_argument_group(
        'fleet', 'a fleet file, or --hosts identical CPU hosts sized for '
                 'the trace (--target-load) unless given; by default the '
                 'synthetic workload brings its own fleet and a trace gets '
                 'one host per 10 instances')
    hosts.add_argument('--fleet', metavar='FILE',
                       help='YAML, JSON or INI fleet file')
    hosts.add_argument('--hosts', type=_POSITIVE_INT, metavar='N')
    hosts.add_argument('--host-vcpus', type=_POSITIVE_INT, metavar='N')
    hosts.add_argument('--host-memory-mb', type=_POSITIVE_INT, metavar='MB')
    hosts.add_argument('--cpu-allocation-ratio', type=_POSITIVE,
                       help='default: room for 1.25 x the vCPUs the '
                            'trace holds at once')
    hosts.add_argument('--ram-allocation-ratio', type=_POSITIVE, default=1.25)
    hosts.add_argument('--target-load',
                       type=_bounded(float, 0, 1, above=True), default=0.6,
                       metavar='FRACTION',
                       help='mean CPU load the sized hosts get (0-1)')
    run = parser.add_argument_group('policies')
    run.add_argument('--policies', type=_policy_list,
                     help='comma-separated, from '
                          + ', '.join(policies.POLICIES)
                          + '; default all but '
                          + ', '.join(name for name, policy
                                      in policies.POLICIES.items()
                                      if policy.on_request)
                          + ' (burst-aware only on a fleet with burst '
                            'hosts)')
    run.add_argument('--replan-interval', type=_NON_NEGATIVE,
                     default=DEFAULTS.replan_interval, metavar='SECONDS',
                     help='re-plans and Watcher audits; 0: none')
    run.add_argument('--max-moves', type=_COUNT, default=DEFAULTS.max_moves,
                     help='migrations per re-plan at most')
    run.add_argument('--no-reserve-accelerator-hosts',
                     dest='reserve_accelerator_hosts', action='store_false',
                     help='let the re-planner move CPU tenants onto GPU '
                          'and ASIC hosts ([replan] '
                          'reserve_accelerator_hosts = false)')
    run.add_argument('--cold-migration', type=_device_kinds, default=(),
                     metavar='KINDS',
                     help='comma-separated, from gpu, asic: guests of '
                          'these kinds move by cold migration to hosts '
                          'with a free device (their flavors say '
                          'cryptomine:migration = cold, a window always '
                          'open); each is down while it moves')
    run.add_argument('--min-gain', type=_NON_NEGATIVE,
                     default=DEFAULTS.min_gain,
                     help='objective gain a move must bring, net of its '
                          'cost ([replan] min_gain)')
    for resource in ('cpu', 'memory'):
        run.add_argument(f'--{resource}-weight', type=_NON_NEGATIVE,
                         default=getattr(DEFAULTS.weights, resource),
                         help=f'weight of {resource} in our weigher and '
                              f're-planner ([cryptomine] {resource}_weight)')
    run.add_argument('--window', type=_POSITIVE, default=DEFAULTS.window,
                     metavar='SECONDS', help='summary window')
    run.add_argument('--half-life', type=_POSITIVE, default=DEFAULTS.half_life,
                     metavar='SECONDS', help='EWMA half-life')
    run.add_argument('--risk-factor', type=_NON_NEGATIVE,
                     default=DEFAULTS.risk_factor)
    run.add_argument('--expected-load-percent',
                     type=_bounded(float, 0, 100),
                     default=DEFAULTS.expected_load_percent,
                     help='load a booting instance counts for, %% of '
                          'its vCPUs, until its flavor\'s load is learned')
    run.add_argument('--no-learned-loads', dest='learn_loads',
                     action='store_false',
                     help='never learn a flavor\'s load from its earlier '
                          'instances (as a controller that does not '
                          'listen to nova\'s notifications)')
    run.add_argument('--overload-policy', choices=(OVERLOAD_SOFT,
                                                   OVERLOAD_HARD),
                     default=DEFAULTS.overload_policy,
                     help='what the load-aware filter does with a host '
                          'over the CPU or memory threshold: weigh it '
                          'down (soft) or refuse it (hard)')
    run.add_argument('--max-chassis-power-w', type=_NON_NEGATIVE,
                     default=DEFAULTS.thresholds.max_chassis_power_w,
                     metavar='W',
                     help='the power budget of each GPU host whose '
                          'chassis power is read ([cryptomine] '
                          'max_chassis_power_w; 0: none); the figures '
                          'then show the share of host-steps over it')
    run.add_argument('--bmc-power-cap-w', type=_NON_NEGATIVE, default=0.0,
                     metavar='W',
                     help="the power cap that the BMC of each GPU host "
                          "whose chassis power is read holds it to (0: "
                          "none): over it, the GPUs slow down and lose "
                          "hashrate; our filter and re-planner read it "
                          "as a budget")
    run.add_argument('--migration-mb-per-s', type=_POSITIVE,
                     default=DEFAULTS.migration_mb_per_s)
    run.add_argument('--overload-percent', type=_NON_NEGATIVE,
                     default=DEFAULTS.overload_percent)
    run.add_argument('--release-after', type=_NON_NEGATIVE,
                     default=DEFAULTS.release_after, metavar='SECONDS',
                     help='a burst host empty this long is released '
                          '([burst] release_after)')
    run.add_argument('--watcher-threshold', type=_bounded(float, 0, 1),
                     default=DEFAULTS.watcher_threshold,
                     help="Watcher's workload_stabilization trigger: "
                          "standard deviation of the hosts' CPU load "
                          '(0-1)')
    parser.add_argument('--output', metavar='DIR',
                        default='simulation-report',
                        help='folder for report.json and the plots')


def _limit_steps(args, step: float) -> int | None:
    if args.steps is not None:
        return args.steps
    if args.hours is not None:
        return max(1, math.ceil(args.hours * 3600.0 / step))
    return None


def _head(args, trace: traces.Trace,
          instances: int | None) -> traces.Trace:
    """The part of ``trace`` the options keep: its first ``instances``
    (None: all) over the steps they ask for."""
    kept = trace.head(_limit_steps(args, trace.step), instances)
    if not kept.instances:
        raise ValueError('no instance of the trace runs in the part kept '
                         '(--instances, --hours, --steps)')
    return kept


def workload(args) -> tuple[traces.Trace, fleet_mod.Fleet | None]:
    """The trace the options name, and the synthetic fleet if any."""
    if args.trace_format == 'synthetic':
        if args.trace:
            raise ValueError('--trace needs --trace-format')
        case = SCENARIOS[args.scenario](
            args.seed, args.instances or 300,
            args.hours if args.hours is not None else 24.0)
        # N tenants generated, and all the scenario adds (a wave).
        return _head(args, case.trace, None), case.fleet
    if not args.trace:
        raise ValueError(f'--trace-format {args.trace_format} needs --trace')
    if args.scenario != 'mining-day':
        raise ValueError('--scenario needs --trace-format synthetic')
    return (_head(args, traces.read(args.trace_format, args.trace),
                  args.instances), None)


def hosts(args, trace: traces.Trace,
          default: fleet_mod.Fleet | None) -> fleet_mod.Fleet:
    """The fleet the options name, capped as ``--bmc-power-cap-w``
    says."""
    fleet = _hosts(args, trace, default)
    return (fleet.with_chassis_cap(args.bmc_power_cap_w)
            if args.bmc_power_cap_w else fleet)


def _hosts(args, trace: traces.Trace,
           default: fleet_mod.Fleet | None) -> fleet_mod.Fleet:
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
        max_moves=args.max_moves, min_gain=args.min_gain,
        reserve_accelerator_hosts=args.reserve_accelerator_hosts,
        cold_migration=frozenset(args.cold_migration),
        weights=dataclasses.replace(DEFAULTS.weights, cpu=args.cpu_weight,
                                    memory=args.memory_weight),
        thresholds=dataclasses.replace(
            DEFAULTS.thresholds,
            max_chassis_power_w=args.max_chassis_power_w),
        window=args.window,
        half_life=args.half_life, risk_factor=args.risk_factor,
        expected_load_percent=args.expected_load_percent,
        learn_loads=args.learn_loads,
        overload_policy=args.overload_policy,
        migration_mb_per_s=args.migration_mb_per_s,
        overload_percent=args.overload_percent,
        watcher_threshold=args.watcher_threshold, watcher_seed=args.seed,
        release_after=args.release_after)


def execute(args) -> comparison.Comparison:
    """Run the comparison the parsed options ask for."""
    heap.retain_freed_memory(heap.DEFAULT_RETAIN_MB)  # as the controller
    trace, default_fleet = workload(args)
    return comparison.compare(trace, hosts(args, trace, default_fleet),
                              args.policies, settings(args))
