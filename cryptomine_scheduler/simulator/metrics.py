"""The figures that compare runs.

Over the host-steps of hosts that hold at least one instance (*active*):

* ``overload``: the fraction whose CPU load is above the overload
  threshold (like CloudSim's SLATAH, the time active hosts spend at
  100 %, with our filter's threshold by default);
* ``even_overload``: the same fraction had each step's load of the
  active hosts been spread evenly over them (the same share of each
  one's CPUs): every one of them is overloaded in a step whose total
  passes the threshold, none in the others.  That is the least overload
  that balancing reaches; a policy below it got there by piling the
  excess on fewer hosts.  (On a fleet of several kinds of host, where
  not every instance may go everywhere, even balance is out of reach
  and the figure only a reference.)
* ``p95_load`` and ``max_load``: the 95th percentile and the maximum of
  the CPU load (%; above 100 when instances ask for more than the host
  has).

Over all hosts: ``sigma``, the standard deviation of the CPU load across
hosts, step by step (its mean over the run in the table).  On a fleet of
several kinds of host, ``sigma_cpu_hosts``, ``sigma_gpu_hosts`` and
``sigma_asic_hosts`` are the same over the hosts of each kind alone
(None where the fleet has one kind, or none of that kind): CPU tenants
kept off the accelerator hosts (``reserve_accelerator_hosts``) leave
their CPU idler than the CPU hosts', which the fleet-wide figure counts
as imbalance.  And
``migrations``, ``migrated_gb`` (flavor memory moved),
``cold_migrations`` (those of them that stopped their guest), the failed
boots
(see :mod:`.engine`): ``no_room_boots`` (placement had no room) and
``refused_boots`` (the policy's filter refused every host with room),
``refused_migrations`` (planned moves nova would refuse: no room at the
destination; for Watcher's audits also a guest that cannot
live-migrate or is moving, or a host of another kind:
:func:`.watcher.apply`), the planning time (re-plans and Watcher audits)
in total and per round, and the run's wall time.

Over the burst hosts (None when the fleet has none):

* ``burst_host_hours``: the hours burst hosts were rented, that is held
  an instance or had held one less than ``release_after`` before (the
  release rule of the controller's burst loop, counted for every
  policy, so that a policy that never releases does not pay for it and
  the figures compare placement alone);
* ``burst_cost``: those hours at each host's cost an hour;
* ``overload_host_hours``: the hours hosts spent overloaded (the
  overload time that ``overload`` shares out over the active hosts).

Over the devices instances hold (None when they hold none):

* ``gpu_hot``: the fraction of GPU instance-time spent on a GPU under
  the filter's thermal headroom;
* ``gpu_throttle_lost``: the share of the GPU instances' hashrate lost
  to throttling, by heat or by a BMC's power cap (and to cold
  migrations' downtime),
  ``sum(work * (1 - delivered)) / sum(work)`` over the held GPU-steps
  (hashrate taken as proportional to utilisation);
* ``asic_lost``: the share of the ASIC instances' baseline hashrate
  lost to sick miners (and to cold migrations' downtime),
  ``sum(1 - hashrate ratio)`` over the held miner-steps divided by their
  number (a dead miner loses it all).

With ``max_chassis_power_w`` set, over the host-steps of the hosts whose
chassis power is read (a GPU host with ``chassis_base_w``; None without):

* ``power_over``: the share spent drawing more than that budget.
"""

import dataclasses
import math

import numpy as np

from cryptomine_scheduler.simulator import engine


@dataclasses.dataclass(frozen=True)
class Figures:
    """One run's figures (module docstring); loads in %."""

    policy: str
    overload: float
    even_overload: float
    p95_load: float
    max_load: float
    mean_sigma: float
    sigma_cpu_hosts: float | None
    sigma_gpu_hosts: float | None
    sigma_asic_hosts: float | None
    migrations: int
    migrated_gb: float
    cold_migrations: int
    boots: int
    no_room_boots: int
    refused_boots: int
    refused_migrations: int
    burst_host_hours: float | None
    burst_cost: float | None
    overload_host_hours: float | None
    gpu_hot: float | None
    gpu_throttle_lost: float | None
    asic_lost: float | None
    power_over: float | None
    plans: int
    planning_seconds: float
    seconds_per_plan: float
    run_seconds: float

    #: Fields that depend on the machine, not on the simulation.
    TIMINGS = ('planning_seconds', 'seconds_per_plan', 'run_seconds')

    def outcome(self) -> dict:
        """The figures the simulation determines (no timings)."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in self.TIMINGS}


def sigma(run: engine.Run) -> np.ndarray:
    """(T,) standard deviation of the hosts' CPU load (%), per step."""
    return run.cpu.std(axis=1) * 100.0


