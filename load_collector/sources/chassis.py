"""The chassis' readings that a BMC gives, over Redfish or IPMI."""

import dataclasses

from cryptomine_scheduler.telemetry import validation
from load_collector import sources


@dataclasses.dataclass(frozen=True)
class ChassisReading:
    """The chassis' inlet (intake) temperature, its power draw and the
    power cap its BMC holds it to; None where the BMC does not tell (or,
    for the cap, holds it to none)."""

    inlet_temperature_c: float | None = None
    power_w: float | None = None
    power_cap_w: float | None = None


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
    given = {'inlet_temperature_c': reading.inlet_temperature_c,
             'chassis_power_w': reading.power_w,
             'chassis_power_cap_w': reading.power_cap_w}
    draft.sensors = dataclasses.replace(sensors, **{
        name: value for name, value in given.items()
        if getattr(sensors, name) is None})
