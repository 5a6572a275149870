"""Collector CPU cost per cycle and memory, compute and mining hosts.

Spawns idle processes that the instances source takes for qemu guests
(``argv[0]`` is ``qemu-system-x86_64``, the binary is Python), then runs
collector cycles in a fresh child process per variant, so that each
variant's memory is its own:

* host source only, full cycle (baseline);
* host and instances sources, sampling and signing without publishing;
* host and instances sources, full cycle published over ``fake:/`` (the
  compute-host variant the targets apply to);
* a mining host: host, sensors, gpu and asic sources, full cycle;
* that mining host with the instances source and the guests too;
* a mining host whose GPUs are passed through to guests, read over
  Redfish instead of NVML: host, sensors, asic and redfish sources.

The targets are issue 21's: the compute host's cycle in 2 ms of CPU and
40 MiB of RSS, the mining host's in 3 ms, with the guests in 4 ms.
The RSS target applies to ``cryptomine-collector`` itself, run as a
compute host runs it (one process, host and instances sources, the
guests above, stopped with SIGTERM), publishing to a ``rabbit://``
``--transport-url`` or else to a private RabbitMQ broker the script
starts (Debian's ``rabbitmq-server``, as the tests use; a process of its
own cannot share the in-process ``fake:/`` bus).  Only where neither is
there does it apply to a collector child, which holds this script's
modules too (about 0.5 MiB).  ``--runs`` measures every variant that
many times, each in a fresh child, and checks the median run; the fake
transport keeps no message (it would keep every one in memory, a broker
takes them away).  ``--rabbit`` has the measured cycles publish to that
private broker too, as a compute host publishes.  Each variant with a
target is also shown as a multiple of the baseline's CPU in the same
run, a figure that other work on the machine changes less.

The mining host's GPUs are ``FakeNvml`` boards handed to ``GpuSource``
(``pynvml`` is imported all the same, as a real collector would; the
NVML library itself is not loaded).  Its miners are ``FakeMiner``
servers, Antminer S19 replies over real TCP, run in a process of their
own so that their threads' CPU and memory are not the collector's; they
answer on threads started once, as remote devices start no thread on
the host (new thread IDs would each cost the instances source a look).
Where this machine has no CPU temperature sensor and no RAPL zone, the
sensors source reads a typical tree (coretemp, nvme, acpitz, RAPL)
written to a temporary directory instead of ``/sys/class``.  Both fakes
(and the private broker's helper) are loaded from their files rather
than through ``cryptomine_scheduler.tests``, whose ``__init__`` imports
nova; each collector child checks that neither nova nor that package got
imported.
The Redfish host's BMC is sushy-tools' static emulator serving a mock-up
of a server with as many GPUs, in a process of its own; the redfish
source reads it every :data:`REDFISH_INTERVAL` seconds in its own thread,
whose CPU is shown apart (the cycle only takes the newest read).

Run from the repository root:
``.venv/bin/python benchmarks/collector_cost.py``
"""

import argparse
import collections
import concurrent.futures
import contextlib
import dataclasses
import importlib
import importlib.util
import multiprocessing
import os
import pathlib
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator

from load_collector import launch

# As cryptomine-collector starts (and in each collector child, which
# imports this module first): before anything imports oslo.messaging.
launch.native_threads()

import _common  # noqa: E402
import oslo_messaging  # noqa: E402
import psutil  # noqa: E402
from oslo_messaging._drivers import impl_fake  # noqa: E402

import cryptomine_scheduler  # noqa: E402
from cryptomine_scheduler.telemetry import signing  # noqa: E402
from load_collector import buffer as buffer_mod  # noqa: E402
from load_collector import cmd as collector_cmd  # noqa: E402
from load_collector import daemon  # noqa: E402
from load_collector import publisher as publisher_mod  # noqa: E402
from load_collector import sources as sources_mod  # noqa: E402

GUEST_CODE = 'import time; time.sleep(600)'
#: Seconds between two reads of the BMC (the shortest ``[redfish]
#: interval``); the cycles are ``--pause`` apart.
REDFISH_INTERVAL = 1.0
#: The fields of the sensors section that the sensors source fills.
SENSORS_SOURCE_FIELDS = ('cpu_temperature_c', 'energy_j')
HOST = 'benchmark-compute'
# The test modules the fakes and the broker live in, loaded by file (see
# load_test_module).
FAKES_DIR = pathlib.Path(cryptomine_scheduler.__file__).parent / 'tests'
# Modules a real collector never imports: the collector children check
# that none of them got in (nova switches to its threading mode and
# weighs tens of MiB; eventlet is what native_threads keeps out).
FOREIGN_MODULES = ('nova', 'cryptomine_scheduler.tests', 'fixtures',
                   'eventlet')


# -- the guests ---------------------------------------------------------


