"""The planning problem: the placement matrix and the loads, as arrays.

Loads are in absolute units (CPU cores, MiB) so that an instance's load
can be carried from one host to another; a host's *utilisation* of a
resource is its load divided by its physical capacity.  A host's load
not explained by its instances (the hypervisor, other processes) is its
*base* load and stays where it is.

The objective, shared by the heuristic and the exact solver, is the
weighted sum over hosts of the squared deviation of each host's
utilisation from the fleet's mean utilisation, each host weighing as
much as its share of the fleet's capacity (``H`` times the variance
over the fleet's cores: the imbalance), plus a cost per migration
proportional to the instance's memory, less the hashrate it recovers
for a guest whose own device is sick::

    sum_r w_r * sum_h (C_hr / mean_h C_hr) * sq(u_hr - t_r)
      + sum_moved (cost_per_gb * mem_gb_i
                   + device_weight * k_i * (down_i - loss_i))
      + sum_i host_cost[h_i]
      + device_weight * sum_h sum_d p_hd * n_hd ** 2 / c_hd

with ``C_hr`` host ``h``'s capacity of resource ``r``, ``t_r`` the
fleet-wide utilisation of resource ``r`` (constant: moving instances
does not change it) and ``k_i`` the devices instance
``i`` holds (``hold_count``; 1 for one holding none).  ``host_cost`` is
what hosting one instance costs on a host (a rented burst host's: so
instances come home when home has room, and leave home only for a large
gain).  The
last term is the mining one: instances hold ``n_hd`` devices of kind
``d`` (GPU, miner) of the ``c_hd`` on host ``h``, whose devices are
under pressure ``p_hd`` (0: healthy and cool; 1: at the slowdown
temperature, or miners at no hashrate).  Squaring the count spreads the
mining instances by their hosts' health (and ``loss_i``, what instance
``i``'s own device lost, picks which of a host's device guests leaves,
while ``down_i``, the share of the payback horizon a cold migration
keeps it stopped, is what the move costs it, :mod:`.inputs`): a hot
GPU host sheds GPU
instances to cool hosts with free GPUs, fewer each time as it empties.

``sq`` is the square, made piecewise linear (the maximum of its
tangents at every multiple of ``GRID``) so that the exact solver can
use it as it is; it differs
from ``x * x`` by at most ``GRID ** 2 / 4``.  Squaring weighs a host far
from the mean more than two hosts a little off, and leaves the
heuristic a smooth landscape.  Weighing each host by its capacity
makes a move's gain depend on how far apart its two hosts' utilisations
are, whatever their sizes (``2 x (u_a - u_b) - x ** 2 (1 / C_a + 1 /
C_b)`` for ``x`` cores, over the mean capacity): on a fleet of small
and large hosts, a small idle host draws no load that would leave it
busier than the host the load left, and a large hot host sheds as
readily as a small one; on hosts all of one size it changes nothing.
A placement is feasible when
every instance sits on a host of its availability zone that offers its
accelerator, accepts moves (unless it is the instance's current host),
has room for the instance's flavor (within the allocation ratios), has
as many free devices of the kind the instance holds as it holds, stays at
or below the load
limit (or its current load, if already above), and hosts no other
member of the instance's anti-affinity group.
"""

import dataclasses
import enum

import numpy as np

from cryptomine_scheduler.placement.scoring import Accelerator

#: Resources the planner balances, in the columns of the load arrays.
RESOURCES = ('cpu', 'memory')
#: Allocation columns (nova's flavor resources).
ALLOCATIONS = ('vcpus', 'memory_mb')
_ACCELERATOR_BIT = {kind: 1 << i for i, kind in enumerate(Accelerator)}
#: Device kinds an instance may hold, the columns of the device arrays.
DEVICES = (Accelerator.GPU, Accelerator.ASIC)
#: Spacing of the tangents of the piecewise-linear square.
GRID = 0.01
#: Deviations beyond which the square continues along its last tangent.
GRID_RANGE = (-1.0, 4.0)


def tangent_points() -> np.ndarray:
    """Where the piecewise-linear square touches the square."""
    low, high = GRID_RANGE
    return np.arange(round(low / GRID), round(high / GRID) + 1) * GRID


def square(x):
    """The piecewise-linear square: its tangent at the nearest grid point
    (the largest of all the tangents there)."""
    low, high = GRID_RANGE
    a = np.clip(np.round(np.asarray(x) / GRID) * GRID, low, high)
    return a * (2.0 * x - a)


def accelerator_mask(kinds) -> int:
    """The bitmask of a set of accelerator kinds."""
    mask = 0
    for kind in kinds:
        mask |= _ACCELERATOR_BIT[kind]
    return mask


