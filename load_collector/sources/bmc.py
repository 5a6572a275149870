"""A GPU server's BMC over Redfish, through sushy.

:class:`Bmc` finds the GPUs once: the systems' processors of type
``GPU``, each with its PCIe device (slot label, and the segment, bus,
device and function numbers of its first PCIe function) and its
``EnvironmentMetrics``.  Each :meth:`Bmc.read` then fetches the GPUs'
``EnvironmentMetrics`` (temperature, power, power limit; the upper
caution, or non-critical, threshold of the temperature sensor they point
at is the slowdown temperature, read once per sensor), the chassis'
``EnvironmentMetrics`` (power, and the power cap: ``PowerLimitWatts``
unless its ``ControlMode`` is ``Disabled``) and its ``ThermalMetrics``
(intake temperature): the Redfish 2020.4+ model.  Where a BMC lacks
these, the chassis' deprecated ``Thermal`` resource gives the intake
temperature and each GPU's temperature and upper non-critical threshold
(the one whose ``RelatedItem`` names the GPU's processor or PCIe
device), and its ``Power`` resource the chassis power and cap (the first
``PowerControl``'s ``PowerConsumedWatts`` and ``PowerLimit``
``LimitInWatts``, null when capping is off); no GPU power then.  A cap
of 0 W is read as none.  sushy's classes cover none of this, so the
resources are declared here as sushy declares its own.

A part whose answer is garbage (not JSON, a wrong type, an HTTP error)
is read as absent and named in :attr:`BmcRead.faults`; a BMC that cannot
be reached raises :class:`sushy.exceptions.ConnectionError`.  Temperatures
outside what the controller accepts are left out, as the ``sensors``
source does.
"""

import dataclasses
import math

import sushy
from sushy import auth
from sushy import connector
from sushy import exceptions
from sushy.resources import base

from cryptomine_scheduler.telemetry import validation
from load_collector.sources import chassis as chassis_mod
from load_collector.sources import vfio

ROOT = '/redfish/v1/'
#: What a garbage answer raises: sushy's errors for HTTP errors, missing
#: and malformed fields; a body that is not JSON (ValueError) or whose
#: objects are not where the schema puts them (TypeError, AttributeError,
#: LookupError from sushy's field lookup).
GARBAGE = (exceptions.SushyError, ValueError, TypeError, AttributeError,
           LookupError)


def _number(value) -> float:
    if value.__class__ not in (int, float) or not math.isfinite(value):
        raise ValueError(f'{value!r} is not a number')
    return float(value)


def _celsius(value) -> float | None:
    return chassis_mod.celsius(_number(value))


def _watts(value) -> float | None:
    return chassis_mod.watts(_number(value))


def _cap(watts: float | None) -> float | None:
    """A power cap as read, None for none (a cap of 0 W caps nothing:
    some BMCs report capping off so)."""
    return watts or None


def _text(value) -> str:
    if not validation.is_text(value):
        raise ValueError(f'{value!r} is not a short string')
    return value


def _hex(value) -> int:
    return int(_text(value), 16)


def _links(value) -> tuple[str, ...]:
    return tuple(_text(member['@odata.id']) for member in value)


class _JsonReader(base.JsonDataReader):
    """Reads a resource without sushy's log of a body that is not JSON:
    the source logs each fault once."""

    def get_data(self):
        response = self._conn.get(path=self._path)
        return base.FieldData(response.status_code, response.headers,
                              response.json() if response.content else {})


class _Resource(base.ResourceBase):

    def __init__(self, conn: connector.Connector, path: str):
        super().__init__(conn, path, reader=_JsonReader())


class _Root(_Resource):
    systems = base.Field(['Systems', '@odata.id'], required=True,
                         adapter=_text)
    chassis = base.Field(['Chassis', '@odata.id'], required=True,
                         adapter=_text)


class _Collection(_Resource):
    members = base.Field('Members', required=True, adapter=_links)