def spawn_guest(index: int) -> tuple[str, subprocess.Popen]:
    """Start one idle process whose command line looks like a qemu guest."""
    guest_uuid = str(uuid.uuid4())
    process = subprocess.Popen(
        ['qemu-system-x86_64', '-c', GUEST_CODE,
         '-name', f'guest=instance-{index}', '-uuid', guest_uuid],
        executable=sys.executable, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return guest_uuid, process


def wait_until_idle(processes: list[subprocess.Popen],
                    timeout: float = 60.0) -> None:
    """Wait until the guests have finished starting (their CPU stopped)."""
    handles = [psutil.Process(p.pid) for p in processes]
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        used = sum(sum(h.cpu_times()[:2]) for h in handles)
        if previous is not None and used - previous < 0.01:
            return
        previous = used
        time.sleep(0.5)
    raise RuntimeError('the guest processes are still busy starting')


@contextlib.contextmanager
def running_guests(count: int) -> Iterator[dict[str, int]]:
    """Run ``count`` guests; yield their PIDs by UUID; kill them after."""
    processes = []
    try:
        pids = {}
        for index in range(count):
            guest_uuid, process = spawn_guest(index)
            processes.append(process)
            pids[guest_uuid] = process.pid
        wait_until_idle(processes)
        yield pids
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()


# -- the fakes of a mining host -----------------------------------------


def load_test_module(name: str):
    """Load ``cryptomine_scheduler/tests/<name>.py`` as a module of its own.

    Importing it as ``cryptomine_scheduler.tests.<name>`` would run the
    package's ``__init__``, which imports nova and sets it to threading
    mode: memory and behaviour a real collector does not have.
    """
    module_name = f'_collector_cost_{name}'
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            module_name, FAKES_DIR / f'{name}.py')
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look it up
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def serve_miners(count: int, flavour: str, conn) -> None:
    """Run ``count`` FakeMiners until ``conn`` closes (in its own process).

    Sends the miners' ``[collector] miners`` entries once they listen.
    """
    fake_miner = load_test_module('fake_miner')
    miners = []
    try:
        for _ in range(count):
            miner = fake_miner.FakeMiner(flavour)
            miner.setUp()
            miners.append(miner)
        conn.send([miner.entry for miner in miners])
        with contextlib.suppress(EOFError):
            conn.recv()
    finally:
        for miner in miners:
            miner.cleanUp()


@contextlib.contextmanager
def running_miners(count: int, flavour: str
                   ) -> Iterator[tuple[tuple[str, ...], int | None]]:
    """Run miners in another process; yield their entries and its PID."""
    if not count:
        yield (), None
        return
    context = multiprocessing.get_context('spawn')
    ours, theirs = context.Pipe()
    process = context.Process(target=serve_miners, daemon=True,
                              args=(count, flavour, theirs))
    process.start()
    theirs.close()
    try:
        if not ours.poll(120):
            raise RuntimeError('the miner servers did not start')
        try:
            entries = tuple(ours.recv())
        except EOFError:
            process.join(5)
            raise RuntimeError('the miner servers failed to start (exit '
                               f'status {process.exitcode})') from None
        yield entries, process.pid
    finally:
        ours.close()  # its recv() ends: the miners stop and it exits
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()


@contextlib.contextmanager
def running_bmc(gpus: int):
    """Serve a mock-up of a server with ``gpus`` GPUs with sushy-static."""
    redfish_bmc = load_test_module('redfish_bmc')
    bmc = redfish_bmc.StaticBmc(redfish_bmc.gpu_server(
        [redfish_bmc.Gpu(slot=n, bus=0x11 + n) for n in range(gpus)]))
    bmc.setUp()
    try:
        yield bmc
    finally:
        bmc.cleanUp()


def wait_for_bmc(sources: list[sources_mod.Source],
                 timeout: float = 60.0) -> str:
    """Wait until the redfish source has read the BMC once."""
    deadline = time.monotonic() + timeout
    while sources and time.monotonic() < deadline:
        draft = sources_mod.SampleDraft()
        sources[0].collect(draft)
        if draft.sensors.chassis_power_w is not None:
            return f'read every {REDFISH_INTERVAL:g} s in its own thread'
        time.sleep(0.05)
    return 'NOT READ'


def mining_gpus(fake_nvml, count: int, guest_pids: tuple[int, ...]):
    """``count`` busy mining boards; board N runs guest_pids[N] if any."""
    return [fake_nvml.FakeGpu(
        name='NVIDIA GeForce RTX 3090',
        pci_bus_id=f'00000000:{index + 1:02x}:00.0'.encode(),
        utilization=(100, 87), memory_used=5 * fake_nvml.GIB,
        memory_total=24 * fake_nvml.GIB, power_mw=285_000 + 1000 * index,
        power_limit_mw=300_000, temperature=60 + index,
        slowdown_temperature=93, fan_percent=70 + index, sm_clock=1395,
        memory_clock=9501, throttle_reasons=0x4,  # SwPowerCap
        compute_pids=guest_pids[index:index + 1])
        for index in range(count)]


