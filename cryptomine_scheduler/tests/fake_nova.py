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
    """Cluster source and Migrator over one mutable cluster.

    A started migration finishes when :attr:`release` is set (set by
    default), or is rolled back once aborted; instances in ``failing``
    fail with a reason.
    """

    def __init__(self, found: cluster.Cluster):
        self._cluster = found
        self._lock = threading.Lock()
        self.release = threading.Event()
        self.release.set()
        self.failing: set[str] = set()
        self.started: list[tuple[str, str, bool]] = []
        self.aborted: list[str] = []

    def cluster(self) -> cluster.Cluster:
        with self._lock:
            return self._cluster

    def host_of(self, instance: str) -> str:
        return next(s.host for s in self.cluster().servers
                    if s.uuid == instance)

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
