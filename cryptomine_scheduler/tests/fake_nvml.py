"""A stand-in for the ``pynvml`` module, describing GPUs from data.

:class:`FakeNvml` has the functions, constants and exception classes of
``pynvml`` that the ``gpu`` source calls, with the same units (mW, bytes,
MHz) and return shapes.  Any reading of a :class:`FakeGpu` may be an
exception class instead of a value (e.g. :class:`NVMLError_NotSupported`
for the fan of a passively cooled board); the call then raises it.
"""

import dataclasses
import types

NVML_TEMPERATURE_GPU = 0
NVML_TEMPERATURE_THRESHOLD_SLOWDOWN = 1
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_VGPU_VM_ID_UUID = 1
GIB = 1024 ** 3


class NVMLError(Exception):
    """Base of the NVML errors; ``str()`` reads like pynvml's."""

    message = 'Unknown Error'

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)


class NVMLError_NotSupported(NVMLError):
    message = 'Not Supported'


class NVMLError_NoPermission(NVMLError):
    message = 'Insufficient Permissions'


class NVMLError_FunctionNotFound(NVMLError):
    message = 'Function Not Found'


class NVMLError_GpuIsLost(NVMLError):
    message = 'GPU is lost'


class NVMLError_LibraryNotFound(NVMLError):
    message = 'NVML Shared Library Not Found'


class NVMLError_DriverNotLoaded(NVMLError):
    message = 'Driver Not Loaded'


@dataclasses.dataclass
class FakeGpu:
    """One GPU's readings in NVML's units; ``lost`` fails every call."""

    name: str = 'NVIDIA H200'
    pci_bus_id: bytes = b'00000000:17:00.0'
    utilization: tuple[int, int] = (0, 0)  # gpu, memory (%)
    memory_used: int = 0
    memory_total: int = 141 * GIB
    power_mw: int = 75_000
    power_limit_mw: int = 700_000
    temperature: int = 30
    slowdown_temperature: int = 89
    fan_percent: object = NVMLError_NotSupported
    sm_clock: int = 345
    memory_clock: int = 3201
    throttle_reasons: int = 0x1
    compute_pids: tuple[int, ...] = ()
    graphics_pids: tuple[int, ...] = ()
    vgpu_vm_ids: object = NVMLError_NotSupported  # tuple of VM UUIDs
    lost: bool = False


def _get(gpu: FakeGpu, field: str):
    if gpu.lost:
        raise NVMLError_GpuIsLost()
    value = getattr(gpu, field)
    if isinstance(value, type) and issubclass(value, NVMLError):
        raise value()
    return value


def _processes(pids: tuple[int, ...]) -> list[types.SimpleNamespace]:
    return [types.SimpleNamespace(pid=pid, usedGpuMemory=GIB)
            for pid in pids]


@dataclasses.dataclass(frozen=True)
class _Vgpu:
    vm_id: str


class FakeNvml:
    """The ``pynvml`` module over ``gpus`` (handles are the FakeGpus).

    ``init_error`` makes ``nvmlInit`` raise it.  Without
    ``event_reasons_binding`` there is no
    ``nvmlDeviceGetCurrentClocksEventReasons`` (bindings older than driver
    535); without ``event_reasons_driver`` it raises FunctionNotFound (a
    recent binding over an older driver).
    """

    NVMLError = NVMLError
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_NoPermission = NVMLError_NoPermission
    NVMLError_FunctionNotFound = NVMLError_FunctionNotFound
    NVMLError_GpuIsLost = NVMLError_GpuIsLost
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVMLError_DriverNotLoaded = NVMLError_DriverNotLoaded
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU
    NVML_TEMPERATURE_THRESHOLD_SLOWDOWN = NVML_TEMPERATURE_THRESHOLD_SLOWDOWN
    NVML_CLOCK_SM = NVML_CLOCK_SM
    NVML_CLOCK_MEM = NVML_CLOCK_MEM

    def __init__(self, gpus: list[FakeGpu], init_error: type | None = None,
                 event_reasons_binding: bool = True,
                 event_reasons_driver: bool = True):
        self.gpus = gpus
        self.init_error = init_error
        self.initialised = 0
        if event_reasons_binding:
            self.nvmlDeviceGetCurrentClocksEventReasons = (
                self.nvmlDeviceGetCurrentClocksThrottleReasons
                if event_reasons_driver else self._no_function)

    @staticmethod
    def _no_function(*args):
        raise NVMLError_FunctionNotFound()

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self.init_error()
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self.initialised -= 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        return self.gpus[index]

    def nvmlDeviceGetPciInfo(self, gpu: FakeGpu) -> types.SimpleNamespace:
        return types.SimpleNamespace(busId=_get(gpu, 'pci_bus_id'))

    def nvmlDeviceGetName(self, gpu: FakeGpu) -> str:
        return _get(gpu, 'name')

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu) -> types.SimpleNamespace:
        used, total = _get(gpu, 'memory_used'), _get(gpu, 'memory_total')
        return types.SimpleNamespace(total=total, used=used,
                                     free=total - used)

    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu
                                      ) -> types.SimpleNamespace:
        rates, memory = _get(gpu, 'utilization')
        return types.SimpleNamespace(gpu=rates, memory=memory)

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        return _get(gpu, 'power_mw')

    def nvmlDeviceGetEnforcedPowerLimit(self, gpu: FakeGpu) -> int:
        return _get(gpu, 'power_limit_mw')

    def nvmlDeviceGetTemperature(self, gpu: FakeGpu, sensor: int) -> int:
        assert sensor == NVML_TEMPERATURE_GPU
        return _get(gpu, 'temperature')

    def nvmlDeviceGetTemperatureThreshold(self, gpu: FakeGpu,
                                          threshold: int) -> int:
        assert threshold == NVML_TEMPERATURE_THRESHOLD_SLOWDOWN
        return _get(gpu, 'slowdown_temperature')

    def nvmlDeviceGetFanSpeed(self, gpu: FakeGpu) -> int:
        return _get(gpu, 'fan_percent')

    def nvmlDeviceGetClockInfo(self, gpu: FakeGpu, clock: int) -> int:
        return _get(gpu, 'sm_clock' if clock == NVML_CLOCK_SM
                    else 'memory_clock')

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, gpu: FakeGpu) -> int:
        return _get(gpu, 'throttle_reasons')

    def nvmlDeviceGetComputeRunningProcesses(self, gpu: FakeGpu
                                             ) -> list[types.SimpleNamespace]:
        return _processes(_get(gpu, 'compute_pids'))

    def nvmlDeviceGetGraphicsRunningProcesses(self, gpu: FakeGpu
                                              ) -> list[types.SimpleNamespace]:
        return _processes(_get(gpu, 'graphics_pids'))

    def nvmlDeviceGetActiveVgpus(self, gpu: FakeGpu) -> list[_Vgpu]:
        return [_Vgpu(vm_id) for vm_id in _get(gpu, 'vgpu_vm_ids')]

    def nvmlVgpuInstanceGetVmID(self, vgpu: _Vgpu) -> tuple[str, int]:
        return vgpu.vm_id, NVML_VGPU_VM_ID_UUID
