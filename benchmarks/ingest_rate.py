"""Controller ingest rate, in-process and over RabbitMQ.

Part (a) feeds signed sample payloads straight to ``Ingestor.ingest()``;
part (b) pre-publishes them to a private RabbitMQ broker with the
collectors' ``SamplePublisher`` and times a ``ControllerService`` draining
the queue into a fresh SQLite file, and with ``--ingest-workers`` the
``cryptomine-controller`` daemon itself (master, controller process and
ingest workers).  Each part runs with the configured
batch size and with batches of one sample (one transaction per sample) as
the baseline, in the same run.  (a) prints the CPU per sample of each
stage (decoding the bodies, the signature, the rest of validation, the
database write, the summaries); each in-process drain of (b) splits its
CPU the same way, the rest being the consumer's reading of the queue.
(b) drains ``--runs`` times per configuration, prints min/median/max
and exits non-zero when a median misses its target.

With ``--postgresql``, part (c) starts groups of 1, 2 and 3 (see
``--controllers``) ``cryptomine-controller`` daemons on one PostgreSQL
database, in each of two modes: ``copies`` (each consumes its own copy of
the stream: the baseline) and ``shared`` (``share_ingest``: they share
one queue and cast what each stored to the others).  It freezes them
while their queues fill, thaws them together and times until every one
has summarised every sample; it prints the CPU of the controllers,
PostgreSQL, RabbitMQ and other processes, and judges the target (shared
mode) on the drains that other processes left alone.

Run from the repository root: ``.venv/bin/python benchmarks/ingest_rate.py``
"""

import argparse
import collections
import contextlib
import dataclasses
import itertools
import json
import math
import multiprocessing
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator

# isort: off
# The test helpers put nova in native-thread mode, which has to happen
# before anything imports eventlet (oslo.messaging does, through _common).
from cryptomine_scheduler.tests import postgres
from cryptomine_scheduler.tests import rabbit
from cryptomine_scheduler.tests import samples
# isort: on

import _common
import orjson
import oslo_messaging
import psutil
import sqlalchemy
from oslo_config import cfg
from oslo_messaging._drivers import common as rpc_common

from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler import rpcapi
from cryptomine_scheduler.control import service
from cryptomine_scheduler.ingest import ingestor as ingest
from cryptomine_scheduler.telemetry import sample as sample_mod
from cryptomine_scheduler.telemetry import signing
from cryptomine_scheduler.telemetry import validation
from load_collector import publisher as publisher_mod

E2E_TARGET = 3000.0  # samples/s, end to end, in one process
E2E_WORKERS_TARGET = 5000.0  # with --ingest-workers
PG_TARGET = 3000.0  # samples/s of the stream, several controllers
PG_TARGET_CONTROLLERS = 2  # ... when this many share the machine
PG_MODES = ('copies', 'shared')  # each controller's own copy; a shared queue
QUIET_SHARE = 0.1  # of the CPUs, at most, that others take from a drain
SAMPLE_INTERVAL = 10.0  # seconds between two samples of one host
FAKE_URL = 'fake:/'
CPUS = 64  # logical CPUs of every sampled host


# -- the workload -------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Workload:
    """``count`` samples from ``hosts`` hosts with 0..max_instances each."""

    count: int
    hosts: int
    max_instances: int
    seed: int

    def sized(self, count: int) -> 'Workload':
        return dataclasses.replace(self, count=count)


def _host_guests(workload: Workload, host: int) -> list:
    """The fixed set of instances that ``host`` runs."""
    rng = random.Random(f'{workload.seed}:{host}')
    first = host * (workload.max_instances + 1)
    return [samples.instance(first + i, cpu=rng.uniform(0, 25),
                             rss=rng.uniform(256, 4096))
            for i in range(rng.randint(0, workload.max_instances))]


def plan_samples(workload: Workload, now: float
                 ) -> Iterator[sample_mod.LoadSample]:
    """Yield the samples in arrival order: round r holds every host's r-th.

    Timestamps end at ``now``, one :data:`SAMPLE_INTERVAL` apart per host,
    so the controller accepts them all.
    """
    rounds = math.ceil(workload.count / workload.hosts)
    rng = random.Random(workload.seed)
    guests = {h: _host_guests(workload, h) for h in range(workload.hosts)}
    planned = (
        samples.make(host=f'compute-{h:05d}', seq=r + 1,
                     timestamp=now - (rounds - r) * SAMPLE_INTERVAL,
                     cpu=rng.uniform(0, 100), mem=rng.uniform(5, 95),
                     instances=guests[h], collector=samples.COUNTERS,
                     cpus=CPUS)
        for r in range(rounds) for h in range(workload.hosts))
    return itertools.islice(planned, workload.count)


def signed_payloads(workload: Workload, now: float, share: int = 0,
                    shares: int = 1) -> list[dict]:
    """Sign share ``share`` of ``shares`` of the planned samples."""
    planned = itertools.islice(plan_samples(workload, now), share, None,
                               shares)
    return [samples.payload(s, secret=_common.SECRET) for s in planned]


def print_workload(workload: Workload) -> None:
    print(f'{workload.count:,} samples from {workload.hosts:,} hosts with '
          f'0-{workload.max_instances} instances each (seed '
          f'{workload.seed})')


