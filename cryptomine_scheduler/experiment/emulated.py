"""The emulated testbed: an experiment on nova in this process.

nova's functional-test fixtures (:mod:`.nova_in_process`) run its API,
conductor, scheduler (with our filter and weigher unless the policy is
``nova-spread``), placement and one nova-compute per fake host with
nova's fake virt driver; the real controller runs beside them on the
bus of :attr:`Emulation.transport_url` (RabbitMQ, or ``fake:/`` inside
this process), reads nova through openstacksdk and re-plans as the
set-up says; the trace collector (:mod:`.trace_collector`) stands in
for the guests' load on each fake host.  The runner is the one of real
clouds (:mod:`.runner`): it boots one server per trace VM through
nova's API and tears everything down.  When the players' time is over,
re-planning stops (the running round ends) before nova's migration
records are read, so the record holds every move the controller made.
The trace starts once every server is up, however long the boots
took (``warmup`` plays no part), and so do the re-planning rounds: the
trace starts from the placement of the boots, which ``boot_hosts``
can make an earlier run's.

:func:`run` plays a set-up and returns the report's comparison; the
history is the controller's own, read from its store.
"""

# First: nova's native threads, then nova's tests.
from cryptomine_scheduler.experiment import nova_in_process  # noqa: I001

import dataclasses
import logging
import threading
from collections.abc import Callable

import fixtures
from nova.tests import fixtures as nova_fixtures
from nova.tests.functional import integrated_helpers

from cryptomine_scheduler import sample as sample_mod
from cryptomine_scheduler import service
from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.experiment import controller_beside
from cryptomine_scheduler.experiment import fidelity
from cryptomine_scheduler.experiment import flavors as flavors_mod
from cryptomine_scheduler.experiment import measured
from cryptomine_scheduler.experiment import record as record_mod
from cryptomine_scheduler.experiment import runner as runner_mod
from cryptomine_scheduler.experiment import setup as setup_mod
from cryptomine_scheduler.experiment import trace_collector
from cryptomine_scheduler.experiment import workload
from cryptomine_scheduler.simulator import comparison as comparison_mod
from cryptomine_scheduler.simulator import traces

FILTER = 'cryptomine_scheduler.scheduler.filter.LoadAwareFilter'
WEIGHER = 'cryptomine_scheduler.scheduler.weigher.LoadAwareWeigher'
#: The image every server boots (nova's fake Glance has it).
IMAGE = nova_fixtures.GlanceFixture.image1['id']
#: nova's virt driver of the fake hosts (its size is theirs).
DRIVER = 'fake.FakeDriver'
#: The set-up's cloud of an emulated run.
CLOUD = 'emulated'


@dataclasses.dataclass(frozen=True)
class Emulation:
    """The emulated cloud: ``hosts`` fake hosts of ``vcpus`` CPUs and
    ``memory_mb`` each, the bus of the controller and the scheduler's
    plugin, how often each host is sampled and the servers' hosts read
    from nova (seconds), and the controller's ``[replan] min_gain``."""

    hosts: int = 10
    vcpus: int = 16
    memory_mb: int = 32768
    transport_url: str = 'fake:/'
    sample_interval: float = 1.0
    placement_refresh: float = 2.0
    min_gain: float = 0.07

    def host_names(self) -> tuple[str, ...]:
        return tuple(f'compute{n:02d}' for n in range(1, self.hosts + 1))


@dataclasses.dataclass(frozen=True)
class Outcome:
    """An emulated run: its record, the report's comparison, and the
    moves the controller's plans carried out."""

    record: record_mod.Record
    comparison: comparison_mod.Comparison
    controller_moves: int


