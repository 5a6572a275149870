import collections
import logging
import os

import fixtures
from oslotest import base

from cryptomine_scheduler import sample
from cryptomine_scheduler.tests.config import collector_conf
from load_collector import sources
from load_collector.sources import sensors

# psutil's record of one sensors_temperatures() reading.
Temp = collections.namedtuple('shwtemp', 'label current high critical')


def _temps(*readings: tuple[str, float]) -> list[Temp]:
    return [Temp(label, current, None, None) for label, current in readings]


CORETEMP = {'coretemp': _temps(('Package id 0', 45.0), ('Core 0', 61.0),
                               ('Package id 1', 52.0), ('Core 8', 58.0)),
            'nvme': _temps(('Composite', 70.0)),
            'acpitz': _temps(('', 27.8))}


class TestCpuTemperature(base.BaseTestCase):

    CASES = [
        ('two coretemp packages, cores hotter', CORETEMP, 52.0),
        ('k10temp Tdie over Tctl',
         {'k10temp': _temps(('Tctl', 73.0), ('Tdie', 46.0),
                            ('Tccd1', 50.0))}, 46.0),
        ('k10temp Tctl only, two sockets',
         {'k10temp': _temps(('Tctl', 48.5), ('Tccd1', 51.0),
                            ('Tctl', 44.0))}, 48.5),
        ('no package label: hottest CPU chip',
         {'cpu_thermal': _temps(('', 41.2)), 'zenpower': _temps(
             ('Tccd1', 39.0)), 'nvme': _temps(('Composite', 70.0))}, 41.2),
        ('no CPU chip', {'nvme': _temps(('Composite', 38.0)),
                         'acpitz': _temps(('', 27.8))}, None),
        ('no sensor', {}, None),
        ('broken sensor reading left out',
         {'coretemp': _temps(('Package id 0', 255.0),
                             ('Package id 1', 47.0))}, 47.0),
        ('only a broken reading', {'coretemp': _temps(
            ('Package id 0', -273.0))}, None),
    ]

    def test_table(self):
        for label, chips, expected in self.CASES:
            with self.subTest(label):
                self.assertEqual(expected, sensors.cpu_temperature(chips))


class TestSensorSource(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.root = self.useFixture(fixtures.TempDir()).path

    def zone(self, zone: str, name: str, energy_uj: str = '0') -> None:
        directory = os.path.join(self.root, zone)
        os.makedirs(directory)
        for entry, text in (('name', name), ('energy_uj', energy_uj)):
            with open(os.path.join(directory, entry), 'w') as f:
                f.write(text + '\n')

    def powercap(self) -> None:
        """Two packages, their subzones, a psys zone and an MMIO copy."""
        for zone, name, energy in (
                ('intel-rapl:0', 'package-0', '1234567890'),
                ('intel-rapl:0:0', 'core', '999000000'),
                ('intel-rapl:0:1', 'dram', '5000000'),
                ('intel-rapl:1', 'package-1', '500000'),
                ('intel-rapl:2', 'psys', '7000000000'),
                ('intel-rapl-mmio:0', 'package-0', '1234000000')):
            self.zone(zone, name, energy)

    def sensors(self, chips=None, root=None) -> sample.HostSensors:
        source = sensors.SensorSource(
            collector_conf(), powercap_root=root or self.root,
            temperatures=lambda: chips or {})
        draft = sources.SampleDraft()
        source.collect(draft)
        return draft.sensors

    def test_packages_summed_in_joules(self):
        self.powercap()
        self.assertEqual(
            sample.HostSensors(cpu_temperature_c=52.0, energy_j=1235.06789),
            self.sensors(CORETEMP))

    def test_counter_read_every_cycle(self):
        self.zone('intel-rapl:0', 'package-0', '1000000')
        source = sensors.SensorSource(collector_conf(),
                                      powercap_root=self.root,
                                      temperatures=dict)
        readings = []
        for energy in ('2000000', '2500000'):
            with open(os.path.join(self.root, 'intel-rapl:0', 'energy_uj'),
                      'w') as f:
                f.write(energy)
            draft = sources.SampleDraft()
            source.collect(draft)
            readings.append(draft.sensors)
        self.assertEqual([sample.HostSensors(energy_j=2.0),
                          sample.HostSensors(energy_j=2.5)], readings)

    def test_no_powercap_tree(self):
        self.assertEqual(sample.HostSensors(cpu_temperature_c=52.0),
                         self.sensors(CORETEMP,
                                      os.path.join(self.root, 'absent')))

    def test_unreadable_counter_not_reported(self):
        logger = self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        self.zone('intel-rapl:0', 'package-0', 'garbage')
        self.assertEqual(sample.HostSensors(cpu_temperature_c=52.0),
                         self.sensors(CORETEMP))
        self.assertIn('RAPL energy under', logger.output)

    def test_nothing_to_read(self):
        self.zone('intel-rapl:0', 'psys', '100')
        for chips in ({}, {'nvme': _temps(('Composite', 38.0))}):
            with self.subTest(chips=chips):
                err = self.assertRaises(sources.SourceUnavailable,
                                        self.sensors, chips)
                self.assertEqual('no CPU temperature sensor (psutil) and no '
                                 'readable '
                                 f'RAPL package zone under {self.root}',
                                 str(err))
