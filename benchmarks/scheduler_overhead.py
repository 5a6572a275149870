"""Scheduling time added by LoadAwareFilter and LoadAwareWeigher in nova.

Times nova's own filter and weight handlers
(``HostFilterHandler.get_filtered_objects`` then
``HostWeightHandler.get_weighed_objects`` on the hosts that passed) per
scheduling request, for each host count, with:

* nova's default filters and weighers alone (the baseline);
* the defaults plus a filter and a weigher that do nothing (what nova's
  handlers charge for any plugin, for reference);
* the defaults plus LoadAwareFilter and LoadAwareWeigher (the variant the
  targets apply to).

The hosts are nova's ``FakeHostState`` with the attributes a compute
node reports, and our plugin reads a snapshot rendered by a real
``LoadTracker`` fed with samples of every host (CPU-only, GPU and ASIC
hosts).  Each variant is an independent scheduler with its own hosts;
the variants take turns, request by request, and every request is a new
``RequestSpec`` (so ``begin_request`` runs as in production).  After each
request the best host is consumed, as nova does, so that the pending-boot
credit has placements to track.

When a target is missed, the per-host path of our filter and weigher is
profiled with cProfile and timed step by step.

Run from the repository root:
``.venv/bin/python benchmarks/scheduler_overhead.py``
"""

# ruff: noqa: E402
# isort: off
# nova's native-thread mode has to be chosen before anything imports
# eventlet (oslo.messaging does, through _common and our plugin).
import os

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

from nova import monkey_patch

monkey_patch.patch('threading')
# isort: on

import argparse
import dataclasses
import datetime
import math
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable

import _common
import nova.conf
import numpy as np
from nova import objects
from nova.scheduler import filters as nova_filters
from nova.scheduler import host_manager
from nova.scheduler import weights as nova_weights
from nova.tests.unit.scheduler import fakes

from cryptomine_scheduler.conf import scheduler as scheduler_conf
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.scheduler import adapters
from cryptomine_scheduler.scheduler import filter as load_filter
from cryptomine_scheduler.scheduler import host_columns
from cryptomine_scheduler.scheduler import pending
from cryptomine_scheduler.scheduler import plugin
from cryptomine_scheduler.scheduler import snapshot_client
from cryptomine_scheduler.scheduler import weigher as load_weigher
from cryptomine_scheduler.tests import samples

CONF = nova.conf.CONF
RATIO_TARGET = 1.2  # with ours / defaults alone, median per request
#: Microseconds of CPU per host, ours alone over a no-op filter and
#: weigher alone, in nova's handlers (median per request).
OVER_NOOP_TARGET_US = 1.0
NOW = 10_000.0  # the snapshot's time (samples end there)
SAMPLE_INTERVAL = 10.0
SAMPLES_PER_HOST = 4
OVERLOADED_EVERY = 50  # every 50th host breaks max_cpu_percent
FLAVOR_VCPUS = 4
FLAVOR_MEMORY_MB = 8192
FLAVOR_ROOT_GB = 40


# -- the cloud ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HostKind:
    """What a share of the hosts carries."""

    name: str
    share: float
    gpus: int = 0
    asics: int = 0


HOST_KINDS = (HostKind('cpu', 0.6), HostKind('gpu', 0.25, gpus=4),
              HostKind('asic', 0.15, asics=2))


def host_kind(index: int) -> HostKind:
    """Kinds interleaved by their shares (60 % CPU, 25 % GPU, 15 % ASIC)."""
    slot = (index * 7 % 20) / 20  # 7 and 20 coprime: every slot in turn
    edge = 0.0
    for kind in HOST_KINDS:
        edge += kind.share
        if slot < edge - 1e-9:
            return kind
    return HOST_KINDS[-1]


def host_name(index: int) -> str:
    return f'compute-{index:05d}'


