"""Sample sources: plugins that each fill part of a sample.

A source is a class registered under the ``cryptomine.collector.sources``
entry point namespace.  It is built once with the configuration and asked
to :meth:`Source.collect` into a :class:`SampleDraft` every cycle.  A
source that cannot work on this host raises :class:`SourceUnavailable`
from its constructor and is skipped with one log line.
"""

import abc
import dataclasses

from oslo_config import cfg

from cryptomine_scheduler.telemetry import sample


class SourceUnavailable(Exception):
    """The source has nothing to read on this host."""


@dataclasses.dataclass
class SampleDraft:
    """The sections of a sample being filled in by the sources."""

    host_load: sample.HostLoad | None = None
    cpus: int | None = None
    instances: list[sample.InstanceLoad] = dataclasses.field(
        default_factory=list)
    sensors: sample.HostSensors = sample.HostSensors()
    gpus: list[sample.GpuLoad] = dataclasses.field(default_factory=list)
    asics: list[sample.AsicLoad] = dataclasses.field(default_factory=list)


class Source(abc.ABC):
    """One kind of measurement."""

    def __init__(self, conf: cfg.ConfigOpts):
        self.conf = conf

    @abc.abstractmethod
    def collect(self, draft: SampleDraft) -> None:
        """Add this source's readings of the current instant to ``draft``."""

    def close(self) -> None:  # noqa: B027 - most sources hold nothing
        """Release what the source holds (called once, at shutdown)."""
