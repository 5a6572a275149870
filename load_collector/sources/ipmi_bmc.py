"""A server's BMC over IPMI (LAN, IPMI 2.0), through pyghmi.

Older GPU servers, and many boards sold for mining rigs, have a BMC that
speaks IPMI but little or no Redfish.  :class:`IpmiBmc` logs in, reads the
sensor data records once and picks:

* the **inlet temperature**: the threshold temperature sensor named by
  ``inlet_sensor``, else the first on the "air inlet" entity (IPMI's
  entity 0x37 or 0x40, as DCMI asks), else on the "external environment"
  entity and not named as an exhaust, else the first whose name says
  inlet, intake or ambient;
* the **chassis power**: the sum of the ``power_sensors`` named, else the
  DCMI power reading where the BMC answers it, else the watt sensor of
  the system chassis or board, or the first whose name says total,
  system or consumption, else the sum of the power supplies' watt
  sensors;
* the **power cap**: DCMI's active power limit, where the BMC answers
  DCMI's Get Power Limit (none while no limit is active, or at 0 W).

Each :meth:`IpmiBmc.read` then reads those sensors only.  A sensor that
reads nothing (no reading yet, or unavailable) is absent; temperatures
outside what the controller accepts are left out, as the ``sensors``
source does.  A BMC that cannot be reached, or that answers garbage,
raises one of :data:`GARBAGE`.  IPMI names no PCI address, so GPUs stay
with NVML and Redfish.
"""

import math
import re

from pyghmi import exceptions
from pyghmi.ipmi import command
from pyghmi.ipmi.private import session

from load_collector.sources import chassis

#: What an unreachable BMC, or one that answers garbage, raises: pyghmi
#: raises its own exceptions, the socket's, the decoders' (``struct``,
#: lookups) and, in places, bare Exceptions.
GARBAGE = (Exception,)
_INLET_ENTITIES = ('Air inlet',)
_INLET_NAME = re.compile(r'inlet|intake|ambient', re.I)
_EXHAUST_NAME = re.compile(r'exhaust|outlet', re.I)
_CHASSIS_POWER_ENTITIES = ('System chassis', 'System board')
_CHASSIS_POWER_NAME = re.compile(r'total|system|consumption', re.I)
_SUPPLY_ENTITY = 'Power supply'
#: DCMI's net function, group extension and Get Power Limit command, and
#: the completion code of a BMC whose limit is set but not active.
_DCMI, _DCMI_GROUP, _GET_POWER_LIMIT = 0x2c, 0xdc, 0x03
_NO_ACTIVE_LIMIT = 0x80


def _finite(value) -> float | None:
    if value.__class__ not in (int, float) or not math.isfinite(value):
        return None
    return float(value)


def _inlet_sensor(temperatures: list) -> str | None:
    """The inlet temperature sensor's name (module docstring)."""
    for sensor in temperatures:
        if sensor.entity in _INLET_ENTITIES:
            return sensor.name
    for sensor in temperatures:
        if (sensor.entity == 'External environment'
                and not _EXHAUST_NAME.search(sensor.name)):
            return sensor.name
    for sensor in temperatures:
        if _INLET_NAME.search(sensor.name):
            return sensor.name
    return None


def _power_sensors(watts: list) -> tuple[str, ...]:
    """The chassis power sensors' names, to be summed (module docstring)."""
    for sensor in watts:
        if (sensor.entity in _CHASSIS_POWER_ENTITIES
                or _CHASSIS_POWER_NAME.search(sensor.name)):
            return (sensor.name,)
    return tuple(s.name for s in watts if s.entity == _SUPPLY_ENTITY)


def power_cap(response: dict) -> float | None:
    """The active power limit (W) in pyghmi's ``response`` to DCMI's Get
    Power Limit; None where no limit is active or the answer is not
    one."""
    data = response.get('data') or b''
    if response.get('code') or len(data) < 6 or data[0] != _DCMI_GROUP:
        return None
    # Group extension, 2 reserved bytes, the exception actions, then
    # the limit in watts, least significant byte first.
    return float(int.from_bytes(data[4:6], 'little')) or None


