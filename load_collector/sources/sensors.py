"""CPU package temperature (hwmon) and RAPL package energy (powercap).

The temperature is the hottest CPU package: coretemp's ``Package id N``,
else k10temp's ``Tdie`` (``Tctl`` may carry a fan-control offset), else
the hottest reading of any chip that looks like a CPU's.  The chips are
the ``/sys/class/hwmon`` devices (their ``temp*_input`` files, also
under ``device/`` as on older kernels), or the thermal zones where no
hwmon device reports a temperature, as psutil finds them.  The files
that carry the package temperature are found once, at start, and only
they are read each cycle; when one can no longer be read (a driver
reloaded renumbers the hwmon devices) they are looked for again, that
cycle and every later one until they are back.

The energy is the sum of the ``energy_uj`` counters of the top-level
RAPL package zones; each wraps at its ``max_energy_range_uj``.  Either
reading may be None.
"""

import collections
import glob
import os
import re
from collections.abc import Sequence

from oslo_log import log as logging

from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.telemetry import validation
from load_collector import sources

LOG = logging.getLogger(__name__)
SYS_CLASS = '/sys/class'
_CPU_CHIP = re.compile(r'coretemp|k10temp|zenpower|cpu|pkg', re.IGNORECASE)
_PACKAGE_LABELS = (('coretemp', 'Package id'), ('k10temp', 'Tdie'),
                   ('k10temp', 'Tctl'))


def _read(path: str) -> bytes:
    """The content of a sysfs attribute (at most a page)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def _label(input_path: str) -> str:
    """The ``temp*_label`` of a ``temp*_input``, '' where it has none."""
    try:
        return _read(input_path[:-len('input')] + 'label').decode(
            errors='replace').strip()
    except OSError:
        return ''


def temperature_inputs(sys_class: str) -> dict[str, list[tuple[str, str]]]:
    """Return the readable temperature files by chip, with their labels."""
    chips = collections.defaultdict(list)
    hwmon = os.path.join(sys_class, 'hwmon', 'hwmon*')
    found = [(path, os.path.join(os.path.dirname(path), 'name'))
             for pattern in ('temp*_input', os.path.join('device',
                                                         'temp*_input'))
             for path in glob.glob(os.path.join(hwmon, pattern))]
    if not found:
        found = [(path, os.path.join(os.path.dirname(path), 'type'))
                 for path in glob.glob(os.path.join(
                     sys_class, 'thermal', 'thermal_zone*', 'temp'))]
    for path, name in sorted(found):
        try:
            float(_read(path))
            chip = _read(name).decode().strip()
        except (OSError, ValueError):
            continue  # a sensor that cannot be read, as psutil skips it
        chips[chip].append((_label(path) if path.endswith('_input')
                            else '', path))
    return chips


def package_inputs(sys_class: str) -> list[str]:
    """Return the files of the CPU package temperature (see the module)."""
    chips = temperature_inputs(sys_class)
    for chip, prefix in _PACKAGE_LABELS:
        found = [path for label, path in chips.get(chip, ())
                 if label.startswith(prefix)]
        if found:
            return found
    return [path for chip, inputs in chips.items() if _CPU_CHIP.search(chip)
            for _, path in inputs]


def hottest(paths: Sequence[str]) -> float | None:
    """Return the hottest plausible reading of ``paths`` in degC, or None.

    Readings a broken sensor gives outside the plausible range are left
    out, so that they cannot get the whole sample rejected.  Raises
    OSError or ValueError when a file cannot be read.
    """
    low, high = validation.TEMPERATURE_RANGE
    readings = [float(_read(path)) / 1000 for path in paths]
    return max((t for t in readings if low <= t <= high), default=None)


class CpuTemperature:
    """The CPU package temperature, read from the files found for it."""

    def __init__(self, sys_class: str):
        self._sys_class = sys_class
        self._paths = package_inputs(sys_class)
        self.present = bool(self._paths)
        self._lost = False

    def read(self) -> float | None:
        """Return the temperature now; look for its files if they went."""
        if not self._lost:
            try:
                return hottest(self._paths)
            except (OSError, ValueError):
                pass  # gone, or the hwmon devices renumbered
        self._paths = package_inputs(self._sys_class)
        if not self._paths:
            if not self._lost:
                LOG.warning('CPU temperature sensor gone; looking for it '
                            'every cycle')
            self._lost = True
            return None
        if self._lost:
            LOG.info('CPU temperature sensor back: %s',
                     ', '.join(self._paths))
        self._lost = False
        try:
            return hottest(self._paths)
        except (OSError, ValueError):
            return None


def _is_package(zone: str) -> bool:
    """Whether ``zone`` is a package (``package-N``, ``package-N-die-M``).

    The others are counted twice: subzones (``core``, ``uncore``,
    ``dram``) within their package, ``psys`` as the whole platform.
    """
    try:
        return _read(os.path.join(zone, 'name')).startswith(b'package')
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
    return sum(int(_read(path)) for path in paths) / 1e6


class SensorSource(sources.Source):
    """Fills :attr:`SampleDraft.sensors`.

    ``sys_class`` (holding ``hwmon``, ``thermal`` and ``powercap``) can be
    replaced for tests.
    """

    def __init__(self, conf, sys_class: str = SYS_CLASS):
        super().__init__(conf)
        self._temperature = CpuTemperature(sys_class)
        powercap = os.path.join(sys_class, 'powercap')
        self._zones = package_zones(powercap)
        try:
            read_energy_j(self._zones)
        except (OSError, ValueError) as exc:
            LOG.info('RAPL energy under %s not reported, unreadable: %s',
                     powercap, exc)
            self._zones = []
        if not self._zones and not self._temperature.present:
            raise sources.SourceUnavailable(
                'no CPU temperature sensor (hwmon or thermal zone) and no '
                f'readable RAPL package zone under {sys_class}')

    def _energy_j(self) -> float | None:
        if not self._zones:
            return None
        try:
            return read_energy_j(self._zones)
        except (OSError, ValueError):
            return None

    def collect(self, draft: sources.SampleDraft) -> None:
        draft.sensors = sample.HostSensors(
            cpu_temperature_c=self._temperature.read(),
            energy_j=self._energy_j())