class Pinned(enum.Enum):
    """Why an instance may not move this round."""

    NOT_ACTIVE = 'not active'
    TASK = 'task in progress'
    LOCKED = 'locked'
    NOT_LIVE_MIGRATABLE = 'not live-migratable'
    AFFINITY = 'affinity group'
    COOL_DOWN = 'moved recently'
    NEVER = 'flavor says never move'
    OUTSIDE_WINDOW = 'cold migration outside its windows'
    DOWNTIME_BUDGET = "tenant's cold-migration downtime spent"
    TENANT_MOVES = "tenant's migrations of the day spent"
    FAILED_TODAY = 'its migrations failed today'
    NO_LOAD_DATA = 'no load data for its host'


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one round may do."""

    max_moves: int = 10
    min_gain: float = 0.07
    migration_cost_per_gb: float = 0.0005
    #: Weight of the mining term of the objective.
    device_weight: float = 0.5
    #: Seconds the heuristic may search; it returns the best plan found
    #: when they run out.  The controller passes ``[replan]
    #: planning_budget`` (1 s by default); this default, for the
    #: simulator and the tests, leaves a busy machine room to search as
    #: an idle one would.
    planning_budget: float = 5.0


@dataclasses.dataclass(frozen=True)
class Problem:
    """One round's input.  H hosts, N instances, R resources.

    Arrays are indexed by host (``hosts``) and instance (``instances``)
    position; see the module docstring for the model.
    """

    hosts: tuple[str, ...]
    instances: tuple[str, ...]
    current: np.ndarray          # (N,) int: host index of each instance
    capacity: np.ndarray         # (H, R) physical cores, MiB
    base: np.ndarray             # (H, R) load not from instances
    demand: np.ndarray           # (N, R) predicted load of each instance
    alloc_capacity: np.ndarray   # (H, 2) vcpus and MiB allocatable
    alloc_demand: np.ndarray     # (N, 2) flavor vcpus and MiB
    limit: np.ndarray            # (H, R) utilisation each host may reach
    weights: np.ndarray          # (R,) normalised to sum 1
    zone: np.ndarray             # (H,) int availability zone code
    host_accelerators: np.ndarray  # (H,) int bitmask offered
    wants_accelerator: np.ndarray  # (N,) int bitmask required (0: any)
    accepts_moves: np.ndarray    # (H,) bool
    movable: np.ndarray          # (N,) bool
    move_cost: np.ndarray        # (N,) objective cost of moving it
    #                              (below 0: a guest on a sick device)
    anti_affinity: np.ndarray    # (N,) int group index, -1 for none
    limits: Limits = Limits()
    #: Why each pinned instance is pinned, by instance index.
    pinned: dict[int, Pinned] = dataclasses.field(default_factory=dict)
    #: Mining and tiers (module docstring); None: none of either.
    holds: np.ndarray | None = None          # (N,) DEVICES column, -1
    hold_count: np.ndarray | None = None     # (N,) how many it holds
    device_count: np.ndarray | None = None   # (H, D) devices of each kind
    device_free: np.ndarray | None = None    # (H, D) free under current
    device_pressure: np.ndarray | None = None  # (H, D) 0-1
    host_cost: np.ndarray | None = None      # (H,) per instance hosted

    def __post_init__(self):
        n, h, d = len(self.instances), len(self.hosts), len(DEVICES)
        for name, value in (('holds', np.full(n, -1, dtype=np.int64)),
                            ('hold_count', np.ones(n)),
                            ('device_count', np.zeros((h, d))),
                            ('device_free', np.zeros((h, d))),
                            ('device_pressure', np.zeros((h, d))),
                            ('host_cost', np.zeros(h))):
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    @property
    def memory_gb(self) -> np.ndarray:
        return self.alloc_demand[:, 1] / 1024.0

    def load(self, placement: np.ndarray,
             among: np.ndarray | None = None) -> np.ndarray:
        """(H, R) load of every host under ``placement``, of the
        instances ``among`` (a mask; None: all) and the base load."""
        sel = slice(None) if among is None else among
        load = self.base.copy()
        for r in range(load.shape[1]):
            load[:, r] += np.bincount(placement[sel], self.demand[sel, r],
                                      minlength=len(self.hosts))
        return load

    def allocated(self, placement: np.ndarray,
                  among: np.ndarray | None = None) -> np.ndarray:
        """(H, 2) flavor resources allocated on every host to the
        instances ``among`` (a mask; None: all)."""
        sel = slice(None) if among is None else among
        return np.stack(
            [np.bincount(placement[sel], self.alloc_demand[sel, k],
                         minlength=len(self.hosts))
             for k in range(self.alloc_demand.shape[1])], axis=1)

    def held(self, placement: np.ndarray,
             among: np.ndarray | None = None) -> np.ndarray:
        """(H, D) devices of each kind held by the instances ``among`` (a
        mask; None: all), by host."""
        held = np.zeros((len(self.hosts), len(DEVICES)))
        holding = self.holds >= 0
        if among is not None:
            holding &= among
        np.add.at(held, (placement[holding], self.holds[holding]),
                  self.hold_count[holding])
        return held

    def device_cost(self, held: np.ndarray) -> float:
        """The mining term for ``held`` devices (module docstring)."""
        return self.limits.device_weight * float(
            (self.device_pressure * held * held
             / np.maximum(self.device_count, 1.0)).sum())

    def device_room(self) -> np.ndarray:
        """(H, D) how many devices of each kind each host may hold."""
        return self.held(self.current) + self.device_free

    def host_weights(self) -> np.ndarray:
        """(H, R) each host's weight in the imbalance: the resource's
        weight times the host's capacity over the fleet's mean host's."""
        return self.weights * self.capacity / np.maximum(
            self.capacity.mean(0), 1e-9)

    def target(self) -> np.ndarray:
        """(R,) the fleet-wide utilisation every host is steered to."""
        total = self.base.sum(0) + self.demand.sum(0)
        return total / np.maximum(self.capacity.sum(0), 1e-9)

    def load_ceiling(self) -> np.ndarray:
        """(H, R) the utilisation each host may have after the round."""
        current = self.load(self.current) / self.capacity
        return np.maximum(self.limit, current)

    def alloc_ceiling(self) -> np.ndarray:
        """(H, 2) the allocation each host may have after the round."""
        return np.maximum(self.alloc_capacity, self.allocated(self.current))

    def objective(self, placement: np.ndarray) -> float:
        """The value the planner minimises (module docstring)."""
        deviation = self.load(placement) / self.capacity - self.target()
        imbalance = float((square(deviation) * self.host_weights()).sum())
        moved = placement != self.current
        return (imbalance + float(self.move_cost[moved].sum())
                + float(self.host_cost[placement].sum())
                + self.device_cost(self.held(placement)))