def feed_tracker(count: int, rng: random.Random) -> snapshot.LoadTracker:
    """A tracker holding SAMPLES_PER_HOST samples of ``count`` hosts."""
    tracker = snapshot.LoadTracker(window=600, half_life=60)
    seq = 0
    for index in range(count):
        kind = host_kind(index)
        overloaded = index % OVERLOADED_EVERY == OVERLOADED_EVERY - 1
        base_cpu = 95.0 if overloaded else rng.uniform(5.0, 60.0)
        base_mem = rng.uniform(15.0, 60.0)
        temp = rng.uniform(55.0, 78.0)
        power = rng.uniform(180.0, 310.0)
        for i in range(SAMPLES_PER_HOST):
            seq += 1
            gpus = [samples.gpu(g, temp=temp + rng.uniform(-1.0, 1.0),
                                power=power + rng.uniform(-5.0, 5.0))
                    for g in range(kind.gpus)]
            asics = [samples.asic(a + 1, errors=1000 + 2 * i)
                     for a in range(kind.asics)]
            tracker.add(samples.make(
                host=host_name(index), seq=seq,
                timestamp=NOW - SAMPLE_INTERVAL * (SAMPLES_PER_HOST - 1 - i),
                cpu=base_cpu + rng.uniform(-3.0, 3.0),
                mem=base_mem + rng.uniform(-1.0, 1.0), gpus=gpus,
                asics=asics))
    return tracker


def make_hosts(count: int, rng: random.Random, aggregates: int
               ) -> list[fakes.FakeHostState]:
    """Host states as nova-scheduler's HostManager holds them."""
    seen_up = datetime.datetime.now(datetime.timezone.utc)
    hosts = []
    for index in range(count):
        name = host_name(index)
        vcpus = rng.choice((32, 48, 64, 96))
        ram_mb = rng.choice((131072, 262144, 393216))
        disk_gb = rng.choice((960, 1920, 3840))
        instances = rng.randint(0, 12)
        used_vcpus = min(vcpus, instances * FLAVOR_VCPUS)
        used_ram = min(ram_mb - 4096, instances * FLAVOR_MEMORY_MB)
        used_disk = min(disk_gb - 100, instances * FLAVOR_ROOT_GB)
        state = fakes.FakeHostState(name, name, {
            'uuid': str(uuid.UUID(int=index + 1)),
            'total_usable_ram_mb': ram_mb, 'free_ram_mb': ram_mb - used_ram,
            'total_usable_disk_gb': disk_gb,
            'disk_mb_used': used_disk * 1024,
            'free_disk_mb': (disk_gb - used_disk) * 1024,
            'vcpus_total': vcpus, 'vcpus_used': used_vcpus,
            'num_instances': instances,
            'num_io_ops': rng.randint(0, 3),
            'failed_builds': 1 if index % 97 == 0 else 0,
            'host_ip': f'10.{index // 65536}.{index // 256 % 256}.'
                       f'{index % 256}',
            'hypervisor_type': 'QEMU', 'hypervisor_version': 8002000,
            'hypervisor_hostname': name,
            'cpu_info': {'arch': 'x86_64', 'vendor': 'AMD',
                         'maxphysaddr': {'bits': 48}},
            'supported_instances': [('x86_64', 'kvm', 'hvm'),
                                    ('i686', 'kvm', 'hvm')],
            'cpu_allocation_ratio': 4.0, 'ram_allocation_ratio': 1.0,
            'disk_allocation_ratio': 1.0,
            'limits': {'vcpu': vcpus * 4.0, 'memory_mb': ram_mb * 1.0},
            'stats': {'num_instances': str(instances),
                      'num_vm_active': str(instances),
                      'num_task_None': str(instances),
                      'io_workload': '0'},
            'metrics': objects.MonitorMetricList(objects=[]),
            'service': host_manager.ReadOnlyDict({
                'id': index + 1, 'host': name, 'binary': 'nova-compute',
                'topic': 'compute', 'disabled': False,
                'disabled_reason': None, 'forced_down': False,
                'last_seen_up': seen_up, 'created_at': seen_up,
                'updated_at': seen_up, 'report_count': 1000,
                'version': 66}),
            'cell_uuid': '00000000-0000-0000-0000-00000000ce11',
            'updated': seen_up,
        })
        state.aggregates = [
            objects.Aggregate(id=a, name=f'az{a}-{index % 4}',
                              hosts=[name],
                              metadata={'availability_zone': f'az{index % 4}'}
                              if a == 0 else {'rack': f'r{index % 40}'})
            for a in range(aggregates)]
        hosts.append(state)
    return hosts