# hwmon chip -> temperatures (label, input, max, crit) in millidegrees,
# as a one-socket host with an NVMe disk shows them.
SENSOR_TREE = {
    'acpitz': [('', 27800, None, 119000)],
    'coretemp': [('Package id 0', 61000, 80000, 100000)] + [
        (f'Core {n}', 55000 + 1000 * n, 80000, 100000) for n in range(8)],
    'nvme': [('Composite', 38850, 81850, 84850),
             ('Sensor 1', 38850, 65261850, 65261850),
             ('Sensor 2', 42850, 65261850, 65261850)],
}
RAPL_TREE = {'intel-rapl:0': 'package-0', 'intel-rapl:0:0': 'core',
             'intel-rapl:0:1': 'uncore', 'intel-rapl:1': 'psys'}


def write_sensor_tree(stack: contextlib.ExitStack) -> str:
    """Write :data:`SENSOR_TREE` and :data:`RAPL_TREE` as sysfs does.

    Returns the directory standing for ``/sys``; it is removed when
    ``stack`` closes.
    """
    root = stack.enter_context(tempfile.TemporaryDirectory(
        prefix='collector-sensors-'))

    def write(path: str, value: object) -> None:
        with open(os.path.join(root, path), 'w') as out:
            out.write(f'{value}\n')

    for index, (chip, readings) in enumerate(SENSOR_TREE.items()):
        hwmon = os.path.join('class', 'hwmon', f'hwmon{index}')
        os.makedirs(os.path.join(root, hwmon))
        write(os.path.join(hwmon, 'name'), chip)
        for n, (label, current, high, critical) in enumerate(readings, 1):
            base = os.path.join(hwmon, f'temp{n}')
            write(base + '_input', current)
            for suffix, value in (('_label', label), ('_max', high),
                                  ('_crit', critical),
                                  ('_crit_alarm', 0 if critical else None)):
                if value not in (None, ''):
                    write(base + suffix, value)
    for zone, name in RAPL_TREE.items():
        os.makedirs(os.path.join(root, 'class', 'powercap', zone))
        write(os.path.join('class', 'powercap', zone, 'name'), name)
        write(os.path.join('class', 'powercap', zone, 'energy_uj'),
              123456789012)
        write(os.path.join('class', 'powercap', zone,
                           'max_energy_range_uj'), 262143328850)
    return root


# -- one variant, in a child process ------------------------------------


@dataclasses.dataclass(frozen=True)
class Variant:
    """Which sources a collector has, whether its cycles publish, and
    the targets of its mean CPU time per cycle and of its RSS."""

    label: str
    sources: tuple[str, ...]
    publish: bool
    cpu_target_ms: float | None = None
    rss_target_mb: float | None = None


MINING_SOURCES = ('host', 'sensors', 'gpu', 'asic')
VARIANTS = (
    Variant('host only, full cycle (baseline)', ('host',), True),
    Variant('host + instances, sample + sign only', ('host', 'instances'),
            False),
    Variant('host + instances, full cycle', ('host', 'instances'), True,
            cpu_target_ms=2.0, rss_target_mb=40.0),
)
MINING_VARIANTS = (
    Variant('mining host, full cycle', MINING_SOURCES, True,
            cpu_target_ms=3.0),
    Variant('mining host + instances, full cycle',
            ('host', 'instances', 'sensors', 'gpu', 'asic'), True,
            cpu_target_ms=4.0),
    Variant('mining host, GPUs over Redfish + miners',
            ('host', 'sensors', 'asic', 'redfish'), True,
            cpu_target_ms=5.0),
)


@dataclasses.dataclass(frozen=True)
class Job:
    """One variant to measure, and what its cycles must list."""

    variant: Variant
    guests: frozenset[str]  # what the instances section must list
    url: str
    warmup: int
    cycles: int
    pause: float
    profile: bool
    gpus: int = 0
    # (PID, UUID) of the guest each GPU runs, first GPUs first.
    gpu_guests: tuple[tuple[int, str], ...] = ()
    miners: tuple[str, ...] = ()
    miner_pid: int | None = None  # the miner servers' process
    bmc_url: str | None = None  # the BMC the redfish source reads


class RecordingPublisher:
    """Publishes through ``inner`` and queues each payload to check.

    Over ``fake:/`` each message is dropped once published: the fake
    driver would keep them all in memory, where a broker takes them away.
    """

    def __init__(self, inner: publisher_mod.SamplePublisher, fake: bool):
        self._inner = inner
        self._fake = fake
        self.sent: queue.SimpleQueue = queue.SimpleQueue()

    def publish(self, payload: dict) -> None:
        self._inner.publish(payload)
        if self._fake:
            impl_fake.FakeExchangeManager.cleanup()
        self.sent.put(payload)


