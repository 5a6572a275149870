"""NVIDIA GPUs through NVML (the ``pynvml`` module of nvidia-ml-py).

GPUs are enumerated once.  Every cycle reads each GPU's utilisation,
memory, power, temperature, fan, clocks, clock-throttle reasons and the
guests using it.  A reading the board or driver does not offer
(NotSupported, NoPermission, FunctionNotFound) is None; a GPU that fails
as a whole (lost, reset required) is reported with every reading None
and logged once when it fails and once when it recovers.  Guests are the
owners of NVML's compute and graphics processes, recognised by their
command line as the ``instances`` source does, and the VMs of active
vGPUs.
"""

import dataclasses
import re
import uuid
from collections.abc import Callable

import psutil
from oslo_log import log as logging

from cryptomine_scheduler.telemetry import sample
from load_collector import sources
from load_collector.sources import instances

LOG = logging.getLogger(__name__)
MIB = 1024 * 1024


def _import_nvml():
    try:
        import pynvml
    except ImportError as exc:
        raise sources.SourceUnavailable(
            f'pynvml (nvidia-ml-py) cannot be imported: {exc}') from None
    return pynvml


def _text(value: bytes | str) -> str:
    """NVML strings are bytes from some calls and str from others."""
    if isinstance(value, bytes):
        return value.decode(errors='replace')
    return value


def _scaled(value: float | None, divisor: float = 1.0) -> float | None:
    return None if value is None else value / divisor


def _guest_of(pid: int, pattern: re.Pattern) -> str | None:
    """Return the instance UUID of the guest process ``pid``, else None."""
    try:
        cmdline = psutil.Process(pid).cmdline()
    except psutil.Error:
        return None
    return instances.instance_uuid(cmdline, pattern)


def _vm_uuid(vm_id: bytes | str) -> str | None:
    """Return a vGPU's VM ID as an instance UUID, None if it is not one."""
    try:
        return str(uuid.UUID(_text(vm_id)))
    except ValueError:
        return None


@dataclasses.dataclass
class _Gpu:
    handle: object
    index: int
    pci_bus_id: str
    name: str
    memory_total_mb: float | None
    slowdown_temperature_c: float | None
    failing: bool = False


