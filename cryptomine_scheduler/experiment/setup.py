"""What an experiment is: its workload, its cloud and its policy set-up,
as the record keeps them."""

import dataclasses

#: The clouds.yaml cloud devstack writes for its administrator.
DEFAULT_CLOUD = 'devstack-admin'


@dataclasses.dataclass(frozen=True)
class PolicySetup:
    """How the cloud places and re-plans, as the experimenter set it up.

    ``policy`` is the simulator's name for it (``nova-spread``: our
    filter and weigher off; ``load-aware``: on, ``[replan] interval =
    0``; ``load-aware-replan``: on and re-planning).  The others are the
    controller's ``[replan] interval`` and ``max_moves``, its
    ``[controller] summary_window`` and ``ewma_half_life``, the
    migration bandwidth (MB/s) of the testbed, and the CPU load (%) a
    host counts as overloaded above.  All are in seconds of the run.
    """

    policy: str = 'load-aware-replan'
    replan_interval: float = 300.0
    max_moves: int = 10
    summary_window: float = 600.0
    ewma_half_life: float = 60.0
    migration_mb_per_s: float = 125.0
    overload_percent: float = 90.0

    @property
    def filter_and_weigher(self) -> bool:
        return self.policy != 'nova-spread'


@dataclasses.dataclass(frozen=True)
class Setup:
    """One experiment's settings.

    The trace's ``compression`` seconds pass in one second of the run;
    ``duration`` is the run's length in (wall) seconds, and the players
    start ``warmup`` seconds after the first boot.  ``network`` is a
    network's name or ID, or ``none`` or ``auto`` as nova takes them.
    ``boot_hosts`` names, by trace VM, the compute host its server asks
    nova for (an earlier run's placement, see
    :meth:`~.record.Record.placement`): two policies then start from
    the same placement, and differ only in what they do after the boots.
    """

    trace: str
    trace_format: str
    mapping: str
    compression: float
    duration: float
    image: str
    network: str
    cloud: str = DEFAULT_CLOUD
    fleet: str | None = None
    instances: int | None = None
    warmup: float = 120.0
    public_key: str | None = None
    boot_hosts: dict[str, str] | None = None
    policy: PolicySetup = PolicySetup()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> 'Setup':
        return cls(**{**data, 'policy': PolicySetup(**data['policy'])})