class CycleRunner:
    """A collector assembled as ``cryptomine-collector`` does it.

    ``sources`` as :func:`load_sources` built them.  With ``publish``
    false a cycle stops after signing the sample; otherwise it ends once
    the collector's publishing thread has sent it.
    """

    def __init__(self, conf, transport, sources, publish: bool, fake: bool):
        self._key = signing.derive_host_key(conf.messaging.master_secret,
                                            HOST)
        self._publisher = RecordingPublisher(publisher_mod.SamplePublisher(
            transport, conf.messaging.sample_topic, f'benchmark.{HOST}',
            conf.collector.publish_retry), fake)
        self._collector = daemon.Collector(
            HOST, sources, self._publisher,
            self._key, buffer_mod.ReplayBuffer(conf.collector.buffer_size))
        self._publish = publish
        if publish:
            self._collector.start()

    def cycle(self) -> dict:
        """Run one cycle; return the envelope it produced."""
        if self._publish:
            self._collector.cycle()
            return self._publisher.sent.get()
        return signing.envelope(self._collector.sample().to_wire(),
                                self._key)

    def close(self) -> None:
        self._collector.shutdown(timeout=0)


def load_sources(conf, job: Job, stack: contextlib.ExitStack
                 ) -> tuple[list[sources_mod.Source], list[str]]:
    """Build the variant's sources as ``cryptomine-collector`` does.

    Except: ``gpu`` reads :class:`FakeNvml` boards, and ``sensors``
    reads a written tree when this machine has no sensor of its own.
    Returns the sources and a description of each.
    """
    loaded, described = [], []
    for name in job.variant.sources:
        if name == 'gpu':
            try:
                importlib.import_module('pynvml')  # a real one would
                imported = 'pynvml imported, NVML library not loaded'
            except ImportError:
                imported = 'pynvml not installed here'
            fake_nvml = load_test_module('fake_nvml')
            nvml = fake_nvml.FakeNvml(mining_gpus(
                fake_nvml, job.gpus, tuple(p for p, _ in job.gpu_guests)))
            gpu_mod = importlib.import_module('load_collector.sources.gpu')
            loaded.append(gpu_mod.GpuSource(conf, nvml=nvml))
            described.append(f'gpu: {job.gpus} FakeNvml boards '
                             f'({imported})')
            continue
        conf.set_override('sources', [name], 'collector')
        found = collector_cmd.load_sources(conf)
        if name == 'sensors' and found:
            described.append("sensors: this machine's hwmon and RAPL")
        elif name == 'sensors':
            root = write_sensor_tree(stack)
            sensors_mod = importlib.import_module(
                'load_collector.sources.sensors')
            found = [sensors_mod.SensorSource(conf,
                                              os.path.join(root, 'class'))]
            chips = sum(map(len, SENSOR_TREE.values()))
            described.append(
                f'sensors: none on this machine, so a written tree of '
                f'{chips} hwmon temperatures and {len(RAPL_TREE)} RAPL '
                f'zones')
        elif name == 'redfish':
            described.append(f'redfish: {job.gpus} GPUs and the chassis of '
                             f'a sushy-static BMC, {wait_for_bmc(found)}')
        elif name == 'asic':
            described.append(f'asic: {len(job.miners)} FakeMiner servers '
                             f'in process {job.miner_pid}')
        else:
            described.append(name)
        if not found:
            described[-1] = f'{name}: unavailable here, left out'
        loaded.extend(found)
    conf.set_override('sources', list(job.variant.sources), 'collector')
    return loaded, described


@dataclasses.dataclass
class Timings:
    """What :func:`measure_cycles` collects, cycle by cycle."""

    cpu_ms: list[float] = dataclasses.field(default_factory=list)
    wall_ms: list[float] = dataclasses.field(default_factory=list)
    instance_counts: list[int] = dataclasses.field(default_factory=list)
    wrong_cycles: int = 0  # cycles that did not list exactly the guests
    unknown_guests: int = 0  # most guest-like processes not ours listed
    # what a cycle got wrong in its sensors, GPUs or miners -> cycles
    device_faults: collections.Counter = dataclasses.field(
        default_factory=collections.Counter)

    @classmethod
    def merged(cls, runs: list['Timings']) -> 'Timings':
        """The cycles of all ``runs`` together."""
        merged = cls()
        for run in runs:
            merged.cpu_ms += run.cpu_ms
            merged.wall_ms += run.wall_ms
            merged.instance_counts += run.instance_counts
            merged.wrong_cycles += run.wrong_cycles
            merged.unknown_guests = max(merged.unknown_guests,
                                        run.unknown_guests)
            merged.device_faults += run.device_faults
        return merged


@dataclasses.dataclass(frozen=True)
class Measured:
    """One variant's cycles and the RSS of its process."""

    timings: Timings
    rss_after_warmup_mb: float
    rss_mb: float
    sources: tuple[str, ...] = ()  # what each source read
    foreign_modules: tuple[str, ...] = ()  # of FOREIGN_MODULES, imported
    miner_cpu_ms: float | None = None  # the miners' process, per cycle
    redfish_cpu_ms: float | None = None  # the redfish thread, per cycle


