import logging
import os
import shutil

import fixtures
from oslotest import base

from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests.config import collector_conf
from load_collector import sources
from load_collector.sources import sensors

# hwmon chips of a two-socket Intel host: (name, [(label, degC)]).
CORETEMP = [('coretemp', [('Package id 0', 45.0), ('Core 0', 61.0)]),
            ('coretemp', [('Package id 1', 52.0), ('Core 8', 58.0)]),
            ('nvme', [('Composite', 70.0)]),
            ('acpitz', [('', 27.8)])]


class SysClass(fixtures.Fixture):
    """A ``/sys/class`` tree in a temporary directory."""

    def _setUp(self):
        self.path = self.useFixture(fixtures.TempDir()).path

    def write(self, path: str, value: object) -> None:
        path = os.path.join(self.path, path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as out:
            out.write(f'{value}\n')

    def hwmon(self, index: int, chip: str, readings, device: bool = False
              ) -> str:
        """Write hwmon<index>; return the path of its first input."""
        directory = os.path.join('hwmon', f'hwmon{index}')
        if device:
            directory = os.path.join(directory, 'device')
        self.write(os.path.join(directory, 'name'), chip)
        for n, (label, celsius) in enumerate(readings, 1):
            if label:
                self.write(os.path.join(directory, f'temp{n}_label'), label)
            self.write(os.path.join(directory, f'temp{n}_input'),
                       round(celsius * 1000))
            self.write(os.path.join(directory, f'temp{n}_crit'), 100000)
        return os.path.join(self.path, directory, 'temp1_input')

    def chips(self, chips, first: int = 0) -> None:
        for index, (chip, readings) in enumerate(chips, first):
            self.hwmon(index, chip, readings)

    def thermal_zone(self, index: int, kind: str, celsius: float) -> None:
        zone = os.path.join('thermal', f'thermal_zone{index}')
        self.write(os.path.join(zone, 'type'), kind)
        self.write(os.path.join(zone, 'temp'), round(celsius * 1000))

    def rapl_zone(self, zone: str, name: str, energy_uj: str = '0') -> None:
        self.write(os.path.join('powercap', zone, 'name'), name)
        self.write(os.path.join('powercap', zone, 'energy_uj'), energy_uj)

    def remove(self, path: str) -> None:
        shutil.rmtree(os.path.join(self.path, path))


class TestCpuTemperature(base.BaseTestCase):

    CASES = [
        ('two coretemp packages, cores hotter', CORETEMP, 52.0),
        ('k10temp Tdie over Tctl',
         [('k10temp', [('Tctl', 73.0), ('Tdie', 46.0), ('Tccd1', 50.0)])],
         46.0),
        ('k10temp Tctl only, two sockets',
         [('k10temp', [('Tctl', 48.5), ('Tccd1', 51.0)]),
          ('k10temp', [('Tctl', 44.0)])], 48.5),
        ('no package label: hottest CPU chip',
         [('cpu_thermal', [('', 41.2)]), ('zenpower', [('Tccd1', 39.0)]),
          ('nvme', [('Composite', 70.0)])], 41.2),
        ('no CPU chip', [('nvme', [('Composite', 38.0)]),
                         ('acpitz', [('', 27.8)])], None),
        ('no sensor', [], None),
        ('broken sensor reading left out',
         [('coretemp', [('Package id 0', 255.0)]),
          ('coretemp', [('Package id 1', 47.0)])], 47.0),
        ('only a broken reading',
         [('coretemp', [('Package id 0', -273.0)])], None),
    ]

    def setUp(self):
        super().setUp()
        self.sys = self.useFixture(SysClass())
        self.logger = self.useFixture(fixtures.FakeLogger(
            name=sensors.__name__, level=logging.INFO))

    def test_table(self):
        for label, chips, expected in self.CASES:
            with self.subTest(label):
                sys_class = self.useFixture(SysClass())
                sys_class.chips(chips)
                self.assertEqual(
                    expected, sensors.CpuTemperature(sys_class.path).read())

    def test_device_directory_of_older_kernels(self):
        self.sys.hwmon(0, 'coretemp', [('Package id 0', 61.0)], device=True)
        self.assertEqual(61.0, sensors.CpuTemperature(self.sys.path).read())

    def test_thermal_zones_where_hwmon_has_no_temperature(self):
        self.sys.write(os.path.join('hwmon', 'hwmon0', 'name'), 'ACAD')
        self.sys.thermal_zone(0, 'acpitz', 27.8)
        self.sys.thermal_zone(1, 'x86_pkg_temp', 57.0)
        self.assertEqual(57.0, sensors.CpuTemperature(self.sys.path).read())

    def test_unreadable_input_skipped(self):
        self.sys.chips([('coretemp', [('Package id 0', 45.0)]),
                        ('k10temp', [('Tdie', 46.0)])])
        self.sys.write(os.path.join('hwmon', 'hwmon0', 'temp1_input'), 'N/A')
        self.assertEqual(46.0, sensors.CpuTemperature(self.sys.path).read())

    def test_found_once_then_only_read(self):
        package = self.sys.hwmon(0, 'coretemp', [('Package id 0', 45.0)])
        temperature = sensors.CpuTemperature(self.sys.path)
        # A later, hotter package is not looked for while the first reads.
        self.sys.hwmon(1, 'coretemp', [('Package id 1', 90.0)])
        readings = []
        for millidegrees in (45000, 61500, 58000):
            self.sys.write(package, millidegrees)
            readings.append(temperature.read())
        self.assertEqual([45.0, 61.5, 58.0], readings)
        self.assertEqual('', self.logger.output)

    def test_found_again_when_renumbered(self):
        self.sys.chips(CORETEMP)
        temperature = sensors.CpuTemperature(self.sys.path)
        self.sys.remove('hwmon')
        self.sys.chips(CORETEMP[:2], first=4)
        self.sys.write(os.path.join('hwmon', 'hwmon4', 'temp1_input'), 66000)
        self.assertEqual([66.0, 66.0], [temperature.read() for _ in '12'])
        self.assertEqual('', self.logger.output)

    def test_gone_then_back(self):
        self.sys.chips(CORETEMP)
        temperature = sensors.CpuTemperature(self.sys.path)
        self.sys.remove('hwmon')
        self.assertEqual([None, None], [temperature.read() for _ in '12'])
        self.sys.hwmon(7, 'coretemp', [('Package id 0', 49.0)])
        self.assertEqual(49.0, temperature.read())
        hwmon7 = os.path.join(self.sys.path, 'hwmon', 'hwmon7', 'temp1_input')
        self.assertEqual(
            ['CPU temperature sensor gone; looking for it every cycle',
             f'CPU temperature sensor back: {hwmon7}'],
            self.logger.output.splitlines())


class TestSensorSource(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.sys = self.useFixture(SysClass())

    def powercap(self) -> None:
        """Two packages, their subzones, a psys zone and an MMIO copy."""
        for zone, name, energy in (
                ('intel-rapl:0', 'package-0', '1234567890'),
                ('intel-rapl:0:0', 'core', '999000000'),
                ('intel-rapl:0:1', 'dram', '5000000'),
                ('intel-rapl:1', 'package-1', '500000'),
                ('intel-rapl:2', 'psys', '7000000000'),
                ('intel-rapl-mmio:0', 'package-0', '1234000000')):
            self.sys.rapl_zone(zone, name, energy)

    def sensors(self) -> sample.HostSensors:
        source = sensors.SensorSource(collector_conf(), self.sys.path)
        draft = sources.SampleDraft()
        source.collect(draft)
        return draft.sensors

    def test_packages_summed_in_joules(self):
        self.powercap()
        self.sys.chips(CORETEMP)
        self.assertEqual(
            sample.HostSensors(cpu_temperature_c=52.0, energy_j=1235.06789),
            self.sensors())

    def test_read_every_cycle(self):
        self.sys.rapl_zone('intel-rapl:0', 'package-0', '1000000')
        package = self.sys.hwmon(0, 'coretemp', [('Package id 0', 40.0)])
        source = sensors.SensorSource(collector_conf(), self.sys.path)
        readings = []
        for energy, millidegrees in (('2000000', 41000), ('2500000', 42000)):
            self.sys.rapl_zone('intel-rapl:0', 'package-0', energy)
            self.sys.write(package, millidegrees)
            draft = sources.SampleDraft()
            source.collect(draft)
            readings.append(draft.sensors)
        self.assertEqual(
            [sample.HostSensors(cpu_temperature_c=41.0, energy_j=2.0),
             sample.HostSensors(cpu_temperature_c=42.0, energy_j=2.5)],
            readings)

    def test_no_powercap_tree(self):
        self.sys.chips(CORETEMP)
        self.assertEqual(sample.HostSensors(cpu_temperature_c=52.0),
                         self.sensors())

    def test_unreadable_counter_not_reported(self):
        logger = self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        self.sys.rapl_zone('intel-rapl:0', 'package-0', 'garbage')
        self.sys.chips(CORETEMP)
        self.assertEqual(sample.HostSensors(cpu_temperature_c=52.0),
                         self.sensors())
        self.assertIn('RAPL energy under', logger.output)

    def test_nothing_to_read(self):
        self.sys.rapl_zone('intel-rapl:0', 'psys', '100')
        self.sys.chips([('nvme', [('Composite', 38.0)])])
        err = self.assertRaises(sources.SourceUnavailable, self.sensors)
        self.assertEqual('no CPU temperature sensor (hwmon or thermal zone) '
                         'and no readable RAPL package zone under '
                         f'{self.sys.path}', str(err))