def consume(host: fakes.FakeHostState) -> None:
    """What nova's consume_from_request changes for our flavor."""
    host.num_instances += 1
    host.vcpus_used += FLAVOR_VCPUS
    host.free_ram_mb -= FLAVOR_MEMORY_MB
    host.free_disk_mb -= FLAVOR_ROOT_GB * 1024
    host.disk_mb_used += FLAVOR_ROOT_GB * 1024


def make_spec() -> objects.RequestSpec:
    """A new request for one mining guest (no server group)."""
    instance_uuid = str(uuid.uuid4())
    flavor = objects.Flavor(
        id=7, flavorid='mining.large', name='mining.large',
        vcpus=FLAVOR_VCPUS, memory_mb=FLAVOR_MEMORY_MB, root_gb=FLAVOR_ROOT_GB,
        ephemeral_gb=0, swap=0, rxtx_factor=1.0, is_public=True,
        disabled=False, vcpu_weight=0,
        extra_specs={'hw:cpu_policy': 'shared',
                     'hw_rng:allowed': 'true',
                     plugin.EXPECTED_LOAD_SPEC: '90'})
    image = objects.ImageMeta.from_dict({
        'id': '6b0bd8e2-52c9-4c1b-9e5d-1f0b1a35a8f1', 'name': 'ubuntu-24.04',
        'status': 'active', 'container_format': 'bare',
        'disk_format': 'qcow2', 'min_ram': 0, 'min_disk': 0, 'size': 1 << 30,
        'properties': {'hw_architecture': 'x86_64', 'hw_vm_mode': 'hvm',
                       'img_hv_type': 'kvm', 'hw_disk_bus': 'virtio',
                       'os_distro': 'ubuntu'}})
    return objects.RequestSpec(
        instance_uuid=instance_uuid, project_id='mining', user_id='miner',
        num_instances=1, flavor=flavor, image=image, scheduler_hints={},
        instance_group=None, requested_destination=None,
        availability_zone=None, ignore_hosts=None, force_hosts=None,
        force_nodes=None, is_bfv=False, pci_requests=None,
        numa_topology=None)


# -- the schedulers -----------------------------------------------------


def default_filters() -> list:
    """Instances of the filters nova enables by default, in their order."""
    handler = nova_filters.HostFilterHandler()
    classes = {cls.__name__: cls for cls in handler.get_matching_classes(
        ['nova.scheduler.filters.all_filters'])}
    return [classes[name]() for name in
            CONF.filter_scheduler.enabled_filters]


def default_weighers() -> list:
    handler = nova_weights.HostWeightHandler()
    return [cls() for cls in handler.get_matching_classes(
        CONF.filter_scheduler.weight_classes)]


class NoopFilter(nova_filters.BaseHostFilter):
    """Passes every host: what nova's handler costs for any filter."""

    def host_passes(self, host_state, spec_obj):
        return True


class NoopWeigher(nova_weights.BaseHostWeigher):
    """Weighs every host 0: what nova's handler costs for any weigher."""

    def _weigh_object(self, host_state, weight_properties):
        return 0.0


class FixedFetch:
    """The controller's answer: the same snapshot, every time."""

    def __init__(self, snap: snapshot.LoadSnapshot):
        self.snap = snap
        self.calls = 0

    def __call__(self) -> snapshot.LoadSnapshot:
        self.calls += 1
        return self.snap


def build_plugin(fetch: FixedFetch) -> plugin.LoadAwarePlugin:
    opts = CONF.cryptomine
    return plugin.LoadAwarePlugin(
        opts, snapshot_client.SnapshotCache(fetch, opts.snapshot_ttl,
                                            opts.snapshot_max_age),
        pending.PendingBoots(opts.pending_boot_timeout))