def report_rate(label: str, count: int, seconds: float, extra: str = ''
                ) -> float:
    rate = count / seconds
    print(f'  {label:<34} {count:>7,} samples in {seconds:7.2f} s = '
          f'{rate:>9,.0f} samples/s{extra}')
    return rate


def _sqlite_url(directory: str) -> str:
    return f'sqlite:///{os.path.join(directory, "history.sqlite")}'


# -- (a) in-process -----------------------------------------------------


@contextlib.contextmanager
def _controller(db_dir: str | None) -> Iterator[service.ControllerService]:
    """A controller on a fresh SQLite file, never started (so its
    in-process ``fake:/`` transports carry nothing)."""
    with tempfile.TemporaryDirectory(dir=db_dir) as directory:
        conf = _common.build_conf(
            {'database': {'connection': _sqlite_url(directory)}},
            controller=True)
        notify = oslo_messaging.get_notification_transport(conf,
                                                           url=FAKE_URL)
        rpc = oslo_messaging.get_rpc_transport(conf, url=FAKE_URL)
        controller = service.ControllerService(conf, notify, rpc)
        try:
            yield controller
        finally:
            controller.store.close()
            notify.cleanup()
            rpc.cleanup()


def ingest_in_process(notifications: list, batch_size: int,
                      db_dir: str | None, profile: bool) -> dict:
    """Ingest ``notifications`` into a fresh database; return timings."""
    with _controller(db_dir) as controller, \
            _common.profiled(profile, f'ingest, batch {batch_size}'), \
            _common.stopwatch() as elapsed:
        for start in range(0, len(notifications), batch_size):
            controller.absorb(controller.ingestor.ingest(
                notifications[start:start + batch_size]))
    totals = controller.totals
    if totals.stored != len(notifications):
        raise RuntimeError(f'stored {totals.stored} of '
                           f'{len(notifications)}: {totals.wire()}')
    return elapsed


class StageClock:
    """CPU seconds spent in each stage of ingest, summed over calls."""

    def __init__(self):
        self.seconds: collections.Counter = collections.Counter()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.process_time()
        try:
            yield
        finally:
            self.seconds[name] += time.process_time() - start


def _bodies(notifications: list) -> list[bytes]:
    """The AMQP bodies oslo.messaging sends for ``notifications``."""
    return [json.dumps(rpc_common.serialize_msg({
        'message_id': str(uuid.uuid4()), 'publisher_id': 'benchmark',
        'event_type': n.event_type, 'priority': 'INFO',
        'payload': n.payload, 'timestamp': '2026-01-01 00:00:00.000000',
    })).encode() for n in notifications]


def measure_stages(notifications: list, batch_size: int,
                   db_dir: str | None) -> dict[str, float]:
    """CPU seconds per stage of ingesting ``notifications`` in batches:
    decoding the message bodies as the listener does, the signature
    (reading the signed text, HMAC), the rest of validation, the database
    write and the summaries."""
    clock = StageClock()
    bodies = _bodies(notifications)
    with _controller(db_dir) as controller:
        policy = service.validation_policy(controller.conf)
        key = {}
        for start in range(0, len(notifications), batch_size):
            batch = notifications[start:start + batch_size]
            with clock.stage('decode'):
                for body in bodies[start:start + batch_size]:
                    rpc_common.deserialize_msg(json.loads(body))
            with clock.stage('signature'):
                for n in batch:
                    signed = n.payload['signed'].encode()
                    host = orjson.loads(signed)['host']
                    host_key = key.get(host) or key.setdefault(
                        host, signing.derive_host_key(_common.SECRET, host))
                    signing.verify(signed, n.payload['signature'], host_key)
            with clock.stage('validation'):
                now = time.time()
                valid = [validation.validate(n.payload, policy, now)
                         for n in batch]
            with clock.stage('database write'):
                added = controller.store.add_samples(valid, now)
            with clock.stage('summaries'):
                controller.absorb(ingest.BatchResult(len(batch),
                                                     added.stored, {}))
    # validate() checks the signature too.
    clock.seconds['validation'] -= clock.seconds['signature']
    return dict(clock.seconds)


def report_stages(seconds: dict[str, float], count: int) -> None:
    """Print each stage's CPU per sample and share of their sum."""
    total = sum(seconds.values())
    print(f'  CPU per sample by stage ({1000 * total / count:.3f} ms in '
          f'all):')
    for name, value in seconds.items():
        print(f'    {name:<26} {1000 * value / count:7.3f} ms  '
              f'{value / total:4.0%}')


