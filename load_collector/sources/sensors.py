"""CPU package temperature (psutil) and RAPL package energy (powercap).

The temperature is the hottest CPU package: coretemp's ``Package id N``,
else k10temp's ``Tdie`` (``Tctl`` may carry a fan-control offset), else
the hottest reading of any chip that looks like a CPU's.  The energy is
the sum of the ``energy_uj`` counters of the top-level RAPL package
zones; each wraps at its ``max_energy_range_uj``.  Either may be None.
"""

import glob
import os
import re
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence

import psutil
from oslo_log import log as logging

from cryptomine_scheduler import sample
from cryptomine_scheduler import validation
from load_collector import sources

LOG = logging.getLogger(__name__)
POWERCAP_ROOT = '/sys/class/powercap'
_CPU_CHIP = re.compile(r'coretemp|k10temp|zenpower|cpu|pkg', re.IGNORECASE)


def _package_temperatures(chips: Mapping[str, Sequence]) -> list[float]:
    for chip, label in (('coretemp', 'Package id'), ('k10temp', 'Tdie'),
                        ('k10temp', 'Tctl')):
        found = [t.current for t in chips.get(chip, ())
                 if t.label.startswith(label)]
        if found:
            return found
    return [t.current for chip, readings in chips.items()
            if _CPU_CHIP.search(chip) for t in readings]


def cpu_temperature(chips: Mapping[str, Sequence]) -> float | None:
    """Return the CPU package temperature in psutil's readings, or None.

    Readings a broken sensor gives outside the plausible range are left
    out, so that they cannot get the whole sample rejected.
    """
    low, high = validation.TEMPERATURE_RANGE
    return max((t for t in _package_temperatures(chips) if low <= t <= high),
               default=None)


def _is_package(zone: str) -> bool:
    """Whether ``zone`` is a package (``package-N``, ``package-N-die-M``).

    The others are counted twice: subzones (``core``, ``uncore``,
    ``dram``) within their package, ``psys`` as the whole platform.
    """
    try:
        with open(os.path.join(zone, 'name')) as name:
            return name.read().startswith('package')
    except OSError:
        return False


def package_zones(root: str) -> list[str]:
    """Return the ``energy_uj`` paths of the RAPL package zones.

    ``intel-rapl-mmio:N`` zones, where present, repeat ``intel-rapl:N``.
    """
    return [os.path.join(zone, 'energy_uj')
            for zone in sorted(glob.glob(os.path.join(root, 'intel-rapl:*')))
            if _is_package(zone)]


def read_energy_j(paths: Sequence[str]) -> float:
    """Return the summed counters of ``paths`` in joules."""
    total = 0
    for path in paths:
        with open(path) as counter:
            total += int(counter.read())
    return total / 1e6


class SensorSource(sources.Source):
    """Fills :attr:`SampleDraft.sensors`.

    ``powercap_root`` and ``temperatures`` (psutil's
    ``sensors_temperatures``) can be replaced for tests.
    """

    def __init__(self, conf, powercap_root: str = POWERCAP_ROOT,
                 temperatures: Callable[[], Mapping[str, Sequence]] =
                 psutil.sensors_temperatures):
        super().__init__(conf)
        self._temperatures = temperatures
        self._zones = package_zones(powercap_root)
        try:
            read_energy_j(self._zones)
        except (OSError, ValueError) as exc:
            LOG.info('RAPL energy under %s not reported, unreadable: %s',
                     powercap_root, exc)
            self._zones = []
        if not self._zones and cpu_temperature(temperatures()) is None:
            raise sources.SourceUnavailable(
                'no CPU temperature sensor (psutil) and no readable RAPL '
                f'package zone under {powercap_root}')

    def _energy_j(self) -> float | None:
        if not self._zones:
            return None
        try:
            return read_energy_j(self._zones)
        except (OSError, ValueError):
            return None

    def collect(self, draft: sources.SampleDraft) -> None:
        draft.sensors = sample.HostSensors(
            cpu_temperature_c=cpu_temperature(self._temperatures()),
            energy_j=self._energy_j())