def sigma_by_kind(run: engine.Run) -> dict[str, float]:
    """The mean over the run of each step's standard deviation of the
    CPU load (%) over the hosts of each kind, on a fleet of several
    kinds; empty on a fleet of one."""
    kinds = np.array(run.kinds)
    present = dict.fromkeys(run.kinds)
    if len(present) < 2:
        return {}
    return {kind: float(run.cpu[:, kinds == kind].std(axis=1).mean() * 100.0)
            for kind in present}


def even_overload(run: engine.Run, overload_percent: float) -> float:
    """The overload of ``run`` had each step's load been spread evenly
    over its active hosts (module docstring)."""
    active = run.active.sum(axis=1)
    if not active.any():
        return 0.0
    cpus = run.active * run.vcpus
    with np.errstate(invalid='ignore'):
        load = (run.cpu * cpus).sum(axis=1) / cpus.sum(axis=1)
    return float(active[load * 100.0 > overload_percent].sum()
                 / active.sum())


def _share(part: float, whole: float) -> float | None:
    return float(part / whole) if whole else None


def rented(run: engine.Run, release_after: float) -> np.ndarray:
    """(T, H) whether each burst host was rented in each step: it held
    an instance within the last ``release_after`` seconds."""
    steps = math.ceil(release_after / run.step)
    held = np.cumsum(run.active, axis=0)
    before = np.zeros_like(held)
    before[steps + 1:] = held[:-steps - 1]
    return (held > before) & ~np.isnan(run.cost_per_hour)


def _burst(run: engine.Run, release_after: float,
           overloaded: int) -> tuple[float | None, ...]:
    """The burst host-hours, their cost and the overload host-hours
    (of ``overloaded`` host-steps); None each without burst hosts."""
    burst = ~np.isnan(run.cost_per_hour)
    if not burst.any():
        return None, None, None
    hours = rented(run, release_after).sum(axis=0) * run.step / 3600.0
    return (float(hours.sum()), float(hours[burst] @ run.cost_per_hour[burst]),
            overloaded * run.step / 3600.0)


def _power_over(run: engine.Run, budget: float) -> float | None:
    """The share of the host-steps whose chassis power is read spent
    over ``budget``; None without a budget or such hosts."""
    read = ~np.isnan(run.chassis_power)
    if budget <= 0 or not read.any():
        return None
    return float((run.chassis_power[read] > budget).sum() / read.sum())


def figures(run: engine.Run, settings: engine.Settings) -> Figures:
    active = run.cpu[run.active] * 100.0
    overloaded = (active > settings.overload_percent).sum()
    held = run.gpu_held
    hot = held & (run.gpu_headroom
                  < settings.thresholds.min_gpu_thermal_headroom_c)
    work = run.gpu_work[held]
    plans = len(run.plan_seconds)
    planning = float(sum(run.plan_seconds))
    burst_hours, burst_cost, overload_hours = _burst(
        run, settings.release_after, overloaded)
    by_kind = sigma_by_kind(run)
    return Figures(
        policy=run.policy,
        overload=float(overloaded / active.size) if active.size else 0.0,
        even_overload=even_overload(run, settings.overload_percent),
        p95_load=float(np.percentile(active, 95)) if active.size else 0.0,
        max_load=float(active.max()) if active.size else 0.0,
        mean_sigma=float(sigma(run).mean()),
        sigma_cpu_hosts=by_kind.get('cpu'),
        sigma_gpu_hosts=by_kind.get('gpu'),
        sigma_asic_hosts=by_kind.get('asic'),
        migrations=len(run.migrations),
        migrated_gb=float(sum(m.memory_mb for m in run.migrations)) / 1024.0,
        cold_migrations=sum(m.cold for m in run.migrations),
        boots=run.boots, no_room_boots=run.no_room_boots,
        refused_boots=run.refused_boots,
        refused_migrations=run.refused_migrations,
        burst_host_hours=burst_hours, burst_cost=burst_cost,
        overload_host_hours=overload_hours,
        gpu_hot=_share(hot.sum(), held.sum()),
        gpu_throttle_lost=_share(
            (work * (1.0 - run.gpu_delivered[held])).sum(), work.sum()),
        power_over=_power_over(run, settings.thresholds.max_chassis_power_w),
        asic_lost=_share((1.0 - run.asic_ratio[run.asic_held]).sum(),
                         run.asic_held.sum()),
        plans=plans, planning_seconds=planning,
        seconds_per_plan=planning / plans if plans else 0.0,
        run_seconds=run.seconds)