@dataclasses.dataclass
class Scheduler:
    """One variant: its filters, weighers, hosts and timings (seconds)."""

    label: str
    filters: list
    weighers: list
    hosts: list
    filter_s: list[float] = dataclasses.field(default_factory=list)
    weigh_s: list[float] = dataclasses.field(default_factory=list)
    cpu_s: list[float] = dataclasses.field(default_factory=list)
    passed: list[int] = dataclasses.field(default_factory=list)

    def heartbeat(self) -> None:
        """Services just heard from, as HostManager reads them per request
        (ComputeFilter rejects a host silent for service_down_time)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        for host in self.hosts:
            host.service.data['last_seen_up'] = now

    def request(self, spec, record: bool) -> None:
        """Filter and weigh the hosts for ``spec``; consume the best."""
        self.heartbeat()
        filter_handler = nova_filters.HostFilterHandler()
        weight_handler = nova_weights.HostWeightHandler()
        cpu = time.process_time()
        start = time.perf_counter()
        passed = filter_handler.get_filtered_objects(self.filters,
                                                     self.hosts, spec)
        middle = time.perf_counter()
        weighed = weight_handler.get_weighed_objects(self.weighers, passed,
                                                     spec)
        end = time.perf_counter()
        cpu = time.process_time() - cpu
        if record:
            self.cpu_s.append(cpu)
            self.filter_s.append(middle - start)
            self.weigh_s.append(end - middle)
            self.passed.append(len(passed))
        if weighed:
            consume(weighed[0].obj)

    @property
    def total_s(self) -> list[float]:
        return [f + w for f, w in zip(self.filter_s, self.weigh_s,
                                      strict=True)]


def build_schedulers(count: int, snap: snapshot.LoadSnapshot,
                     aggregates: int, seed: int
                     ) -> tuple[list[Scheduler], plugin.LoadAwarePlugin]:
    """Baseline, no-op and ours with nova's defaults, then no-op and ours
    alone, each with identical fresh hosts; and the plugin of ours alone.

    Each variant of ours has a plugin of its own, as each scheduler
    process does: hosts of the same names but other instance counts would
    look to a shared plugin like boots at every turn.
    """
    def hosts():
        return make_hosts(count, random.Random(seed), aggregates)

    def ours(load_plugin: plugin.LoadAwarePlugin):
        return ([load_filter.LoadAwareFilter(load_plugin)],
                [load_weigher.LoadAwareWeigher(load_plugin)])

    filters, weighers = ours(build_plugin(FixedFetch(snap)))
    alone = build_plugin(FixedFetch(snap))
    return [
        Scheduler('defaults (baseline)', default_filters(),
                  default_weighers(), hosts()),
        Scheduler('defaults + no-op filter/weigher', default_filters()
                  + [NoopFilter()], default_weighers() + [NoopWeigher()],
                  hosts()),
        Scheduler('defaults + LoadAware (ours)', default_filters() + filters,
                  default_weighers() + weighers, hosts()),
        Scheduler('no-op filter/weigher alone', [NoopFilter()],
                  [NoopWeigher()], hosts()),
        Scheduler('LoadAware alone (ours)', *ours(alone), hosts()),
    ], alone


def run_requests(schedulers: list[Scheduler], warmup: int,
                 requests: int) -> None:
    """The variants take turns, a new RequestSpec for every request."""
    for number in range(warmup + requests):
        for scheduler in schedulers:
            scheduler.request(make_spec(), record=number >= warmup)


# -- report -------------------------------------------------------------


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclasses.dataclass(frozen=True)
class Result:
    """Median wall time per request with nova's defaults (ms), and CPU
    time per request of no-op and ours alone (ms)."""

    hosts: int
    base_ms: float
    ours_ms: float
    noop_ms: float
    noop_alone_cpu_ms: float
    ours_alone_cpu_ms: float

    @property
    def ratio(self) -> float:
        return self.ours_ms / self.base_ms

    @property
    def over_noop_us_per_host(self) -> float:
        return ((self.ours_alone_cpu_ms - self.noop_alone_cpu_ms) * 1000.0
                / self.hosts)


def report(count: int, schedulers: list[Scheduler]) -> Result:
    print(f'  {"wall time per request":<34} {"median":>9} {"p95":>9} '
          f'{"filter":>8} {"weigh":>8} {"us/host":>8} {"CPU med":>9} '
          f'{"passed":>7}')
    medians, cpu = {}, {}
    for scheduler in schedulers:
        total = [1000 * s for s in scheduler.total_s]
        med = medians[scheduler.label] = statistics.median(total)
        cpu[scheduler.label] = 1000 * statistics.median(scheduler.cpu_s)
        passed = sorted(set(scheduler.passed))
        shown = (str(passed[0]) if len(passed) == 1
                 else f'{passed[0]}-{passed[-1]}')
        print(f'  {scheduler.label:<34} {med:7.2f}ms {p95(total):7.2f}ms '
              f'{1000 * statistics.median(scheduler.filter_s):6.2f}ms '
              f'{1000 * statistics.median(scheduler.weigh_s):6.2f}ms '
              f'{med * 1000 / count:8.2f} '
              f'{cpu[scheduler.label]:7.2f}ms '
              f'{shown:>7}')
    base, noop, ours, _, _ = (medians[s.label] for s in schedulers)
    if min(schedulers[0].passed) < count:
        print(f'  note: the default filters rejected hosts (down to '
              f'{min(schedulers[0].passed)} passed); the baseline is '
              f'not the one intended')
    result = Result(count, base, ours, noop, cpu[schedulers[3].label],
                    cpu[schedulers[4].label])
    print(f'  with the defaults: ours / baseline {result.ratio:.2f}x; '
          f'alone: ours over the no-op pair '
          f'{result.over_noop_us_per_host:+.2f} us of CPU a host')
    return result


def check_targets(results: list[Result]) -> list[bool]:
    checks = []
    for result in results:
        checks.append(_common.check(
            f'{result.hosts:,} hosts: median request time, ours / baseline',
            result.ratio, RATIO_TARGET, 'x', higher_is_better=False))
        checks.append(_common.check(
            f'{result.hosts:,} hosts: CPU per host, ours alone over a '
            f'no-op filter + weigher', result.over_noop_us_per_host,
            OVER_NOOP_TARGET_US, 'us', higher_is_better=False))
    return checks


# -- where the time goes ------------------------------------------------


def step_breakdown(hosts: list, load_plugin: plugin.LoadAwarePlugin
                   ) -> None:
    """Time each step of our path for one request, uninstrumented."""
    spec = make_spec()
    state = adapters.begin_request(load_plugin, spec)
    rows = adapters.host_rows(state, hosts)
    table = state.table()
    zeros = np.zeros(len(hosts))
    adapters.judge_all(state, hosts)
    steps = [
        ('adapters.host_rows (nova\'s hosts as columns)',
         lambda: adapters.host_rows(state, hosts)),
        ('PendingBoots.observe_all',
         lambda: load_plugin.boots.observe_all(zip(
             rows.names, rows.num_instances, strict=True))),
        ('host_columns.judge (every rule, every host)',
         lambda: host_columns.judge(table, rows, state.guest, zeros,
                                    zeros, zeros)),
        ('RequestState.judge_all (observe, credit, judge)',
         lambda: state.judge_all(rows)),
        ('adapters.scores (the weigher, hosts judged)',
         lambda: adapters.scores(state, hosts)),
    ]
    print(f'\n-- Steps of one request, best of 5 over {len(hosts):,} '
          f'hosts (us per host)')
    for label, step in steps:
        print(f'   {per_request_us(len(hosts), step):7.3f}  {label}')


def per_request_us(count: int, step: Callable, rounds: int = 5) -> float:
    """Best of ``rounds`` of ``step()``, us per host of ``count``."""
    best = float('inf')
    for _ in range(rounds):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best * 1e6 / count


def profile_ours(hosts: list, load_plugin: plugin.LoadAwarePlugin,
                 requests: int) -> None:
    """cProfile our filter and weigher alone, in nova's handlers."""
    filters_ = [load_filter.LoadAwareFilter(load_plugin)]
    weighers = [load_weigher.LoadAwareWeigher(load_plugin)]
    filter_handler = nova_filters.HostFilterHandler()
    weight_handler = nova_weights.HostWeightHandler()
    with _common.profiled(True, f'LoadAwareFilter + LoadAwareWeigher '
                          f'alone, {requests} requests x {len(hosts):,} '
                          f'hosts', limit=35):
        for _ in range(requests):
            spec = make_spec()
            passed = filter_handler.get_filtered_objects(filters_, hosts,
                                                         spec)
            weight_handler.get_weighed_objects(weighers, passed, spec)