def device_faults(wire: dict, job: Job) -> list[str]:
    """What the sample got wrong about the sensors, GPUs and miners."""
    faults = []
    sources = job.variant.sources
    if 'sensors' in sources and None in (wire['sensors'][name] for name in
                                         SENSORS_SOURCE_FIELDS):
        faults.append(f'sensors incomplete: {wire["sensors"]}')
    if 'gpu' in sources:
        gpus = wire['gpus']
        if len(gpus) != job.gpus:
            faults.append(f'{len(gpus)} GPUs instead of {job.gpus}')
        if any(g['utilization_percent'] is None for g in gpus):
            faults.append('GPUs without readings')
        owners = [[u] for _, u in job.gpu_guests]
        if [g['instances'] for g in gpus] != (
                owners + [[]] * (len(gpus) - len(owners)))[:len(gpus)]:
            faults.append('GPUs not listing the guests they run')
    if 'redfish' in sources:
        read = sum(g['source'] == 'redfish' and g['temperature_c'] is not
                   None for g in wire['gpus'])
        power = wire['sensors']['chassis_power_w']
        if read != job.gpus or power is None:
            faults.append(f'{read} of {job.gpus} GPUs read over Redfish, '
                          f'chassis power {power}')
    if 'asic' in sources:
        asics = wire['asics']
        available = sum(a['available'] and a['hashrate_5s_ghs'] is not None
                        for a in asics)
        if len(asics) != len(job.miners) or available != len(asics):
            faults.append(f'{available} of {len(asics)} miners read, '
                          f'{len(job.miners)} configured')
    return faults


def measure_cycles(runner: CycleRunner, count: int, pause: float,
                   job: Job) -> Timings:
    """Run ``count`` cycles, timing each and checking what it listed."""
    timings = Timings()
    for _ in range(count):
        cpu, wall = time.process_time(), time.perf_counter()
        envelope = runner.cycle()
        timings.cpu_ms.append(1000 * (time.process_time() - cpu))
        timings.wall_ms.append(1000 * (time.perf_counter() - wall))
        wire = signing.opened(envelope)
        listed = {i['uuid'] for i in wire['instances']}
        timings.instance_counts.append(len(listed))
        timings.wrong_cycles += listed != job.guests
        timings.unknown_guests = max(timings.unknown_guests,
                                     len(listed - job.guests))
        timings.device_faults.update(device_faults(wire, job))
        time.sleep(pause)
    return timings


def process_cpu_s(pid: int | None) -> float:
    """CPU seconds used so far by process ``pid`` and its threads."""
    if pid is None:
        return 0.0
    return sum(psutil.Process(pid).cpu_times()[:2])


def run_variant(job: Job) -> Measured:
    """Build the variant's collector and measure it (in a child process)."""
    _common.quiet_logging()
    conf = _common.build_conf(
        {'collector': {'sources': list(job.variant.sources),
                       'miners': list(job.miners)},
         'redfish': {'url': job.bmc_url, 'interval': REDFISH_INTERVAL}})
    transport = oslo_messaging.get_notification_transport(conf, url=job.url)
    with contextlib.ExitStack() as stack:
        stack.callback(transport.cleanup)
        sources, described = load_sources(conf, job, stack)
        runner = CycleRunner(conf, transport, sources, job.variant.publish,
                             job.url.startswith('fake:'))
        stack.callback(runner.close)
        measure_cycles(runner, job.warmup, job.pause, job)
        rss_after_warmup = _common.rss_mb()
        miner_cpu = process_cpu_s(job.miner_pid)
        redfish_cpu = _common.cpu_by_thread().get('redfish', 0.0)
        with _common.profiled(job.profile, job.variant.label):
            timings = measure_cycles(runner, job.cycles, job.pause, job)
        miner_cpu = process_cpu_s(job.miner_pid) - miner_cpu
        redfish_cpu = (_common.cpu_by_thread().get('redfish', 0.0)
                       - redfish_cpu)
        foreign = tuple(m for m in FOREIGN_MODULES
                        if sys.modules.get(m) is not None)
        return Measured(
            timings, rss_after_warmup, _common.rss_mb(), tuple(described),
            foreign,
            1000 * miner_cpu / job.cycles if job.miner_pid else None,
            (1000 * redfish_cpu / job.cycles
             if 'redfish' in job.variant.sources else None))


#: A compute host's collector configuration, for :func:`daemon_rss_mb`.
DAEMON_CONF = """[DEFAULT]
transport_url = {url}
[collector]
sources = host,instances
interval = {pause}
jitter = 0
nova_config_files =
[messaging]
master_secret = {secret}
"""


def _log_text(path: str) -> str:
    with open(path, errors='replace') as log:
        return log.read()