def run_in_process(args, workload: Workload) -> dict[str, float]:
    """Time (a); return the CPU seconds per sample of each stage."""
    _common.heading('(a) in-process Ingestor.ingest() into SQLite')
    print_workload(workload)
    with _common.stopwatch() as built:
        notifications = [
            ingest.Notification(sample_mod.EVENT_TYPE, payload)
            for payload in signed_payloads(workload, time.time())]
    report_rate('building + signing payloads', len(notifications),
                built['wall'])
    baseline = notifications[:args.baseline_samples]
    rates = {}
    for batch_size, batch in ((1, baseline),
                              (args.batch_size, notifications)):
        elapsed = ingest_in_process(batch, batch_size, args.db_dir,
                                    args.profile)
        rates[batch_size] = report_rate(
            f'ingest, batch size {batch_size}', len(batch), elapsed['wall'],
            f'  ({1000 * elapsed["cpu"] / len(batch):.3f} ms CPU/sample)')
    print(f'  batching speed-up: x{rates[args.batch_size] / rates[1]:.1f}')
    stages = measure_stages(notifications, args.batch_size, args.db_dir)
    report_stages(stages, len(notifications))
    return {name: value / len(notifications)
            for name, value in stages.items()}


# -- (b) end to end over RabbitMQ ---------------------------------------


@dataclasses.dataclass(frozen=True)
class PublishJob:
    """One publisher process's share of a workload."""

    url: str
    topic: str
    workload: Workload
    now: float
    share: int
    shares: int


def publish_share(job: PublishJob) -> tuple[int, float, float]:
    """Publish one share; return (count, start, end) of the publishing.

    Runs in a child process, like a collector does on its own host.
    """
    _common.quiet_logging()
    conf = _common.build_conf()
    payloads = signed_payloads(job.workload, job.now, job.share, job.shares)
    transport = oslo_messaging.get_notification_transport(conf, url=job.url)
    try:
        publisher = publisher_mod.SamplePublisher(
            transport, job.topic, f'benchmark-publisher-{job.share}',
            retry=1)
        start = time.time()
        for payload in payloads:
            publisher.publish(payload)
        end = time.time()
    finally:
        transport.cleanup()
    return len(payloads), start, end


def prepublish(broker: rabbit.RabbitBroker, topic: str, workload: Workload,
               publishers: int) -> None:
    """Fill ``<topic>.info`` with the workload from several processes."""
    jobs = [PublishJob(broker.url, topic, workload, time.time(), share,
                       publishers) for share in range(publishers)]
    with multiprocessing.get_context('spawn').Pool(publishers) as pool:
        results = pool.map(publish_share, jobs)
    sent = sum(count for count, _, _ in results)
    seconds = (max(end for _, _, end in results)
               - min(start for _, start, _ in results))
    report_rate(f'publish ({publishers} processes)', sent, seconds)
    _wait_for_depth(broker, f'{topic}.info', sent)


def _wait_for_depth(broker: rabbit.RabbitBroker, queue: str, expected: int,
                    timeout: float = 30.0) -> None:
    """Make sure the whole workload waits in the queue before draining."""
    deadline = time.monotonic() + timeout
    while True:
        depth = broker.queue_depths().get(queue, 0)
        if depth >= expected:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f'{queue} holds {depth} of {expected} '
                               f'published samples')
        time.sleep(0.5)


def wait_stored(totals: ingest.IngestTotals, expected: int,
                stall_timeout: float) -> float:
    """Wait until ``expected`` samples are stored; return the peak RSS.

    Fails if nothing is stored for ``stall_timeout`` seconds.  The RSS
    (MiB) shows how much of the backlog the broker pushed ahead.
    """
    last, last_change, peak_rss = -1, time.monotonic(), 0.0
    while totals.stored < expected:
        peak_rss = max(peak_rss, _common.rss_mb())
        stored = totals.stored
        if stored != last:
            last, last_change = stored, time.monotonic()
        elif time.monotonic() - last_change > stall_timeout:
            raise RuntimeError(f'ingest stalled at {stored} of {expected} '
                               f'samples: {totals.wire()}')
        time.sleep(0.01)
    return peak_rss


def controller_overrides(topic: str, batch_size: int,
                         prefetch_batches: int | None, db_dir: str,
                         workers: int = 0) -> dict:
    """The controller options of one drain: fresh queue and database.

    ``prefetch_batches`` None keeps the controller's default.
    """
    controller = {'batch_size': batch_size, 'ingest_workers': workers}
    if prefetch_batches is not None:
        controller['prefetch_batches'] = prefetch_batches
    return {
        'DEFAULT': {'host': f'benchmark-{topic}'},
        'messaging': {'sample_topic': topic,
                      'controller_topic': f'{topic}_controller',
                      'peer_topic': f'{topic}_peers'},
        'controller': controller,
        'database': {'connection': _sqlite_url(db_dir)},
    }


def controller_conf(overrides: dict) -> cfg.ConfigOpts:
    """The in-process controller's options, as the daemon reads them."""
    conf = _common.build_conf(overrides, controller=True)
    cm_conf.prefetch_batches(conf)
    return conf


def write_conf_file(path: str, overrides: dict, url: str) -> None:
    """``overrides`` as the daemon's configuration file, on ``url``."""
    sections = {'DEFAULT': {'transport_url': url},
                'messaging': {'master_secret': _common.SECRET}}
    for group, values in overrides.items():
        sections.setdefault(group, {}).update(values)
    with open(path, 'w') as handle:
        for group, values in sections.items():
            handle.write(f'[{group}]\n')
            handle.writelines(f'{k} = {v}\n' for k, v in values.items())