# -- main ---------------------------------------------------------------


def configure() -> None:
    CONF([], project='nova', default_config_files=[],
         default_config_dirs=[])
    scheduler_conf.register_opts(CONF)
    objects.register_all()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--hosts', type=int, nargs='+',
                        default=[1000, 10000], help='host counts')
    parser.add_argument('--requests', type=int, nargs='+', default=[30, 10],
                        help='measured requests per variant, for each '
                             'host count (the last repeats)')
    parser.add_argument('--warmup', type=int, default=2,
                        help='requests per variant before measuring')
    parser.add_argument('--aggregates', type=int, default=0,
                        help='host aggregates every host is in (0: none; '
                             '1: an availability zone; 2: and a rack)')
    parser.add_argument('--seed', type=int, default=1)
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument('--profile', action='store_true',
                         help='profile our per-host path even when the '
                              'targets are met')
    profile.add_argument('--no-profile', action='store_true',
                         help='do not profile, even when a target is '
                              'missed')
    return parser.parse_args(argv)


def describe(snap: snapshot.LoadSnapshot, seconds: float,
             parse_s: float) -> None:
    kinds = {}
    for view in snap.hosts.values():
        found = ','.join(sorted(a.value for a in scoring.accelerators(view)))
        kinds[found] = kinds.get(found, 0) + 1
    shown = ', '.join(f'{n:,} {k}' for k, n in sorted(kinds.items()))
    print(f'snapshot of {len(snap.hosts):,} hosts ({shown}), '
          f'{SAMPLES_PER_HOST} samples each, built in {seconds:.1f} s; '
          f'LoadSnapshot.from_wire takes {parse_s * 1000:.0f} ms '
          f'(the background refresh, every snapshot_ttl)')