def daemon_rss_mb(url: str, cycles: int, pause: float) -> tuple[float, int]:
    """Peak RSS of ``cryptomine-collector`` (host and instances sources)
    run as a compute host runs it, for ``cycles`` intervals of ``pause``
    seconds publishing to ``url``, then stopped with SIGTERM; and the
    samples it took.  Without this script's modules and fakes."""
    with tempfile.TemporaryDirectory(prefix='collector-cost-') as folder:
        path = os.path.join(folder, 'collector.conf')
        with open(path, 'w') as config:
            config.write(DAEMON_CONF.format(url=url, pause=pause,
                                            secret=_common.SECRET))
        log = os.path.join(folder, 'collector.log')
        with open(log, 'wb') as output:  # oslo.log writes to stdout
            process = psutil.Popen(
                [sys.executable, '-m', 'load_collector.launch',
                 '--config-file', path],
                stdout=output, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 120
            while (process.poll() is None and time.monotonic() < deadline
                   and 'starting, first seq' not in _log_text(log)):
                time.sleep(0.1)
            peak, stop = 0.0, time.monotonic() + cycles * pause
            while process.poll() is None and time.monotonic() < stop:
                with contextlib.suppress(psutil.NoSuchProcess):
                    peak = max(peak,
                               process.memory_info().rss / _common.MIB)
                time.sleep(pause)
            process.terminate()
            returncode = process.wait(60)
        text = _log_text(log)
    sampled = re.search(r'sampled=(\d+)', text)
    if returncode or not sampled:
        raise RuntimeError(f'cryptomine-collector failed (exit status '
                           f'{returncode}): {text[-2000:]}')
    return peak, int(sampled.group(1))


def run_in_child(job: Job) -> Measured:
    """Run one variant in a fresh interpreter, as a collector would be."""
    context = multiprocessing.get_context('spawn')
    with concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=context) as pool:
        return pool.submit(run_variant, job).result()


# -- report -------------------------------------------------------------


def report(variant: Variant, measured: Measured) -> None:
    cpu, wall = measured.timings.cpu_ms, measured.timings.wall_ms
    print(f'  {variant.label:<38} CPU {statistics.mean(cpu):6.2f} ms '
          f'(median {statistics.median(cpu):5.2f}, max {max(cpu):5.2f})  '
          f'wall {statistics.mean(wall):6.2f} ms  RSS '
          f'{measured.rss_mb:5.1f} MiB')
    if 'gpu' in variant.sources or 'asic' in variant.sources:
        for description in measured.sources:
            print(f'      {description}')
    if measured.redfish_cpu_ms is not None:
        print(f'      the redfish thread (a read every {REDFISH_INTERVAL:g} '
              f's) used {measured.redfish_cpu_ms:.2f} ms CPU per cycle, '
              f'counted above only where it ran during a cycle')
    if measured.miner_cpu_ms is not None:
        print(f'      the miner servers\' process used '
              f'{measured.miner_cpu_ms:.2f} ms CPU per cycle (not counted '
              f'above)')
    if measured.foreign_modules:
        print(f'      WARNING: the collector process imported '
              f'{", ".join(measured.foreign_modules)}; its RSS is not a '
              f'real collector\'s')


def guests_listed_exactly(timings: Timings, expected: int) -> bool:
    """Print whether every cycle listed exactly the spawned guests."""
    ok = timings.wrong_cycles == 0
    counts = sorted(set(timings.instance_counts))
    print(f'{"PASS" if ok else "FAIL"}  each of '
          f'{len(timings.instance_counts)} cycles listed exactly the '
          f'{expected} guests (instance counts seen: {counts})')
    if not ok:
        print(f'      {timings.wrong_cycles} cycles differ; up to '
              f'{timings.unknown_guests} guest-like processes not ours '
              f'were listed (other qemu processes on this machine?)')
    return ok


def devices_read(variant: Variant, timings: Timings, job: Job) -> bool:
    """Print whether every cycle read the sensors, GPUs and miners."""
    faults = timings.device_faults
    cycles = len(timings.cpu_ms)
    print(f'{"FAIL" if faults else "PASS"}  {variant.label}: each of '
          f'{cycles} cycles read the sensors, {job.gpus} GPUs and '
          f'{len(job.miners)} miners')
    for fault, count in faults.most_common():
        print(f'      {count} cycles: {fault}')
    return not faults


def imports_clean(measured: list[Measured]) -> bool:
    """Print whether no collector child imported a FOREIGN_MODULES one."""
    foreign = sorted({m for v in measured for m in v.foreign_modules})
    ok = not foreign
    print(f'{"PASS" if ok else "FAIL"}  no collector process imported '
          f'{" or ".join(FOREIGN_MODULES)}'
          + ('' if ok else f' (imported: {", ".join(foreign)})'))
    return ok


