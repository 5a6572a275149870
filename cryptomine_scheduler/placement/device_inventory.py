"""The GPUs and miners a host offers, as placement counts them.

nova reports a host's accelerators to placement as inventories of the
providers in its compute node's tree: ``PGPU`` and ``VGPU`` (mediated
devices), PCI devices where ``[pci] report_in_placement`` is on (class
``CUSTOM_PCI_<VENDOR>_<PRODUCT>``, or the ``resource_class`` of the
device spec), and whatever custom class an operator gives ASIC boards
(``CUSTOM_ASIC_MINER``).  Placement's usage of them is what nova has
allocated, whether or not the guest's miner runs yet: the truth of how
many devices are free, which load samples cannot give for a GPU passed
through to a guest (the host's driver no longer sees it).

:class:`DeviceClasses` says which resource classes are GPUs and which
are miners; :class:`HostDevices` is one host's count, carried in the
load snapshot so that the filter, the weigher and the re-planner read
the same numbers.
"""

import dataclasses
import fnmatch
from collections.abc import Iterable
from collections.abc import Mapping

#: Resource classes that are GPUs unless configured otherwise: physical
#: and virtual GPUs, NVIDIA (10DE) and AMD (1002) PCI devices in
#: placement, and custom GPU classes.
DEFAULT_GPU_CLASSES = ('PGPU', 'VGPU', 'CUSTOM_PCI_10DE_*',
                       'CUSTOM_PCI_1002_*', 'CUSTOM_GPU*')
DEFAULT_ASIC_CLASSES = ('CUSTOM_ASIC*',)


@dataclasses.dataclass(frozen=True)
class DeviceCount:
    """How many devices of one kind a host has (inventory total minus
    reserved) and how many nova has allocated."""

    total: int = 0
    used: int = 0

    @property
    def free(self) -> int:
        return max(self.total - self.used, 0)

    def __add__(self, other: 'DeviceCount') -> 'DeviceCount':
        return DeviceCount(self.total + other.total, self.used + other.used)


NONE = DeviceCount()


@dataclasses.dataclass(frozen=True)
class HostDevices:
    """A host's GPUs and miners as placement counts them."""

    gpu: DeviceCount = NONE
    asic: DeviceCount = NONE

    def __add__(self, other: 'HostDevices') -> 'HostDevices':
        return HostDevices(self.gpu + other.gpu, self.asic + other.asic)

    def __bool__(self) -> bool:
        """True when placement counts any accelerator on the host."""
        return bool(self.gpu.total or self.asic.total)

    def wire(self) -> dict:
        """The snapshot's form: ``{kind: [total, used]}``."""
        return {kind: [count.total, count.used]
                for kind, count in (('gpu', self.gpu), ('asic', self.asic))
                if count.total}

    @classmethod
    def from_wire(cls, wire: Mapping) -> 'HostDevices':
        return cls(**{kind: DeviceCount(*wire[kind])
                      for kind in ('gpu', 'asic') if kind in wire})


@dataclasses.dataclass(frozen=True)
class DeviceClasses:
    """Which placement resource classes are GPUs and which are miners
    (shell-style patterns, matched case-sensitively as placement names
    classes)."""

    gpu: tuple[str, ...] = DEFAULT_GPU_CLASSES
    asic: tuple[str, ...] = DEFAULT_ASIC_CLASSES

    def kind(self, resource_class: str) -> str | None:
        """``'gpu'``, ``'asic'`` or None for a class that is neither."""
        for kind, patterns in (('gpu', self.gpu), ('asic', self.asic)):
            if any(fnmatch.fnmatchcase(resource_class, p) for p in patterns):
                return kind
        return None

    def is_device(self, resource_class: str) -> bool:
        return self.kind(resource_class) is not None

    def count(self, capacity: Mapping[str, int],
              usages: Mapping[str, int]) -> HostDevices:
        """One provider's devices: ``capacity`` (total minus reserved)
        and ``usages`` by resource class."""
        found = {'gpu': NONE, 'asic': NONE}
        for resource_class, total in capacity.items():
            kind = self.kind(resource_class)
            if kind is not None and total > 0:
                found[kind] += DeviceCount(
                    total, min(usages.get(resource_class, 0), total))
        return HostDevices(**found)


#: The resource classes counted unless configured otherwise.
DEFAULT_CLASSES = DeviceClasses()


def total(counts: Iterable[HostDevices]) -> HostDevices:
    """The devices of several providers (a compute node's tree, or the
    nodes of one host) together."""
    summed = HostDevices()
    for count in counts:
        summed += count
    return summed
