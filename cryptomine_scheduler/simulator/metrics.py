"""The figures that compare runs.

Over the host-steps of hosts that hold at least one instance (*active*):

* ``overload``: the fraction whose CPU load is above the overload
  threshold (like CloudSim's SLATAH, the time active hosts spend at
  100 %, with our filter's threshold by default);
* ``p95_load`` and ``max_load``: the 95th percentile and the maximum of
  the CPU load (%; above 100 when instances ask for more than the host
  has).

Over all hosts: ``sigma``, the standard deviation of the CPU load across
hosts, step by step (its mean over the run in the table).  And
``migrations``, ``migrated_gb`` (flavor memory moved), the failed boots
(see :mod:`.engine`): ``no_room_boots`` (placement had no room) and
``refused_boots`` (the policy's filter refused every host with room),
``refused_migrations`` (planned moves nova would refuse: no room at the
destination), the planning time (re-plans and Watcher audits) in total
and per round, and the run's wall time.

Over the devices instances hold (None when they hold none):

* ``gpu_hot``: the fraction of GPU instance-time spent on a GPU under
  the filter's thermal headroom;
* ``gpu_throttle_lost``: the share of the GPU instances' hashrate lost
  to throttling, ``sum(work * (1 - delivered)) / sum(work)`` over the
  held GPU-steps (hashrate taken as proportional to utilisation);
* ``asic_lost``: the share of the ASIC instances' baseline hashrate
  lost to sick miners, ``sum(1 - hashrate ratio)`` over the held
  miner-steps divided by their number (a dead miner loses it all).
"""

import dataclasses

import numpy as np

from cryptomine_scheduler.simulator import engine


@dataclasses.dataclass(frozen=True)
class Figures:
    """One run's figures (module docstring); loads in %."""

    policy: str
    overload: float
    p95_load: float
    max_load: float
    mean_sigma: float
    migrations: int
    migrated_gb: float
    boots: int
    no_room_boots: int
    refused_boots: int
    refused_migrations: int
    gpu_hot: float | None
    gpu_throttle_lost: float | None
    asic_lost: float | None
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


def _share(part: float, whole: float) -> float | None:
    return float(part / whole) if whole else None


def figures(run: engine.Run, settings: engine.Settings) -> Figures:
    active = run.cpu[run.active] * 100.0
    held = run.gpu_held
    hot = held & (run.gpu_headroom
                  < settings.thresholds.min_gpu_thermal_headroom_c)
    work = run.gpu_work[held]
    plans = len(run.plan_seconds)
    planning = float(sum(run.plan_seconds))
    return Figures(
        policy=run.policy,
        overload=(float((active > settings.overload_percent).mean())
                  if active.size else 0.0),
        p95_load=float(np.percentile(active, 95)) if active.size else 0.0,
        max_load=float(active.max()) if active.size else 0.0,
        mean_sigma=float(sigma(run).mean()),
        migrations=len(run.migrations),
        migrated_gb=float(sum(m.memory_mb for m in run.migrations)) / 1024.0,
        boots=run.boots, no_room_boots=run.no_room_boots,
        refused_boots=run.refused_boots,
        refused_migrations=run.refused_migrations,
        gpu_hot=_share(hot.sum(), held.sum()),
        gpu_throttle_lost=_share(
            (work * (1.0 - run.gpu_delivered[held])).sum(), work.sum()),
        asic_lost=_share((1.0 - run.asic_ratio[run.asic_held]).sum(),
                         run.asic_held.sum()),
        plans=plans, planning_seconds=planning,
        seconds_per_plan=planning / plans if plans else 0.0,
        run_seconds=run.seconds)