def median_run(runs: list[Measured]) -> Measured:
    """The run of median mean CPU time (the upper one of an even count)."""
    return sorted(runs, key=lambda m: statistics.mean(m.timings.cpu_ms))[
        len(runs) // 2]


def spread(runs: list[Measured]) -> str:
    """Min/median/max over the runs of mean CPU time and of RSS."""
    cpu = [statistics.mean(m.timings.cpu_ms) for m in runs]
    rss = [m.rss_mb for m in runs]
    return (f'CPU {min(cpu):.2f}/{statistics.median(cpu):.2f}/{max(cpu):.2f}'
            f' ms, RSS {min(rss):.1f}/{statistics.median(rss):.1f}/'
            f'{max(rss):.1f} MiB (min/median/max of {len(runs)} runs)')


def baseline_ratios(runs: list[Measured], baseline: list[Measured]) -> str:
    """Min/median/max over the runs of mean CPU time as a multiple of the
    baseline's in the same run: on a busy machine both slow down."""
    ratios = [statistics.mean(m.timings.cpu_ms)
              / statistics.mean(b.timings.cpu_ms)
              for m, b in zip(runs, baseline, strict=True)]
    return (f'{min(ratios):.1f}/{statistics.median(ratios):.1f}/'
            f'{max(ratios):.1f} times the baseline\'s CPU in the same run')


def check_budget(variant: Variant, runs: list[Measured],
                 baseline: list[Measured],
                 daemon_rss: list[float]) -> list[bool]:
    """Print one variant's PASS/FAIL lines on its targets; return them.

    The targets apply to the run of median CPU time, the RSS target to
    the median of ``daemon_rss`` where measured.
    """
    measured = median_run(runs)
    growth = measured.rss_mb - measured.rss_after_warmup_mb
    print(f'{variant.label} ({" + ".join(variant.sources)}):')
    print(f'      {spread(runs)}')
    print(f'      {baseline_ratios(runs, baseline)}')
    print(f'      RSS after warm-up {measured.rss_after_warmup_mb:.1f} MiB, '
          f'+{growth:.1f} MiB over the measured cycles')
    results = [_common.check('collector CPU per cycle (mean)',
                             statistics.mean(measured.timings.cpu_ms),
                             variant.cpu_target_ms, 'ms',
                             higher_is_better=False)]
    if variant.rss_target_mb is not None and daemon_rss:
        results.append(_common.check(
            'cryptomine-collector process RSS (peak, median run)',
            statistics.median(daemon_rss), variant.rss_target_mb, 'MiB',
            higher_is_better=False))
    elif variant.rss_target_mb is not None:
        results.append(_common.check(
            'collector RSS after the run', measured.rss_mb,
            variant.rss_target_mb, 'MiB', higher_is_better=False))
    return results


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--instances', type=int, default=200,
                        help='guest processes to spawn')
    parser.add_argument('--cycles', type=int, default=50,
                        help='measured cycles per variant')
    parser.add_argument('--runs', type=int, default=1,
                        help='times each variant is measured, each in a '
                             'fresh process; the targets apply to the '
                             'median run')
    parser.add_argument('--warmup', type=int, default=1,
                        help='cycles run before measuring (the first one '
                             'discovers the guests)')
    parser.add_argument('--pause', type=float, default=0.1,
                        help='seconds between two cycles')
    parser.add_argument('--transport-url', default='fake:/',
                        help='where the full cycles publish (fake:/ is '
                             'in-process; a rabbit:// URL measures real '
                             'publishing, and the collector process '
                             'whose RSS is checked publishes there too '
                             'instead of to a private broker)')
    parser.add_argument('--rabbit', action='store_true',
                        help='publish the full cycles to a private '
                             'RabbitMQ broker started for the run, as '
                             'a rabbit:// --transport-url does')
    parser.add_argument('--mining', action=argparse.BooleanOptionalAction,
                        default=True,
                        help='also measure the mining-host variants')
    parser.add_argument('--gpus', type=int, default=8,
                        help='FakeNvml GPUs of the mining host')
    parser.add_argument('--miners', type=int, default=20,
                        help='FakeMiner servers the mining host polls')
    parser.add_argument('--miner-flavour', default='antminer-s19',
                        help='firmware the FakeMiners imitate')
    parser.add_argument('--profile', action='store_true',
                        help='cProfile the measured cycles (slows them '
                             'down)')
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error('--runs must be 1 or more')
    if args.rabbit and args.transport_url != 'fake:/':
        parser.error('--rabbit and --transport-url exclude each other')
    if args.mining and (args.gpus < 1 or args.miners < 1):
        parser.error('a mining host needs --gpus and --miners of 1 or more')
    return args