class Testbed(controller_beside.ControllerBeside,
              nova_in_process.SDKMixin, nova_in_process.InProcessNova,
              integrated_helpers._IntegratedTestBase):
    """nova, the controller and the fake hosts of ``emulation``, set
    up as ``setup``'s policy says, between :meth:`setUp` and
    :meth:`doCleanups`."""

    ADMIN_API = True
    microversion = 'latest'
    REQUIRES_LOCKING = False

    def __init__(self, emulation: Emulation, setup: setup_mod.Setup):
        super().__init__('runTest')
        self.emulation = emulation
        self.experiment_setup = setup

    def setUp(self):
        super().setUp()
        # nova's fixture formats every DEBUG record (to catch broken
        # ones) and drops it: most of the time of a busy testbed.
        root = logging.getLogger()
        self.addCleanup(root.setLevel, root.level)
        root.setLevel(logging.INFO)

    def runTest(self):
        """Nothing: the run happens between set-up and clean-ups."""

    def _clear_attrs(self):
        # nova deletes every public attribute at the end of a test.
        pass

    def transport_url(self) -> str:
        return self.emulation.transport_url

    def scheduler_plugin_flags(self) -> dict:
        return {'snapshot_ttl': min(1.0, self.emulation.sample_interval)}

    def controller_overrides(self) -> dict:
        """The set-up's; no periodic re-planning until
        :meth:`start_replanning`."""
        policy = self.experiment_setup.policy
        return {
            'controller': {
                'summary_window': max(10, round(policy.summary_window)),
                'ewma_half_life': max(1.0, policy.ewma_half_life)},
            'replan': {'interval': 0, 'dry_run': False,
                       'max_moves': policy.max_moves,
                       'min_gain': self.emulation.min_gain,
                       'migration_poll_interval': 0.2},
            'nova_api': {'device_refresh_interval': 0}}

    def start_replanning(self) -> None:
        """Re-plan every interval from now on, if the policy does."""
        policy = self.experiment_setup.policy
        if policy.policy == 'load-aware-replan':
            replanner = self.controller.replanner
            replanner.conf.set_override(
                'interval', max(1, round(policy.replan_interval)), 'replan')
            replanner.start_rounds()

    def nova_link(self, conf) -> service.NovaLink:
        return service.NovaLink.through(self.connect(), conf)

    def _setup_services(self):
        self.flags(compute_driver=DRIVER)
        # nova's hypervisor view (read by the re-planner) asks each host
        # its uptime, which the fake driver lacks: each refusal would
        # cost an exception notification, seconds a round.
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.fake.FakeDriver.get_host_uptime',
            lambda driver: ' 12:00:00 up 1 day,  0 users,  load average: '
                           '0.00, 0.00, 0.00'))
        if self.experiment_setup.policy.filter_and_weigher:
            self.flags(available_filters=[
                'nova.scheduler.filters.all_filters', FILTER],
                enabled_filters=['ComputeFilter', 'LoadAwareFilter'],
                weight_classes=['nova.scheduler.weights.all_weighers',
                                WEIGHER], group='filter_scheduler')
        super()._setup_services()

    def _setup_compute_service(self):
        e = self.emulation
        for host in e.host_names():
            self.start_fake_compute(host, DRIVER, vcpus=e.vcpus,
                                    memory_mb=e.memory_mb, local_gb=1000)

    def play(self, saver: runner_mod.Saver,
             guests: tuple[workload.Guest, ...],
             mapping: flavors_mod.Mapping, timing: runner_mod.Timing,
             notify: Callable[[str], None]) -> None:
        """The runner's whole run, the trace collector beside it."""
        # The collector's thread has a connection of its own.
        conn = self.connect()
        record = saver.record
        schedules = {g.index: g.schedule for g in guests}
        started = threading.Event()

        def placed() -> list[trace_collector.Placed]:
            # Idle hosts until the trace starts (the boots' start time
            # is in the record meanwhile, as on a real cloud).
            if not started.is_set():
                return []
            ours = {s.id: s.trace_index for s in record.servers() if s.id}
            return [trace_collector.Placed(
                s.id, s.compute_host, schedules[ours[s.id]]._replace(
                    start_at=record.start_at))
                for s in conn.compute.servers(all_projects=True)
                if s.id in ours and s.compute_host]

        e = self.emulation
        collector = trace_collector.TraceCollector(
            tuple(trace_collector.FakeHost(h, e.vcpus, e.memory_mb)
                  for h in e.host_names()),
            placed, self.publisher, self.SECRET, e.sample_interval,
            e.placement_refresh)
        collector.start()
        try:
            _Runner(self, collector, started, self.connect(), saver,
                    guests, mapping, timing, notify=notify).run()
        finally:
            collector.stop()

    def history(self, since: float) -> dict[str, tuple]:
        """Each fake host's ``(time, CPU %)`` samples since ``since``."""
        found = {}
        for host in self.emulation.host_names():
            try:
                found[host] = self.controller.store.history(
                    host, sample_mod.HostMetric.CPU_PERCENT, since,
                    raw_since=since).points
            except store_mod.UnknownHost:  # never sampled
                continue
        return found

    def controller_moves(self) -> int:
        """The moves the controller's plans carried out."""
        plans = self.controller.replanner.plans
        return sum(action['status'] == 'succeeded'
                   for plan in plans.list(limit=1_000_000)
                   for action in plans.get(plan['id'])['actions'])


class _Runner(runner_mod.Runner):
    """The runner, its trace and the re-planning rounds starting once
    every server is up (fake hosts play no user data, so no guest waits
    for a start time; the servers are where they booted when the trace
    starts), and stopping the trace collector and the re-planner when
    the trace is over, before nova's records are read."""

    def __init__(self, bed: Testbed, collector,
                 started: threading.Event, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bed = bed
        self.collector = collector
        self.started = started

    def play(self) -> None:
        self._booted()
        self.record.start_at = self.clock()
        self.saver()
        self.started.set()
        self.bed.start_replanning()
        super().play()
        self.collector.stop()
        replanner = self.bed.controller.replanner
        replanner.stop()
        # Past stop's grace (a busy machine), the round still watches its
        # running migrations: nova's records are read once they ended.
        replanner.wait()


TIMING = runner_mod.Timing(poll=0.2)


def run(setup: setup_mod.Setup, trace: traces.Trace,
        mapping: flavors_mod.Mapping, saver: runner_mod.Saver,
        emulation: Emulation = Emulation(),
        timing: runner_mod.Timing = TIMING,
        notify: Callable[[str], None] = runner_mod.LOG.info) -> Outcome:
    """Play ``trace`` (the part ``setup`` plays) on an emulated cloud;
    the record goes to ``saver``."""
    guests = workload.guests(trace, mapping, setup.compression)
    bed = Testbed(emulation, setup)
    try:
        bed.setUp()
        notify(f'emulated cloud: {emulation.hosts} fake hosts')
        bed.play(saver, guests, mapping, timing, notify)
        record = saver.record
        history = bed.history(record.start_at)
        moves = bed.controller_moves()
    finally:
        bed.doCleanups()
    return Outcome(record, fidelity.compare(
        trace, measured.Measurements(record, history)), moves)