def main(argv=None) -> int:
    args = parse_args(argv)
    _common.quiet_logging()
    _common.describe_machine()
    configure()
    print(f'default filters: '
          f'{", ".join(CONF.filter_scheduler.enabled_filters)}')
    print(f'default weighers: '
          f'{", ".join(type(w).__name__ for w in default_weighers())}')
    print(f'hosts in {args.aggregates} aggregate(s) each; every '
          f'{OVERLOADED_EVERY}th host overloaded; flavor without '
          f'{plugin.ACCELERATOR_SPEC}; no server group')

    started = time.perf_counter()
    tracker = feed_tracker(max(args.hosts), random.Random(args.seed))
    wire = tracker.snapshot(NOW)
    built = time.perf_counter() - started
    parse_start = time.perf_counter()
    snap = snapshot.LoadSnapshot.from_wire(wire)
    describe(snap, built, time.perf_counter() - parse_start)

    results, plugins = [], {}
    for index, count in enumerate(args.hosts):
        requests = args.requests[min(index, len(args.requests) - 1)]
        _common.heading(f'{count:,} hosts: {requests} requests per variant '
                        f'after {args.warmup} warm-up, variants in turn')
        schedulers, plugins[count] = build_schedulers(
            count, snap, args.aggregates, args.seed)
        run_requests(schedulers, args.warmup, requests)
        results.append(report(count, schedulers))

    _common.heading('Targets')
    checks = check_targets(results)
    if args.profile or (not all(checks) and not args.no_profile):
        count = min(args.hosts)
        _common.heading(f'Where our per-host time goes ({count:,} hosts)')
        hosts = make_hosts(count, random.Random(args.seed), args.aggregates)
        step_breakdown(hosts, plugins[count])
        profile_ours(hosts, plugins[count], requests=3)
    return _common.verdict(checks)


if __name__ == '__main__':
    sys.exit(main())
