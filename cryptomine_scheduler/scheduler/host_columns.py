"""One request's hosts judged in one vectorised pass.

Per snapshot, :class:`HostTable` holds every host's estimate without
credit as columns (built once, shared by every request on that
snapshot).  Per request, nova's hosts arrive as :class:`HostRows`: a row
index into the table, the sizes nova reports and the group of hosts in
the same aggregates (:class:`HostGroup`, whose overrides are read once
per group, not per host).  :func:`judge` then applies the rules of
:mod:`.scoring_columns` to all of them, so that the per-host work of a
request is a dictionary lookup and a few list items.
"""

import dataclasses

import numpy as np

from cryptomine_scheduler.conf import scheduler as scheduler_conf
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.placement import scoring_columns


@dataclasses.dataclass(frozen=True)
class HostTable:
    """The estimates of a snapshot's hosts, a row each, and their data's
    age; ``index`` maps a host's name to its row."""

    index: dict[str, int]
    age: np.ndarray
    columns: scoring_columns.Columns

    @classmethod
    def build(cls, snap: snapshot.LoadSnapshot,
              estimates: dict[str, scoring.Estimate]) -> 'HostTable':
        """The table of ``snap``'s hosts, estimated in ``estimates``."""
        names = list(estimates)
        return cls({name: row for row, name in enumerate(names)},
                   np.array([snap.hosts[n].age for n in names], float),
                   scoring_columns.Columns.of(list(estimates.values())))


@dataclasses.dataclass(frozen=True)
class HostGroup:
    """What a host's aggregates say (the request's settings for a host
    in none): one per distinct set of aggregates in a request."""

    thresholds: scoring.Thresholds
    missing_data_policy: str
    overload_policy: str
    declared: frozenset[scoring.Accelerator] | None = None
    burst_cost: float | None = None


@dataclasses.dataclass(frozen=True)
class HostRows:
    """nova's hosts of one request, in nova's order: name, instance
    count and size as nova reports them, and ``group`` the index of the
    host's :class:`HostGroup` in ``groups``."""

    names: list[str]
    num_instances: list[int]
    vcpus: np.ndarray
    memory_mb: np.ndarray
    group: np.ndarray
    groups: list[HostGroup]


@dataclasses.dataclass(frozen=True)
class Verdicts:
    """The filter's and the weigher's answers for :class:`HostRows`:
    ``missing`` where a host has no fresh data, ``score`` NaN there."""

    passed: np.ndarray
    missing: np.ndarray
    score: np.ndarray


@dataclasses.dataclass(frozen=True)
class Guest:
    """What the request places and how its hosts are judged (the parts
    of the plugin's settings the columns need)."""

    busy_vcpus: float
    memory_mb: float
    stale_after: float
    weights: scoring.Weights
    demand: scoring.Demand
    bad_flavor: bool


def _per_group(rows: HostRows, values, dtype=float) -> np.ndarray:
    """One value per host from one per group."""
    return np.array(values, dtype)[rows.group]


def judge(table: HostTable | None, rows: HostRows, guest: Guest,
          credit_cpu: np.ndarray, credit_mem: np.ndarray,
          credit_gpus: np.ndarray) -> Verdicts:
    """Each host of ``rows`` with the guest (and its credit, in % of the
    host, and GPUs to be worked) on it: passes the filter, lacks fresh data,
    its score."""
    count = len(rows.names)
    groups = rows.groups
    passes_missing = _per_group(rows, [
        g.missing_data_policy != scheduler_conf.MISSING_REJECT
        for g in groups], bool)
    if table is None or not table.index or not count:
        return Verdicts(passes_missing, np.ones(count, bool),
                        np.full(count, np.nan))
    index = table.index
    found = np.array([index.get(n, -1) for n in rows.names], np.intp)
    at = np.maximum(found, 0)
    missing = (found < 0) | (table.age[at] > guest.stale_after)
    with np.errstate(divide='ignore', invalid='ignore'):
        cpu = np.where(rows.vcpus != 0,
                       guest.busy_vcpus / rows.vcpus * 100.0, 0.0)
        mem = np.where(rows.memory_mb != 0,
                       guest.memory_mb / rows.memory_mb * 100.0, 0.0)
    est = table.columns.take(at).with_load(
        cpu + credit_cpu, mem + credit_mem, _per_group(
            rows, [scoring_columns.kind_mask(g.declared) for g in groups],
            np.uint8)).with_busy_gpus(credit_gpus)
    limits = scoring_columns.Limits.of([g.thresholds for g in groups],
                                       rows.group)
    over = scoring_columns.overage(est, limits)
    hard = (over > 0) & _per_group(rows, [
        g.overload_policy == scheduler_conf.OVERLOAD_HARD for g in groups],
        bool)
    refused = scoring_columns.refused(est, limits, guest.demand, hard)
    refused |= _per_group(rows, [
        g.burst_cost is not None
        and scoring.burst_refusal(guest.demand, g.burst_cost) is not None
        for g in groups], bool)
    if guest.bad_flavor:
        refused[:] = True
    score = scoring_columns.score(est, guest.weights, guest.demand, over,
                                  _per_group(rows, [
                                      np.nan if g.burst_cost is None
                                      else g.burst_cost for g in groups]))
    return Verdicts(np.where(missing, passes_missing, ~refused), missing,
                    np.where(missing, np.nan, score))
