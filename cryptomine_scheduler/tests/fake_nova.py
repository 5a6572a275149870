"""A stand-in for nova at the re-planner's edge: the cluster it reports,
and migrations that move servers in it when the test lets them finish."""

import dataclasses
import threading

from cryptomine_scheduler.planning import heuristic
from cryptomine_scheduler.replan import cluster
from cryptomine_scheduler.replan import executor


def move(instance: str, source: str, destination: str) -> heuristic.Move:
    """A planned move of a 4 GiB server."""
    return heuristic.Move(instance=instance, source=source,
                          destination=destination, memory_mb=4096.0,
                          gain=0.01)


class FakeNova:
    """Cluster source, Migrator and service switch over one mutable
    cluster.

    A started migration finishes when :attr:`release` is set (set by
    default), or is rolled back once aborted; instances in ``failing``
    fail with a reason.  :attr:`disabled` has each disabled host's
    reason; disabling one raises :attr:`disable_error` where set.
    """

    def __init__(self, found: cluster.Cluster):
        self._cluster = found
        self._lock = threading.Lock()
        self.release = threading.Event()
        self.release.set()
        self.failing: set[str] = set()
        self.started: list[tuple[str, str, bool]] = []
        self.aborted: list[str] = []
        self.disabled: dict[str, str] = {}
        self.disable_error: Exception | None = None

    def cluster(self) -> cluster.Cluster:
        with self._lock:
            return self._cluster

    def host_of(self, instance: str) -> str:
        return next(s.host for s in self.cluster().servers
                    if s.uuid == instance)

    def disable(self, host: str, reason: str) -> bool:
        """Disable ``host``'s compute service unless it is already: it
        then takes no more instances."""
        if self.disable_error is not None:
            raise self.disable_error
        with self._lock:
            if host in self.disabled:
                return False
            self.disabled[host] = reason
            self._cluster = dataclasses.replace(self._cluster, hosts=tuple(
                dataclasses.replace(h, accepts_moves=False)
                if h.name == host else h for h in self._cluster.hosts))
        return True

    def start(self, instance: str, destination: str, live: bool) -> None:
        with self._lock:
            self.started.append((instance, destination, live))

    def abort(self, instance: str) -> None:
        with self._lock:
            self.aborted.append(instance)

    def progress(self, instance: str, source: str,
                 destination: str) -> executor.Progress:
        if not self.release.is_set():
            if instance in self.aborted:
                return executor.Progress(executor.MigrationState.FAILED,
                                         'migration cancelled')
            return executor.Progress(executor.MigrationState.RUNNING)
        if instance in self.failing:
            return executor.Progress(executor.MigrationState.FAILED,
                                     'injected failure')
        with self._lock:
            self._cluster = dataclasses.replace(self._cluster, servers=tuple(
                dataclasses.replace(s, host=destination)
                if s.uuid == instance else s
                for s in self._cluster.servers))
        return executor.Progress(executor.MigrationState.DONE)