@dataclasses.dataclass(frozen=True)
class Drain:
    """What one controller run measured."""

    seconds: float
    cpu_seconds: float
    thread_cpu: dict[str, float]
    broker_cpu_seconds: float
    rss_growth_mb: float
    stats: dict


def broker_process(broker: rabbit.RabbitBroker) -> psutil.Process:
    """The broker's Erlang VM, whose CPU competes with the controller's."""
    with open(broker.env['RABBITMQ_PID_FILE']) as pidfile:
        return psutil.Process(int(pidfile.read().strip()))


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def measure_drain(controller: service.ControllerService,
                  beam: psutil.Process, expected: int,
                  stall_timeout: float) -> Drain:
    """Start ``controller``; measure it until ``expected`` are stored."""
    threads_before, beam_before = _common.cpu_by_thread(), _cpu_seconds(beam)
    rss_before = _common.rss_mb()
    with _common.stopwatch() as elapsed:
        controller.start()
        peak_rss = wait_stored(controller.totals, expected, stall_timeout)
    threads_after = _common.cpu_by_thread()
    return Drain(elapsed['wall'], elapsed['cpu'],
                 {name: cpu - threads_before.get(name, 0.0)
                  for name, cpu in threads_after.items()},
                 _cpu_seconds(beam) - beam_before, peak_rss - rss_before,
                 controller.totals.wire())


def drain(conf, broker: rabbit.RabbitBroker, expected: int,
          stall_timeout: float, profile: bool) -> Drain:
    """Run a controller on ``conf`` until it stored ``expected`` samples.

    The profile, when asked for, also covers the controller's shutdown so
    that its threads are finished when their profiles are read.
    """
    notifications = oslo_messaging.get_notification_transport(
        conf, url=broker.url)
    rpc = oslo_messaging.get_rpc_transport(conf, url=broker.url)
    try:
        with _common.profiled(profile, f'drain, batch size '
                                       f'{conf.controller.batch_size}'):
            controller = service.ControllerService(conf, notifications, rpc)
            try:
                return measure_drain(controller, broker_process(broker),
                                     expected, stall_timeout)
            finally:
                controller.stop()
    finally:
        notifications.cleanup()
        rpc.cleanup()


def _tree_cpu(root: psutil.Process) -> dict[int, float]:
    """CPU seconds of ``root`` and its descendants, by PID."""
    cpu = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            cpu[process.pid] = _cpu_seconds(process)
        except psutil.NoSuchProcess:
            pass
    return cpu


def _tree_rss(root: psutil.Process) -> float:
    """Resident memory of ``root`` and its descendants, in MiB."""
    return sum(process.memory_info().rss
               for process in [root, *root.children(recursive=True)]
               ) / _common.MIB


def _stored_rows(db_path: str) -> int:
    """Samples in the SQLite history (0 before the schema exists)."""
    try:
        with contextlib.closing(sqlite3.connect(db_path, timeout=1)) as db:
            query = 'SELECT count(*) FROM host_samples'
            return db.execute(query).fetchone()[0]
    except sqlite3.Error:
        return 0


def drain_supervised(overrides: dict, broker: rabbit.RabbitBroker,
                     expected: int, stall_timeout: float,
                     work_dir: str) -> Drain:
    """Run ``cryptomine-controller`` itself (its master, the controller
    process and the ingest workers) until ``expected`` are stored.

    Timed by the rows in its database from the first one stored, so
    that the start of three processes is not counted as ingest time.
    """
    path = os.path.join(work_dir, 'cryptomine.conf')
    write_conf_file(path, overrides, broker.url)
    db_path = overrides['database']['connection'].removeprefix('sqlite:///')
    with open(os.path.join(work_dir, 'controller.log'), 'wb') as log:
        daemon = subprocess.Popen(
            [sys.executable, '-m', 'cryptomine_scheduler.cmd.controller',
             '--config-file', path], stdout=log, stderr=subprocess.STDOUT)
    try:
        tree, beam = psutil.Process(daemon.pid), broker_process(broker)
        stored, last_change, first = 0, time.monotonic(), None
        while stored < expected:
            time.sleep(0.02)
            count = _stored_rows(db_path)
            if count != stored:
                stored, last_change = count, time.monotonic()
            elif time.monotonic() - last_change > stall_timeout:
                raise RuntimeError(f'ingest stalled at {stored} of '
                                   f'{expected} samples')
            if first is None and stored:
                first = (stored, time.monotonic(), _tree_cpu(tree),
                         _cpu_seconds(beam), _tree_rss(tree))
        done, cpu, rss = time.monotonic(), _tree_cpu(tree), _tree_rss(tree)
        stats = _absorbed(overrides, broker.url, expected, stall_timeout)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(120)
    counted, start, cpu_before, beam_before, rss_before = first
    scale = expected / max(expected - counted, 1)
    return Drain((done - start) * scale,
                 scale * sum(cpu[pid] - cpu_before.get(pid, 0.0)
                             for pid in cpu), {},
                 scale * (_cpu_seconds(beam) - beam_before),
                 rss - rss_before, stats)