class _System(_Resource):
    processors = base.Field(['Processors', '@odata.id'], adapter=_text)


class _Processor(_Resource):
    identity = base.Field('Id', required=True, adapter=_text)
    processor_type = base.Field('ProcessorType')
    model = base.Field('Model', adapter=_text)
    environment = base.Field(['EnvironmentMetrics', '@odata.id'],
                             adapter=_text)
    pcie_device = base.Field(['Links', 'PCIeDevice', '@odata.id'],
                             adapter=_text)


class _PcieDevice(_Resource):
    slot = base.Field(['Slot', 'Location', 'PartLocation', 'ServiceLabel'],
                      adapter=_text)
    functions = base.Field(['PCIeFunctions', '@odata.id'], adapter=_text)


class _PcieFunction(_Resource):
    segment = base.Field('SegmentNumber', adapter=_hex)
    bus = base.Field('BusNumber', adapter=_hex)
    device = base.Field('DeviceNumber', adapter=_hex)
    function = base.Field('FunctionNumber', adapter=_hex)


class _EnvironmentMetrics(_Resource):
    temperature_c = base.Field(['TemperatureCelsius', 'Reading'],
                               adapter=_celsius)
    temperature_sensor = base.Field(['TemperatureCelsius', 'DataSourceUri'],
                                    adapter=_text)
    power_w = base.Field(['PowerWatts', 'Reading'], adapter=_watts)
    power_limit_w = base.Field(['PowerLimitWatts', 'SetPoint'],
                               adapter=_watts)
    power_limit_mode = base.Field(['PowerLimitWatts', 'ControlMode'],
                                  adapter=_text)

    def power_cap_w(self) -> float | None:
        """The power cap held (the chassis'), None where none is."""
        if self.power_limit_mode == 'Disabled':
            return None
        return _cap(self.power_limit_w)


class _Sensor(_Resource):
    upper_caution_c = base.Field(['Thresholds', 'UpperCaution', 'Reading'],
                                 adapter=_celsius)


class _Chassis(_Resource):
    environment = base.Field(['EnvironmentMetrics', '@odata.id'],
                             adapter=_text)
    thermal = base.Field(['ThermalSubsystem', '@odata.id'], adapter=_text)
    legacy_thermal = base.Field(['Thermal', '@odata.id'], adapter=_text)
    legacy_power = base.Field(['Power', '@odata.id'], adapter=_text)


class _ThermalSubsystem(_Resource):
    metrics = base.Field(['ThermalMetrics', '@odata.id'], adapter=_text)


class _ThermalMetrics(_Resource):
    intake_c = base.Field(['TemperatureSummaryCelsius', 'Intake', 'Reading'],
                          adapter=_celsius)


class _LegacyTemperature(base.ListField):
    context = base.Field('PhysicalContext')
    reading_c = base.Field('ReadingCelsius', adapter=_celsius)
    caution_c = base.Field('UpperThresholdNonCritical', adapter=_celsius)
    related = base.Field('RelatedItem', default=(), adapter=_links)


class _LegacyThermal(_Resource):
    """The deprecated Thermal resource (before Redfish 2020.4)."""

    temperatures = _LegacyTemperature('Temperatures', default=[])

    def related_to(self, paths: frozenset[str]) -> _LegacyTemperature | None:
        """The first temperature related to one of ``paths``."""
        return next((t for t in self.temperatures
                     if paths.intersection(map(_path, t.related))), None)

    def intake_c(self) -> float | None:
        return next((t.reading_c for t in self.temperatures
                     if t.context == 'Intake'), None)


class _PowerControl(base.ListField):
    consumed_w = base.Field('PowerConsumedWatts', adapter=_watts)
    limit_w = base.Field(['PowerLimit', 'LimitInWatts'], adapter=_watts)


class _LegacyPower(_Resource):
    """The deprecated Power resource (before Redfish 2020.4)."""

    controls = _PowerControl('PowerControl', default=[])


def _path(link: str) -> str:
    return link.rstrip('/')


