"""The chassis' readings that a BMC gives, over Redfish or IPMI."""

import dataclasses

from cryptomine_scheduler.telemetry import validation
from load_collector import sources


@dataclasses.dataclass(frozen=True)
class ChassisReading:
    """The chassis' inlet (intake) temperature and its power draw; None
    where the BMC does not tell."""

    inlet_temperature_c: float | None = None
    power_w: float | None = None


def celsius(value: float | None) -> float | None:
    """``value`` if the controller takes it for a temperature, else None
    (a sensor fault, an empty socket)."""
    low, high = validation.TEMPERATURE_RANGE
    return value if value is not None and low <= value <= high else None


def watts(value: float | None) -> float | None:
    """``value`` if it can be a power draw, else None."""
    return value if value is not None and value >= 0 else None


def fill(draft: sources.SampleDraft, reading: ChassisReading) -> None:
    """Put ``reading`` in the sample's sensors where no source before it
    gave that reading (with two BMC sources, the first listed wins)."""
    sensors = draft.sensors
    draft.sensors = dataclasses.replace(
        sensors,
        inlet_temperature_c=(sensors.inlet_temperature_c
                             if sensors.inlet_temperature_c is not None
                             else reading.inlet_temperature_c),
        chassis_power_w=(sensors.chassis_power_w
                         if sensors.chassis_power_w is not None
                         else reading.power_w))