def _absorbed(overrides: dict, url: str, expected: int,
              timeout: float) -> dict:
    """The controller's ingest stats once its summaries hold every
    sample the workers stored."""
    conf = _common.build_conf(overrides, controller=True)
    transport = oslo_messaging.get_rpc_transport(conf, url=url)
    client = rpcapi.ControllerClient(
        transport, conf.messaging.controller_topic, timeout=timeout)
    try:
        deadline = time.monotonic() + timeout
        while (stats := client.get_ingest_stats())['stored'] < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f'the controller absorbed {stats} of '
                                   f'{expected} stored samples')
            time.sleep(0.1)
        return stats
    finally:
        transport.cleanup()


def report_drain(result: Drain, count: int, batch_size: int) -> float:
    """Print the rate and where the controller's CPU went; return rate."""
    stats = result.stats
    rate = report_rate(f'drain into SQLite, batch size {batch_size}', count,
                       result.seconds, f'  ({stats["batches"]:,} batches)')
    per_sample = 1000 * result.cpu_seconds / count
    print(f'    controller CPU {per_sample:.3f} ms/sample '
          f'({result.cpu_seconds / result.seconds:.0%} of a core, so '
          f'{1000 / per_sample:,.0f} samples/s with a whole core), RSS '
          f'+{result.rss_growth_mb:.0f} MiB at peak'
          + ('; CPU by live thread:' if result.thread_cpu else
             ' (the daemon\'s processes together)'))
    for name, seconds in sorted(result.thread_cpu.items(),
                                key=lambda item: -item[1]):
        if seconds >= 0.01:
            print(f'      {1000 * seconds / count:7.3f} ms/sample  {name}')
    print(f'    broker CPU {1000 * result.broker_cpu_seconds / count:.3f} '
          f'ms/sample ({result.broker_cpu_seconds / result.seconds:.0%} of '
          f'a core)')
    rejected = {k: v for k, v in stats['rejected'].items() if v}
    if rejected or stats['received'] != stats['stored']:
        print(f'    note: received {stats["received"]:,}, rejected '
              f'{rejected}')
    return rate


def run_drain(args, broker: rabbit.RabbitBroker, workload: Workload,
              batch_size: int, workers: int = 0,
              run: int = 0) -> tuple[float, Drain]:
    """Publish, then drain with ``batch_size``; return samples/s and
    what the drain measured."""
    topic = f'benchmark_samples_b{batch_size}_w{workers}_r{run}'
    with tempfile.TemporaryDirectory(dir=args.db_dir) as db_dir:
        overrides = controller_overrides(topic, batch_size,
                                         args.prefetch_batches, db_dir,
                                         workers)
        prefetch = controller_conf(
            overrides).oslo_messaging_rabbit.rabbit_qos_prefetch_count
        print(f' batch size {batch_size}, ingest workers {workers}, '
              f'rabbit_qos_prefetch_count '
              f'{prefetch or "unset (unlimited)"}, queue {topic}.info')
        prepublish(broker, topic, workload, args.publishers)
        if workers:
            result = drain_supervised(overrides, broker, workload.count,
                                      args.stall_timeout, db_dir)
        else:
            result = drain(controller_conf(overrides), broker,
                           workload.count, args.stall_timeout,
                           args.profile)
    return report_drain(result, workload.count, batch_size), result


def report_drain_stages(result: Drain, count: int,
                        stages: dict[str, float]) -> None:
    """Split the CPU of one in-process drain into the stages of (a) and
    the rest: reading the queue (AMQP frames, decoding, acknowledgements)
    and handing batches over."""
    own = {name: value * count for name, value in stages.items()
           if name != 'decode'}
    rest = sum(result.thread_cpu.values()) - sum(own.values())
    report_stages({**own, 'reading the queue, rest': max(rest, 0.0)},
                  count)


def _spread(label: str, rates: list[float]) -> float:
    """Print min/median/max of ``rates``; return the median."""
    median = statistics.median(rates)
    print(f'  {label}: {min(rates):,.0f} / {median:,.0f} / '
          f'{max(rates):,.0f} samples/s (min/median/max of {len(rates)} '
          f'runs)')
    return median


def run_end_to_end(args, workload: Workload,
                   stages: dict[str, float] | None) -> list[bool]:
    _common.heading('(b) end to end: RabbitMQ -> ControllerService -> SQLite')
    print_workload(workload)
    broker = rabbit.RabbitBroker()
    try:
        with _common.stopwatch() as startup:
            broker.setUp()
    except rabbit.RabbitUnavailable as exc:
        print(f'FAIL  cannot measure: {exc}')
        return [False]
    print(f'  private RabbitMQ broker up in {startup["wall"]:.1f} s')
    checks = [(0, E2E_TARGET)]
    if args.ingest_workers:
        checks.append((args.ingest_workers, E2E_WORKERS_TARGET))
    try:
        baseline, _ = run_drain(args, broker,
                                workload.sized(args.e2e_baseline_samples), 1)
        rates = {}
        for workers, _ in checks:
            rates[workers] = []
            for run in range(args.runs):
                rate, result = run_drain(args, broker, workload,
                                         args.batch_size, workers, run)
                rates[workers].append(rate)
                if stages and not workers and not args.profile:
                    report_drain_stages(result, workload.count, stages)
    finally:
        broker.cleanUp()
    verdicts = []
    for workers, target in checks:
        label = (f'batch size {args.batch_size}, {workers} ingest workers')
        median = _spread(label, rates[workers])
        print(f'  speed-up over the batch size 1 baseline '
              f'({baseline:,.0f} samples/s): x{median / baseline:.1f}')
        verdicts.append(_common.check(
            f'end-to-end ingest (median), {label}', median, target,
            'samples/s', higher_is_better=True))
    return verdicts