@dataclasses.dataclass(frozen=True)
class _ChassisPaths:
    """Where the chassis' readings are; None where it has no such
    resource."""

    environment: str | None = None
    thermal_metrics: str | None = None
    legacy_thermal: str | None = None
    legacy_power: str | None = None


@dataclasses.dataclass(frozen=True)
class GpuReading:
    """One GPU as the BMC reports it; None where it does not."""

    address: vfio.PciAddress | None
    label: str  # the slot's label, else the processor's Id
    name: str
    temperature_c: float | None = None
    slowdown_temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None

    def absent(self) -> 'GpuReading':
        """This GPU without readings."""
        return GpuReading(self.address, self.label, self.name)


@dataclasses.dataclass(frozen=True)
class BmcRead:
    """One read of the BMC; ``faults``: why each unreadable part is."""

    chassis: chassis_mod.ChassisReading
    gpus: tuple[GpuReading, ...]
    faults: dict[str, str]


@dataclasses.dataclass
class _Gpu:
    address: vfio.PciAddress | None
    label: str
    name: str
    environment: str | None  # the path of its EnvironmentMetrics
    #: The paths of its processor and PCIe device, which a temperature of
    #: the legacy Thermal resource names in its RelatedItem.
    related: frozenset[str]
    #: The upper caution threshold of ``sensor``, the temperature sensor
    #: that the EnvironmentMetrics last pointed at (read once).
    slowdown_temperature_c: float | None = None
    sensor: str | None = None


def _address(conn, device: _PcieDevice) -> vfio.PciAddress | None:
    if device.functions is None:
        return None
    members = _Collection(conn, device.functions).members
    if not members:
        return None
    function = _PcieFunction(conn, members[0])
    numbers = (function.segment, function.bus, function.device,
               function.function)
    return None if None in numbers else vfio.PciAddress(*numbers)