def _log_in(address: str, port: int, username: str,
            password: str) -> command.Command:
    """A command session logged into the BMC; ConnectionError if none."""
    try:
        cmd = command.Command(bmc=address, userid=username,
                              password=password, port=port)
        fault = 'session broken' if cmd.ipmi_session.broken else None
    except exceptions.IpmiException as exc:
        fault = str(exc) if exc.args and exc.args[0] else 'no answer'
    if fault is None:
        return cmd
    # pyghmi (1.6) keeps a login that got no answer and hands it out,
    # broken, to every later login with the same credentials: forget it,
    # so that the next read logs in afresh.
    session.Session.initting_sessions.pop(
        (address, username, password, port, None), None)
    raise ConnectionError(f'{address}:{port}: {fault}')


class IpmiBmc:
    """A BMC logged into, whose sensors were picked at construction."""

    def __init__(self, address: str, port: int, username: str | None,
                 password: str | None, inlet_sensor: str | None = None,
                 power_sensors: tuple[str, ...] = ()):
        self._cmd = _log_in(address, port, username or '', password or '')
        threshold = [s for s in self._cmd.init_sdr().sensors.values()
                     if s.reading_type == 1]
        names = {s.name for s in threshold}
        for name in (inlet_sensor, *power_sensors):
            if name is not None and name not in names:
                raise ValueError(f'the BMC has no threshold sensor named '
                                 f'{name!r}; it has: '
                                 f'{", ".join(sorted(names))}')
        self.inlet_sensor = inlet_sensor or _inlet_sensor(
            [s for s in threshold if s.sensor_type == 'Temperature'])
        self.power_sensors = tuple(power_sensors)
        self.dcmi_power = not power_sensors and self._answers_dcmi()
        if not power_sensors and not self.dcmi_power:
            self.power_sensors = _power_sensors(
                [s for s in threshold if s.baseunit == 'W'])
        self.dcmi_cap = self._power_limit().get('code') in (
            0, _NO_ACTIVE_LIMIT)

    def _power_limit(self) -> dict:
        """pyghmi's response to DCMI's Get Power Limit."""
        return self._cmd.raw_command(netfn=_DCMI, command=_GET_POWER_LIMIT,
                                     data=(_DCMI_GROUP, 0, 0))

    def _answers_dcmi(self) -> bool:
        """Whether the BMC answers DCMI's power reading."""
        try:
            self._cmd.get_system_power_watts()
        except exceptions.IpmiException as exc:
            if exc.ipmicode:  # a completion code: "Invalid command", ...
                return False
            raise  # no answer at all
        return True

    def _sensor(self, name: str):
        reading = self._cmd.get_sensor_reading(name)
        return None if reading.unavailable else reading.value

    def close(self) -> None:
        """Log out (best effort: a BMC that does not answer is left)."""
        try:
            self._cmd.ipmi_session.logout()
        except GARBAGE:
            pass

    def read(self) -> chassis.ChassisReading:
        """Read the chassis' sensors now."""
        inlet = (None if self.inlet_sensor is None
                 else chassis.celsius(_finite(self._sensor(
                     self.inlet_sensor))))
        if self.dcmi_power:
            power = chassis.watts(_finite(
                self._cmd.get_system_power_watts()))
        elif self.power_sensors:
            parts = [chassis.watts(_finite(self._sensor(n)))
                     for n in self.power_sensors]
            power = None if None in parts else sum(parts)
        else:
            power = None
        cap = power_cap(self._power_limit()) if self.dcmi_cap else None
        return chassis.ChassisReading(inlet_temperature_c=inlet,
                                      power_w=power, power_cap_w=cap)