# -- (c) several controllers on PostgreSQL ------------------------------


@dataclasses.dataclass
class Peer:
    """One ``cryptomine-controller`` daemon of a group, in a session of
    its own (so that its master and children stop and go together)."""

    name: str
    daemon: subprocess.Popen
    log_path: str
    caller: object  # an RPC client addressed to this controller only

    def signal(self, signum: int) -> None:
        os.killpg(self.daemon.pid, signum)

    def stats(self) -> dict:
        return self.caller.call({}, 'get_ingest_stats')

    def log_tail(self) -> str:
        with open(self.log_path, errors='replace') as log:
            return log.read()[-2000:]

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
        try:
            self.daemon.wait(60)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.daemon.wait(30)


def _new_database(cluster: postgres.PostgresCluster, name: str) -> str:
    """Create database ``name`` in ``cluster``; return its URL."""
    engine = sqlalchemy.create_engine(cluster.url,
                                      isolation_level='AUTOCOMMIT')
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE {name}'))
    finally:
        engine.dispose()
    return sqlalchemy.make_url(cluster.url).set(
        database=name).render_as_string(hide_password=False)


def _postgres_rows(url: str) -> int:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sqlalchemy.text(
                'SELECT count(*) FROM host_samples')).scalar_one()
    finally:
        engine.dispose()


def postgres_process(cluster: postgres.PostgresCluster) -> psutil.Process:
    """The postmaster; its children are the backends doing the work."""
    with open(os.path.join(cluster.data, 'postmaster.pid')) as pidfile:
        return psutil.Process(int(pidfile.readline().strip()))