class Bmc:
    """A BMC whose GPUs and chassis were found at construction.

    Every request waits at most ``timeout`` seconds to connect and as
    long for each part of the answer, and is not retried but once on a
    server-side error; the session (or basic authentication) is sushy's.
    """

    def __init__(self, url: str, username: str | None,
                 password: str | None, verify: bool | str, timeout: float):
        self._conn = connector.Connector(
            url, verify=verify, server_side_retries=1,
            server_side_retries_delay=0, default_request_timeout=timeout,
            connect_timeout=timeout)
        self._auth = auth.SessionOrBasicAuth(username, password)
        try:
            # Read first as any resource (the service root needs no
            # credentials), so that garbage is told only once; then
            # sushy authenticates the connection.
            root = _Root(self._conn, ROOT)
            # Held: sushy ends the session when it is collected.
            self._service = sushy.Sushy(url, auth=self._auth,
                                        connector=self._conn)
            self._gpus = sorted(self._find_gpus(root),
                                key=lambda g: (g.address is None,
                                               g.address, g.label))
            self._chassis = self._find_chassis(root)
            # Read each time only if the newer resources lack something.
            self._legacy_thermal = (
                self._chassis.legacy_thermal
                if self._chassis.thermal_metrics is None
                or any(g.environment is None for g in self._gpus)
                else None)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """End the session and close the connection."""
        try:
            self._auth.close()
        except GARBAGE:
            pass  # the BMC is gone, or forgot the session already
        self._conn.close()

    def _find_gpus(self, root: _Root):
        conn = self._conn
        for system in _Collection(conn, root.systems).members:
            processors = _System(conn, system).processors
            if processors is None:
                continue
            for path in _Collection(conn, processors).members:
                processor = _Processor(conn, path)
                if processor.processor_type == 'GPU':
                    yield self._describe(processor)

    def _describe(self, processor: _Processor) -> _Gpu:
        device = (None if processor.pcie_device is None
                  else _PcieDevice(self._conn, processor.pcie_device))
        return _Gpu(
            address=None if device is None else _address(self._conn,
                                                         device),
            label=(device and device.slot) or processor.identity,
            name=processor.model or processor.identity,
            environment=processor.environment,
            related=frozenset(map(_path, filter(None, (
                processor.path, processor.pcie_device)))))

    def _find_chassis(self, root: _Root) -> _ChassisPaths:
        """Where the readings of the first chassis that has any are."""
        conn = self._conn
        for path in _Collection(conn, root.chassis).members:
            chassis = _Chassis(conn, path)
            paths = _ChassisPaths(
                chassis.environment,
                None if chassis.thermal is None
                else _ThermalSubsystem(conn, chassis.thermal).metrics,
                chassis.legacy_thermal, chassis.legacy_power)
            if paths != _ChassisPaths():
                return paths
        return _ChassisPaths()

    def _get(self, part: str, cls, path: str | None,
             faults: dict[str, str]):
        """Resource ``cls`` at ``path`` read now; None, and the fault
        noted, if it is garbage or ``path`` is None."""
        if path is None:
            return None
        try:
            return cls(self._conn, path)
        except exceptions.ConnectionError:
            raise
        except GARBAGE as exc:
            faults[part] = str(exc)
            return None

    def _read_gpu(self, gpu: _Gpu, legacy: _LegacyThermal | None,
                  faults: dict[str, str]) -> GpuReading:
        reading = GpuReading(gpu.address, gpu.label, gpu.name)
        if gpu.environment is None:
            # The legacy Thermal resource: temperature and threshold only.
            found = None if legacy is None else legacy.related_to(
                gpu.related)
            return reading if found is None else dataclasses.replace(
                reading, temperature_c=found.reading_c,
                slowdown_temperature_c=found.caution_c)
        part = f'GPU {gpu.label}'
        metrics = self._get(part, _EnvironmentMetrics, gpu.environment,
                            faults)
        if metrics is None:
            return reading
        if metrics.temperature_sensor != gpu.sensor:
            sensor = self._get(part, _Sensor, metrics.temperature_sensor,
                               faults)
            if sensor is not None or metrics.temperature_sensor is None:
                gpu.sensor = metrics.temperature_sensor
                gpu.slowdown_temperature_c = (sensor
                                              and sensor.upper_caution_c)
        return dataclasses.replace(
            reading, temperature_c=metrics.temperature_c,
            slowdown_temperature_c=gpu.slowdown_temperature_c,
            power_w=metrics.power_w, power_limit_w=metrics.power_limit_w)

    def _read_chassis(self, legacy: _LegacyThermal | None,
                      faults: dict[str, str]) -> chassis_mod.ChassisReading:
        paths = self._chassis
        power_w = cap_w = None
        if paths.environment is not None:
            power = self._get('chassis power', _EnvironmentMetrics,
                              paths.environment, faults)
            if power is not None:
                power_w, cap_w = power.power_w, power.power_cap_w()
        else:
            power = self._get('chassis power', _LegacyPower,
                              paths.legacy_power, faults)
            if power is not None and power.controls:
                control = power.controls[0]
                power_w, cap_w = control.consumed_w, _cap(control.limit_w)
        if paths.thermal_metrics is not None:
            thermal = self._get('chassis inlet temperature',
                                _ThermalMetrics, paths.thermal_metrics,
                                faults)
            inlet_c = thermal and thermal.intake_c
        else:
            inlet_c = legacy and legacy.intake_c()
        return chassis_mod.ChassisReading(inlet_temperature_c=inlet_c,
                                          power_w=power_w, power_cap_w=cap_w)

    def read(self) -> BmcRead:
        """Read every GPU's and the chassis' sensors now."""
        faults: dict[str, str] = {}
        legacy = self._get('chassis thermal', _LegacyThermal,
                           self._legacy_thermal, faults)
        return BmcRead(self._read_chassis(legacy, faults),
                       tuple(self._read_gpu(gpu, legacy, faults)
                             for gpu in self._gpus), faults)

