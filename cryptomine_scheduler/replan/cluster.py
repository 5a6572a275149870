"""The cluster as the re-planner sees it: hosts, servers, server groups.

Plain typed records with no nova imports.  :mod:`.nova_inventory` fills
them from nova's API through openstacksdk; the simulator fills them from
a fleet file.  :mod:`.planning.problem` joins them with the load snapshot.
"""

import dataclasses
import enum

from cryptomine_scheduler.placement import aggregate_thresholds
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.placement import tiers
from cryptomine_scheduler.placement.scoring import Accelerator


class GroupPolicy(enum.Enum):
    """nova's server group policies."""

    AFFINITY = 'affinity'
    ANTI_AFFINITY = 'anti-affinity'
    SOFT_AFFINITY = 'soft-affinity'
    SOFT_ANTI_AFFINITY = 'soft-anti-affinity'


@dataclasses.dataclass(frozen=True)
class ComputeHost:
    """A nova compute host and what it can hold.

    ``vcpus`` and ``memory_mb`` are physical; placement allows
    ``vcpus * cpu_allocation_ratio`` (and the same for memory) to be
    allocated.  ``accepts_moves`` is False for a disabled or down compute
    service: such a host may lose instances but never gains any.
    ``accelerators`` is None when nova does not say (the planner then
    uses what the host's load samples report).  ``burst_cost_per_hour``
    is what a rented burst host costs an hour (aggregate properties
    ``cryptomine:tier = burst`` and ``cryptomine:cost_per_hour``); None
    for a host of the operator's own.  ``threshold_values`` are its
    aggregates' ``cryptomine_<threshold>`` metadata, (key, value) pairs
    (:mod:`~cryptomine_scheduler.placement.aggregate_thresholds`).
    """

    name: str
    vcpus: int
    memory_mb: int
    cpu_allocation_ratio: float = 1.0
    ram_allocation_ratio: float = 1.0
    availability_zone: str = 'nova'
    aggregates: frozenset[str] = frozenset()
    accepts_moves: bool = True
    accelerators: frozenset[Accelerator] | None = None
    burst_cost_per_hour: float | None = None
    threshold_values: tuple[tuple[str, str], ...] = ()

    def thresholds(self, defaults: scoring.Thresholds
                   ) -> scoring.Thresholds:
        """``defaults`` as its aggregates override them."""
        if not self.threshold_values:
            return defaults
        return aggregate_thresholds.thresholds(
            defaults, lambda key: [v for k, v in self.threshold_values
                                   if k == key], self.name)

    @property
    def tier(self) -> tiers.Tier:
        """Burst with a cost (0 when its aggregates give none), home
        without."""
        return tiers.tier_of(self.burst_cost_per_hour)


class MigrationMode(enum.Enum):
    """How a flavor lets the re-planner move its instances
    (``cryptomine:migration``)."""

    LIVE = 'live'
    COLD = 'cold'
    NEVER = 'never'


@dataclasses.dataclass(frozen=True)
class Server:
    """A nova instance.

    ``status`` and ``task_state`` are nova's; ``accelerator`` is the
    flavor's ``cryptomine:accelerator`` extra spec and ``devices`` how
    many of that kind it holds (:mod:`.flavor_devices`); ``live_migratable``
    is False for instances with PCI passthrough devices; ``migration``
    the flavor's ``cryptomine:migration``: the operator's word, over
    ``live_migratable`` (None: as nova allows); ``project`` its tenant.
    """

    uuid: str
    name: str
    host: str
    vcpus: int
    memory_mb: int
    status: str = 'ACTIVE'
    task_state: str | None = None
    locked: bool = False
    accelerator: Accelerator | None = None
    devices: int = 1
    live_migratable: bool = True
    migration: MigrationMode | None = None
    project: str | None = None

    @property
    def moves_cold(self) -> bool:
        """Whether a move of this instance is a cold migration."""
        if self.migration is None:
            return not self.live_migratable
        return self.migration is MigrationMode.COLD


@dataclasses.dataclass(frozen=True)
class ServerGroup:
    """A nova server group and the UUIDs of its members."""

    id: str
    name: str
    policy: GroupPolicy
    members: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Cluster:
    """Everything the planner needs to know about nova's side."""

    hosts: tuple[ComputeHost, ...]
    servers: tuple[Server, ...]
    groups: tuple[ServerGroup, ...] = ()
