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

A re-planning run can have a control: the trace is first played on the
boots' placement with re-planning off (the ``load-aware`` policy, which
moves nothing), then, once the fake hosts have idled long enough for
the controller's summaries to forget that play, played again with it
on.  Both plays start from the very same placement, so the difference
between their reports is re-planning's alone.

:func:`run` plays a set-up and returns the report's comparison; the
history is the controller's own, read from its store.
"""

# First: nova's native threads, then nova's tests.
from cryptomine_scheduler.experiment import nova_in_process  # noqa: I001

import dataclasses
import logging
import math
import time
from collections.abc import Callable

import fixtures
from nova.tests import fixtures as nova_fixtures
from nova.tests.functional import integrated_helpers

from cryptomine_scheduler.telemetry import sample as sample_mod
from cryptomine_scheduler.control import service
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
    plugin, how often each host is sampled (seconds), and the
    controller's ``[replan] min_gain``."""

    hosts: int = 10
    vcpus: int = 16
    memory_mb: int = 32768
    transport_url: str = 'fake:/'
    sample_interval: float = 1.0
    min_gain: float = 0.07

    def host_names(self) -> tuple[str, ...]:
        return tuple(f'compute{n:02d}' for n in range(1, self.hosts + 1))


@dataclasses.dataclass(frozen=True)
class Outcome:
    """An emulated run: its record, the report's comparison, the moves
    the controller's plans carried out, and the control run's outcome
    where there was one."""

    record: record_mod.Record
    comparison: comparison_mod.Comparison
    controller_moves: int
    control: 'Outcome | None' = None


def control_record(record: record_mod.Record) -> record_mod.Record:
    """The record of ``record``'s control run: the same set-up without
    re-planning.  It creates nothing: once the run is over, it lists
    the re-planning run's resources as that run left them."""
    policy = record.setup.policy
    if policy.policy != 'load-aware-replan':
        raise ValueError(f'a control run is played before a re-planning '
                         f'run, not before {policy.policy!r}')
    return record_mod.Record(
        name=f'{record.name}-control', setup=dataclasses.replace(
            record.setup, policy=dataclasses.replace(
                policy, policy='load-aware')))


class _TraceClock:
    """When the trace being played started (None: none is, the fake
    hosts idle); the runner sets it, the trace collector reads it."""

    start_at: float | None = None


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
            'nova_api': {'device_refresh_interval': 0},
            # No burst tier: no sweeper reading nova beside the rounds.
            'burst': {'check_interval': 0}}

    def interlude(self) -> float:
        """Seconds of idle hosts after which the controller's summaries
        hold nothing of a play: its summary window, five half-lives of
        its EWMA, and two samples."""
        summaries = self.controller_overrides()['controller']
        return (summaries['summary_window'] + 5 * summaries['ewma_half_life']
                + 2 * self.emulation.sample_interval)

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
        # The fake driver keeps a live-migrated guest on its source
        # too; a hypervisor's guest leaves (the trace collector reads
        # where each guest runs from the drivers).
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.fake.FakeDriver.post_live_migration',
            _leave_source))
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
             notify: Callable[[str], None],
             control: runner_mod.Saver | None = None) -> None:
        """The runner's whole run (with its control run first, if
        ``control``), the trace collector beside it."""
        record = saver.record
        schedules = {g.index: g.schedule for g in guests}
        clock = _TraceClock()

        def placed() -> list[trace_collector.Placed]:
            # Idle hosts while no trace plays (the boots' start time is
            # in the record meanwhile, as on a real cloud).  A guest
            # runs where its host's hypervisor (the fake driver) has it,
            # as a collector sees its host's qemu processes: a live
            # migration adds it to the destination's, then removes it
            # from the source's.
            start_at = clock.start_at
            if start_at is None:
                return []
            ours = {s.id: s.trace_index for s in record.servers() if s.id}
            running = {server_id: host
                       for host, compute in sorted(self.computes.items())
                       for server_id in
                       compute.manager.driver.list_instance_uuids()
                       if server_id in ours}
            return [trace_collector.Placed(
                server_id, host, schedules[ours[server_id]]._replace(
                    start_at=start_at))
                for server_id, host in running.items()]

        e = self.emulation
        collector = trace_collector.TraceCollector(
            tuple(trace_collector.FakeHost(h, e.vcpus, e.memory_mb)
                  for h in e.host_names()),
            placed, self.publisher, self.SECRET, e.sample_interval)
        collector.start()
        try:
            _Runner(self, collector, clock, control, self.connect(), saver,
                    guests, mapping, timing, notify=notify).run()
        finally:
            collector.stop()
            if control is not None:
                control.record.resources = list(record.resources)
                control()

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

    def controller_moves(self, since: float,
                         until: float = math.inf) -> int:
        """The moves carried out by the controller's plans made from
        ``since`` until before ``until``."""
        plans = self.controller.replanner.plans
        return sum(action['status'] == 'succeeded'
                   for plan in plans.list(limit=1_000_000)
                   if since <= plan['created_at'] < until
                   for action in plans.get(plan['id'])['actions'])