class GpuSource(sources.Source):
    """Fills :attr:`SampleDraft.gpus`, one record per GPU.

    ``nvml`` replaces the ``pynvml`` module (tests pass a fake).
    """

    def __init__(self, conf, nvml=None):
        super().__init__(conf)
        self._nvml = nvml = _import_nvml() if nvml is None else nvml
        self._absent = (nvml.NVMLError_NotSupported,
                        nvml.NVMLError_NoPermission,
                        nvml.NVMLError_FunctionNotFound)
        self._pattern = re.compile(conf.collector.instance_cmdline_regex)
        self._owners: dict[int, str | None] = {}
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            raise sources.SourceUnavailable(
                f'NVML cannot start: {exc}') from None
        try:
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as exc:
            LOG.warning('NVML cannot count the GPUs: %s', exc)
            count = 0
        self._gpus = [gpu for gpu in map(self._describe, range(count))
                      if gpu is not None]
        if not self._gpus:
            self.close()
            raise sources.SourceUnavailable('NVML sees no usable GPU')
        LOG.info('Reading %d GPUs through NVML: %s', len(self._gpus),
                 ', '.join(f'{g.index} {g.name}' for g in self._gpus))

    def close(self) -> None:
        """Release NVML."""
        self._nvml.nvmlShutdown()

    def _field(self, read: Callable, *args):
        """Return ``read(*args)``, None if the board does not offer it."""
        try:
            return read(*args)
        except self._absent:
            return None

    def _throttle_reasons(self, handle) -> int:
        """Read the clock event reasons, by their pre-535 name if need be."""
        try:
            return self._nvml.nvmlDeviceGetCurrentClocksEventReasons(handle)
        except (AttributeError, self._nvml.NVMLError_FunctionNotFound):
            return self._nvml.nvmlDeviceGetCurrentClocksThrottleReasons(
                handle)

    def _describe(self, index: int) -> _Gpu | None:
        nvml = self._nvml
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            pci_bus_id = _text(nvml.nvmlDeviceGetPciInfo(handle).busId)
            name = _text(nvml.nvmlDeviceGetName(handle))
            memory = self._field(nvml.nvmlDeviceGetMemoryInfo, handle)
            slowdown = self._field(nvml.nvmlDeviceGetTemperatureThreshold,
                                   handle,
                                   nvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN)
        except nvml.NVMLError as exc:
            LOG.warning('GPU %d left out, NVML cannot describe it: %s',
                        index, exc)
            return None
        return _Gpu(handle, index, pci_bus_id, name,
                    None if memory is None else memory.total / MIB,
                    _scaled(slowdown))

    def _owner(self, pid: int, owners: dict[int, str | None]) -> str | None:
        """Return the instance running ``pid``, reading each PID once."""
        if pid not in owners:
            owners[pid] = (self._owners[pid] if pid in self._owners
                           else _guest_of(pid, self._pattern))
        return owners[pid]

    def _vm_of(self, vgpu) -> str | None:
        try:
            return _vm_uuid(self._nvml.nvmlVgpuInstanceGetVmID(vgpu)[0])
        except self._nvml.NVMLError:
            return None  # gone since the list was read, or not a VM

    def _instances(self, handle, owners: dict[int, str | None]
                   ) -> tuple[str, ...]:
        nvml = self._nvml
        found = {self._owner(process.pid, owners)
                 for read in (nvml.nvmlDeviceGetComputeRunningProcesses,
                              nvml.nvmlDeviceGetGraphicsRunningProcesses)
                 for process in self._field(read, handle) or ()}
        found.update(map(self._vm_of,
                         self._field(nvml.nvmlDeviceGetActiveVgpus, handle)
                         or ()))
        found.discard(None)
        return tuple(sorted(found))

    def _read(self, gpu: _Gpu, owners: dict[int, str | None]
              ) -> sample.GpuLoad:
        nvml, field, handle = self._nvml, self._field, gpu.handle
        rates = field(nvml.nvmlDeviceGetUtilizationRates, handle)
        memory = field(nvml.nvmlDeviceGetMemoryInfo, handle)
        fan = field(nvml.nvmlDeviceGetFanSpeed, handle)
        return sample.GpuLoad(
            index=gpu.index, pci_bus_id=gpu.pci_bus_id, name=gpu.name,
            utilization_percent=None if rates is None else float(rates.gpu),
            memory_utilization_percent=(None if rates is None
                                        else float(rates.memory)),
            memory_used_mb=None if memory is None else memory.used / MIB,
            memory_total_mb=gpu.memory_total_mb,
            power_w=_scaled(field(nvml.nvmlDeviceGetPowerUsage, handle),
                            1000.0),
            power_limit_w=_scaled(
                field(nvml.nvmlDeviceGetEnforcedPowerLimit, handle), 1000.0),
            temperature_c=_scaled(field(nvml.nvmlDeviceGetTemperature,
                                        handle, nvml.NVML_TEMPERATURE_GPU)),
            slowdown_temperature_c=gpu.slowdown_temperature_c,
            # NVML documents that the fan may run above 100 % of its
            # rated speed.
            fan_percent=None if fan is None else min(float(fan), 100.0),
            sm_clock_mhz=_scaled(field(nvml.nvmlDeviceGetClockInfo, handle,
                                       nvml.NVML_CLOCK_SM)),
            memory_clock_mhz=_scaled(field(nvml.nvmlDeviceGetClockInfo,
                                           handle, nvml.NVML_CLOCK_MEM)),
            throttle_reasons=field(self._throttle_reasons, handle),
            instances=self._instances(handle, owners))

    def _sample(self, gpu: _Gpu, owners: dict[int, str | None]
                ) -> sample.GpuLoad:
        try:
            load = self._read(gpu, owners)
        except self._nvml.NVMLError as exc:
            if not gpu.failing:
                LOG.warning('GPU %d (%s) unreadable, reported without '
                            'readings until it recovers: %s',
                            gpu.index, gpu.pci_bus_id, exc)
                gpu.failing = True
            return sample.GpuLoad(gpu.index, gpu.pci_bus_id, gpu.name)
        if gpu.failing:
            LOG.info('GPU %d (%s) readable again', gpu.index, gpu.pci_bus_id)
            gpu.failing = False
        return load

    def collect(self, draft: sources.SampleDraft) -> None:
        owners: dict[int, str | None] = {}
        draft.gpus.extend(self._sample(gpu, owners) for gpu in self._gpus)
        # Forget the PIDs no GPU runs any more: their numbers get reused.
        self._owners = owners