def start_peer(name: str, overrides: dict, broker: rabbit.RabbitBroker,
               transport, work_dir: str, timeout: float = 120.0) -> Peer:
    """Start controller ``name`` on ``overrides``; return it once it
    answers RPC (its schema migrated, its sample queue declared)."""
    path = os.path.join(work_dir, f'{name}.conf')
    write_conf_file(path, overrides, broker.url)
    log_path = os.path.join(work_dir, f'{name}.log')
    with open(log_path, 'wb') as log:
        daemon = subprocess.Popen(
            [sys.executable, '-m', 'cryptomine_scheduler.cmd.controller',
             '--config-file', path], stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    caller = oslo_messaging.get_rpc_client(transport, oslo_messaging.Target(
        topic=overrides['messaging']['controller_topic'], server=name,
        namespace=rpcapi.NAMESPACE, version='1.0'), timeout=2)
    peer = Peer(name, daemon, log_path, caller)
    deadline = time.monotonic() + timeout
    while True:
        try:
            peer.stats()
            break
        except oslo_messaging.MessagingTimeout:
            if daemon.poll() is not None or time.monotonic() > deadline:
                peer.stop()
                raise RuntimeError(f'controller {name} did not answer: '
                                   f'{peer.log_tail()}') from None
    peer.caller = caller.prepare(timeout=30)
    return peer


@dataclasses.dataclass(frozen=True)
class GroupDrain:
    """What one drain by a group of controllers measured."""

    seconds: float  # until every controller absorbed every sample
    each_seconds: dict[str, float]
    stats: dict[str, dict]
    # CPU seconds by controller, of PostgreSQL, of RabbitMQ, of this
    # script, and the seconds the machine's CPUs were idle or stolen
    cpu: dict[str, float]
    rows: int


def _group_cpu(peers: list[Peer], cluster: postgres.PostgresCluster,
               beam: psutil.Process) -> dict[str, float]:
    cpu = {peer.name: _tree_cpu(psutil.Process(peer.daemon.pid))
           for peer in peers}
    cpu['PostgreSQL'] = _tree_cpu(postgres_process(cluster))
    cpu['RabbitMQ'] = {beam.pid: _cpu_seconds(beam)}
    cpu['this benchmark'] = {0: _cpu_seconds(psutil.Process())}
    machine = psutil.cpu_times()
    cpu['idle'] = {0: machine.idle + machine.iowait}
    cpu['steal'] = {0: machine.steal}
    return cpu


def _cpu_delta(before: dict, after: dict) -> dict[str, float]:
    return {name: sum(seconds - before[name].get(pid, 0.0)
                      for pid, seconds in by_pid.items())
            for name, by_pid in after.items()}


def wait_absorbed(peers: list[Peer], expected: int,
                  stall_timeout: float) -> tuple[dict, dict]:
    """Poll every controller until each summarised ``expected`` samples
    (stored by itself or by a peer); return when each was done (seconds
    from now) and its ingest stats."""
    start = time.monotonic()
    done, stats, last, last_change = {}, {}, -1, start
    while len(done) < len(peers):
        time.sleep(0.2)
        for peer in peers:
            if peer.name in done:
                continue
            stats[peer.name] = peer.stats()
            if stats[peer.name]['summarised'] >= expected:
                done[peer.name] = time.monotonic() - start
        progress = sum(s['summarised'] for s in stats.values())
        if progress != last:
            last, last_change = progress, time.monotonic()
        elif time.monotonic() - last_change > stall_timeout:
            raise RuntimeError(f'ingest stalled: {stats}')
    return done, stats


def drain_group(args, broker: rabbit.RabbitBroker,
                cluster: postgres.PostgresCluster, workload: Workload,
                count: int, share: bool, run: int,
                work_dir: str) -> GroupDrain:
    """Start ``count`` controllers on a fresh database, sharing one
    sample queue (``share``) or each with a pool of its own; freeze them,
    fill their queues, thaw them together and time until every one
    summarised every sample."""
    label = f'pg_{"shared" if share else "copies"}_n{count}_r{run}'
    topic = f'benchmark_samples_{label}'
    url = _new_database(cluster, f'benchmark_{label}')
    transport = oslo_messaging.get_rpc_transport(_common.build_conf(),
                                                 url=broker.url)
    peers, pools = [], []
    try:
        for index in range(count):
            name = f'benchmark-{label}-c{index + 1}'
            overrides = controller_overrides(
                topic, args.batch_size, args.prefetch_batches, work_dir,
                args.pg_ingest_workers)
            overrides['DEFAULT']['host'] = name
            overrides['database']['connection'] = url
            overrides['controller']['share_ingest'] = share
            # The first consumes the queue the collectors declare, the
            # others a copy of their own unless they share it.
            if index and not share:
                pools.append(f'{topic}.{name}')
                overrides['controller']['listener_pool'] = pools[-1]
            elif not index:
                pools.append(f'{topic}.info')
            peers.append(start_peer(name, overrides, broker, transport,
                                    work_dir))
        _wait_for_queues(broker, pools)
        for peer in peers:
            peer.signal(signal.SIGSTOP)
        prepublish(broker, topic, workload, args.publishers)
        for pool in pools[1:]:
            _wait_for_depth(broker, pool, workload.count)
        beam = broker_process(broker)
        before = _group_cpu(peers, cluster, beam)
        for peer in peers:
            peer.signal(signal.SIGCONT)
        done, stats = wait_absorbed(peers, workload.count,
                                    args.stall_timeout)
        cpu = _cpu_delta(before, _group_cpu(peers, cluster, beam))
    finally:
        for peer in peers:
            peer.stop()
        transport.cleanup()
    return GroupDrain(max(done.values()), done, stats, cpu,
                      _postgres_rows(url))


def _wait_for_queues(broker: rabbit.RabbitBroker, queues: list[str],
                     timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not set(queues) <= set(broker.queue_depths()):
        if time.monotonic() > deadline:
            raise RuntimeError(f'queues {queues} not all declared: '
                               f'{broker.queue_depths()}')
        time.sleep(0.5)


def report_group(result: GroupDrain, count: int,
                 mode: str) -> tuple[float, bool]:
    """Print one group drain; return the stream rate it kept up with
    and whether other processes left the machine to it."""
    peers = len(result.each_seconds)
    rate = report_rate(f'{mode}, {peers} controller(s), every one all',
                       count, result.seconds)
    for name, seconds in result.each_seconds.items():
        stats = result.stats[name]
        print(f'    {name}: all in {seconds:6.2f} s = '
              f'{count / seconds:6,.0f} samples/s, consumed '
              f'{stats["received"]:,}, stored {stats["stored"]:,} '
              f'(duplicate: {stats["rejected"]["duplicate"]:,}), from '
              f'peers {stats["from_peers"]:,}, CPU '
              f'{1000 * result.cpu[name] / count:.3f} ms/sample')
    capacity = (os.cpu_count() or 1) * result.seconds
    controllers = sum(result.cpu[name] for name in result.each_seconds)
    shares = {'controllers': controllers,
              'PostgreSQL': result.cpu['PostgreSQL'],
              'RabbitMQ': result.cpu['RabbitMQ'],
              'this benchmark': result.cpu['this benchmark']}
    shares['other processes'] = (capacity - result.cpu['idle']
                                 - result.cpu['steal']
                                 - sum(shares.values()))
    shares['idle'] = result.cpu['idle']
    if result.cpu['steal'] > 0.005 * capacity:
        shares['stolen by the hypervisor'] = result.cpu['steal']
    print(f'    rows in host_samples: {result.rows:,}; share of the '
          f'{os.cpu_count()} CPUs: '
          + ', '.join(f'{name} {seconds / capacity:.0%}'
                      for name, seconds in shares.items()))
    quiet = shares['other processes'] <= QUIET_SHARE * capacity
    if not quiet:
        print('    note: other processes took CPU from this drain; its '
              'rate is lower than on a quiet machine')
    if result.rows != count:
        raise RuntimeError(f'{result.rows} rows stored for {count} '
                           f'samples')
    return rate, quiet


def run_postgresql(args, workload: Workload) -> list[bool]:
    _common.heading('(c) several controllers: RabbitMQ -> '
                    'cryptomine-controller x N -> one PostgreSQL')
    print_workload(workload)
    counts = [int(n) for n in args.controllers.split(',')]
    print(f'  controllers {counts}, each with its own pool (copies) or '
          f'sharing one (shared), batch size {args.batch_size}, ingest '
          f'workers {args.pg_ingest_workers}; frozen while their queues '
          f'fill, timed from their thaw')
    try:
        with _common.stopwatch() as startup:
            broker = rabbit.RabbitBroker()
            broker.setUp()
    except rabbit.RabbitUnavailable as exc:
        print(f'FAIL  cannot measure: {exc}')
        return [False]
    try:
        try:
            cluster = postgres.PostgresCluster()
            cluster.setUp()
        except postgres.PostgresUnavailable as exc:
            print(f'FAIL  cannot measure: {exc}')
            return [False]
        print(f'  private RabbitMQ broker and PostgreSQL cluster up in '
              f'{startup["wall"]:.1f} s')
        groups = [(mode, count) for mode in PG_MODES for count in counts]
        rates: dict[tuple[str, int], list[tuple[float, bool]]] = {
            group: [] for group in groups}
        try:
            with tempfile.TemporaryDirectory() as work_dir:
                for run in range(args.runs):
                    for mode, count in groups:
                        result = drain_group(
                            args, broker, cluster, workload, count,
                            mode == 'shared', run, work_dir)
                        rates[mode, count].append(
                            report_group(result, workload.count, mode))
        finally:
            cluster.cleanUp()
    finally:
        broker.cleanUp()
    medians = {}
    for mode, count in groups:
        label = f'{mode}, {count} controller(s), the stream all absorbed'
        drains = rates[mode, count]
        medians[mode, count] = _spread(label, [r for r, _ in drains])
        quiet = [rate for rate, calm in drains if calm]
        if quiet and len(quiet) < len(drains):
            medians[mode, count] = _spread(f'{label}, quiet drains only',
                                           quiet)
    if PG_TARGET_CONTROLLERS not in counts:
        return []
    return [_common.check(
        f'ingest of the stream by {PG_TARGET_CONTROLLERS} controllers '
        f'sharing it on PostgreSQL (median, of the quiet drains if any; '
        f'copies: {medians["copies", PG_TARGET_CONTROLLERS]:,.0f})',
        medians['shared', PG_TARGET_CONTROLLERS], PG_TARGET, 'samples/s',
        higher_is_better=True)]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--samples', type=int, default=20000,
                        help='samples ingested in process (a)')
    parser.add_argument('--baseline-samples', type=int, default=4000,
                        help='samples of the batch-size-1 baseline of (a)')
    parser.add_argument('--e2e-samples', type=int, default=30000,
                        help='samples published and drained in (b)')
    parser.add_argument('--e2e-baseline-samples', type=int, default=3000,
                        help='samples of the batch-size-1 baseline of (b)')
    parser.add_argument('--hosts', type=int, default=1000,
                        help='compute hosts the samples come from')
    parser.add_argument('--max-instances', type=int, default=4,
                        help='each host runs 0..this many instances')
    parser.add_argument('--batch-size', type=int, default=200,
                        help='[controller] batch_size under test')
    parser.add_argument('--prefetch-batches', type=int, default=None,
                        help='[controller] prefetch_batches of the drains '
                             '(default: the controller\'s; 0: unlimited)')
    parser.add_argument('--ingest-workers', type=int, default=2,
                        help='[controller] ingest_workers of the drains of '
                             '(b) with workers (0: none of them)')
    parser.add_argument('--runs', type=int, default=3,
                        help='drains of (b) per configuration; the targets '
                             'apply to the median')
    parser.add_argument('--publishers', type=int, default=2,
                        help='publisher processes filling the queue in (b)')
    parser.add_argument('--db-dir', default=None,
                        help='directory of the SQLite files (default: the '
                             'system temporary directory)')
    parser.add_argument('--stall-timeout', type=float, default=30.0,
                        help='give up when nothing is stored for this long')
    parser.add_argument('--postgresql', action='store_true',
                        help='also run (c): groups of controller daemons '
                             'on one PostgreSQL database')
    parser.add_argument('--controllers', default='1,2,3',
                        help='sizes of the groups of (c), comma-separated')
    parser.add_argument('--pg-samples', type=int, default=12000,
                        help='samples published and drained in (c)')
    parser.add_argument('--pg-ingest-workers', type=int, default=0,
                        help='[controller] ingest_workers of each '
                             'controller of (c)')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--skip-in-process', action='store_true')
    parser.add_argument('--skip-end-to-end', action='store_true')
    parser.add_argument('--profile', action='store_true',
                        help='cProfile the timed parts (slows them down)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    _common.quiet_logging()
    _common.describe_machine()
    print(f'SQLite files under {args.db_dir or tempfile.gettempdir()}')
    workload = Workload(args.samples, args.hosts, args.max_instances,
                        args.seed)
    stages = None
    if not args.skip_in_process:
        stages = run_in_process(args, workload)
    results = []
    if not args.skip_end_to_end:
        results += run_end_to_end(args, workload.sized(args.e2e_samples),
                                  stages)
    if args.postgresql:
        results += run_postgresql(args, workload.sized(args.pg_samples))
    return _common.verdict(results)


if __name__ == '__main__':
    sys.exit(main())