def variant_jobs(args, guests: dict[str, int], miners: tuple[str, ...],
                 miner_pid: int | None, bmc_url: str | None
                 ) -> dict[Variant, Job]:
    """The job of every variant to measure, in order."""
    url, jobs = args.transport_url, {}
    for variant in VARIANTS + (MINING_VARIANTS if args.mining else ()):
        listed = 'instances' in variant.sources
        mining = dict(gpus=args.gpus, miners=miners, miner_pid=miner_pid,
                      bmc_url=bmc_url,
                      gpu_guests=tuple((pid, u) for u, pid in list(
                          guests.items())[:args.gpus] if listed))
        jobs[variant] = Job(
            variant, frozenset(guests) if listed else frozenset(), url,
            args.warmup, args.cycles, args.pause, args.profile,
            **(mining if variant in MINING_VARIANTS else {}))
    return jobs


def measure_variants(args, jobs: dict[Variant, Job]
                     ) -> dict[Variant, list[Measured]]:
    """Measure every variant ``args.runs`` times, each run in a child
    process of its own, the variants taking turns."""
    url = args.transport_url
    print(f'{args.cycles} cycles per variant after {args.warmup} warm-up, '
          f'{args.pause:g} s apart; full cycles publish to '
          f'{url.split("@")[-1]}')
    _common.heading('Collector cycle cost, one child process per variant '
                    'and run')
    measured = {variant: [] for variant in jobs}
    for run in range(1, args.runs + 1):
        if args.runs > 1:
            print(f'run {run} of {args.runs}:')
        for variant, job in jobs.items():
            measured[variant].append(run_in_child(job))
            report(variant, measured[variant][-1])
    return measured


@contextlib.contextmanager
def rabbit_url(url: str) -> Iterator[str | None]:
    """``url`` if it is RabbitMQ's, else that of a private broker
    started for the while; None where RabbitMQ is not installed."""
    if url.startswith('rabbit'):
        yield url
        return
    rabbit = load_test_module('rabbit')
    broker = rabbit.RabbitBroker()
    try:
        broker.setUp()
    except rabbit.RabbitUnavailable as exc:
        print(f'  no RabbitMQ: {exc}')
        yield None
        return
    try:
        print('  publishing to a private RabbitMQ broker')
        yield broker.url
    finally:
        broker.cleanUp()


def measure_daemon(args) -> list[float]:
    """Peak RSS of a ``cryptomine-collector`` process, ``args.runs``
    times, publishing to RabbitMQ (:func:`rabbit_url`); [] without."""
    _common.heading('cryptomine-collector, a process of its own')
    cycles = args.warmup + args.cycles
    with rabbit_url(args.transport_url) as url:
        if url is None:
            print('  the RSS target applies to a collector child instead')
            return []
        runs = [daemon_rss_mb(url, cycles, args.pause)
                for _ in range(args.runs)]
    print(f'  host + instances, run until SIGTERM: peak RSS '
          f'{", ".join(f"{p:.1f}" for p, _ in runs)} MiB over '
          f'{", ".join(str(n) for _, n in runs)} cycles published')
    return [peak for peak, _ in runs]


def check_all(jobs: dict[Variant, Job],
              measured: dict[Variant, list[Measured]], guests: int,
              daemon_rss: list[float]) -> list[bool]:
    """Print every PASS/FAIL line; return the results."""
    _common.heading('Targets')
    results = []
    for variant, job in jobs.items():
        if variant.cpu_target_ms is None:
            continue
        results += check_budget(variant, measured[variant],
                                measured[VARIANTS[0]], daemon_rss)
        timings = Timings.merged([run.timings for run in measured[variant]])
        if 'instances' in variant.sources:
            results.append(guests_listed_exactly(timings, guests))
        if variant in MINING_VARIANTS:
            results.append(devices_read(variant, timings, job))
    results.append(imports_clean(
        [m for runs in measured.values() for m in runs]))
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    _common.quiet_logging()
    _common.describe_machine()
    with contextlib.ExitStack() as stack:
        if args.rabbit:
            args.transport_url = stack.enter_context(
                rabbit_url(args.transport_url))
            if args.transport_url is None:
                print('--rabbit needs RabbitMQ (Debian\'s rabbitmq-server)')
                return 1
        started = time.perf_counter()
        guests = stack.enter_context(running_guests(args.instances))
        print(f'{len(guests)} guest processes ready in '
              f'{time.perf_counter() - started:.1f} s')
        miners, miner_pid, bmc_url = (), None, None
        if args.mining:
            bmc_url = stack.enter_context(running_bmc(args.gpus)).url
            started = time.perf_counter()
            miners, miner_pid = stack.enter_context(
                running_miners(args.miners, args.miner_flavour))
            print(f'{len(miners)} {args.miner_flavour} miner servers ready '
                  f'in {time.perf_counter() - started:.1f} s (process '
                  f'{miner_pid})')
        jobs = variant_jobs(args, guests, miners, miner_pid, bmc_url)
        measured = measure_variants(args, jobs)
        daemon_rss = measure_daemon(args)
    return _common.verdict(check_all(jobs, measured, len(guests),
                                     daemon_rss))


if __name__ == '__main__':
    sys.exit(main())