def _leave_source(driver, context, instance, block_device_info,
                  migrate_data=None) -> None:
    """The end of a live migration on its source host: the guest is
    gone from there."""
    driver.destroy(context, instance, network_info=None,
                   block_device_info=block_device_info)


class _Runner(runner_mod.Runner):
    """The runner, its trace and the re-planning rounds starting once
    every server is up (fake hosts play no user data, so no guest waits
    for a start time; the servers are where they booted when the trace
    starts), after the control run if there is one, and stopping the
    trace collector and the re-planner when the trace is over, before
    nova's records are read."""

    def __init__(self, bed: Testbed, collector, clock: _TraceClock,
                 control: runner_mod.Saver | None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bed = bed
        self.collector = collector
        self.trace_clock = clock
        self.control = control

    def _start_trace(self, saver: runner_mod.Saver) -> None:
        """Start the trace now, as ``saver``'s record's."""
        saver.record.start_at = self.trace_clock.start_at = self.clock()
        saver()

    def _play_control(self) -> None:
        """Play the trace without re-planning, then idle the hosts."""
        control = self.control.record
        control.resources = list(self.record.resources)
        self.notify('control run: re-planning off')
        self._start_trace(self.control)
        self._played(self.control)
        self.trace_clock.start_at = None
        control.migrations = self.nova_migrations()
        self.control()
        pause = self.bed.interlude()
        self.notify(f'control run over: the hosts idle {pause:g} s, '
                    f'until the controller\'s summaries forget it')
        time.sleep(pause)

    def play(self) -> None:
        self._booted()
        if self.control is not None:
            self._play_control()
        self._start_trace(self.saver)
        self.bed.start_replanning()
        self._played(self.saver)
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
        notify: Callable[[str], None] = runner_mod.LOG.info,
        control: runner_mod.Saver | None = None) -> Outcome:
    """Play ``trace`` (the part ``setup`` plays) on an emulated cloud;
    the record goes to ``saver``, and that of the control run played
    first, if any, to ``control`` (see :func:`control_record`)."""
    guests = workload.guests(trace, mapping, setup.compression)
    bed = Testbed(emulation, setup)
    try:
        bed.setUp()
        notify(f'emulated cloud: {emulation.hosts} fake hosts')
        bed.play(saver, guests, mapping, timing, notify, control)
        record = saver.record
        history = bed.history(record.start_at)
        moves = bed.controller_moves(record.start_at)
        if control is not None:
            control_history = bed.history(control.record.start_at)
            control_moves = bed.controller_moves(control.record.start_at,
                                                 record.start_at)
    finally:
        bed.doCleanups()
    return Outcome(
        record, fidelity.compare(
            trace, measured.Measurements(record, history)), moves,
        control and Outcome(control.record, fidelity.compare(
            trace, measured.Measurements(control.record, control_history)),
            control_moves))
