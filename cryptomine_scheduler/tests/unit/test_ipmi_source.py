"""The ``ipmi`` source against OpenIPMI's BMC simulator."""

import dataclasses

import fixtures
from oslotest import base

from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests import ipmi_bmc
from cryptomine_scheduler.tests import local_ports
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.config import collector_conf
from load_collector import sources
from load_collector.sources import chassis
from load_collector.sources import ipmi
from load_collector.sources import ipmi_bmc as ipmi_bmc_source

LOGGER = 'load_collector.sources.ipmi'
PATIENCE = waiting.PATIENCE
Sensor = ipmi_bmc.Sensor
CPU = Sensor(1, 'CPU1 Temp', 'temperature', ipmi_bmc.PROCESSOR, 58)
EXHAUST = Sensor(2, 'Exhaust Temp', 'temperature',
                 ipmi_bmc.EXTERNAL_ENVIRONMENT, 41)
INLET = Sensor(3, 'Inlet Temp', 'temperature', ipmi_bmc.AIR_INLET, 27)
PSU1 = Sensor(4, 'PSU1 Input Power', 'power', ipmi_bmc.POWER_SUPPLY, 71,
              m=10)
PSU2 = Sensor(5, 'PSU2 Input Power', 'power', ipmi_bmc.POWER_SUPPLY, 69,
              m=10)
TOTAL = Sensor(6, 'Total Power', 'power', ipmi_bmc.SYSTEM_CHASSIS, 142,
               m=10)
SERVER = [CPU, EXHAUST, INLET, PSU1, PSU2, TOTAL]


class IpmiSourceTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(name=LOGGER))

    def source(self, port: int, **options) -> ipmi.IpmiSource:
        conf = collector_conf()
        for name, value in {'address': '127.0.0.1', 'port': port,
                            'interval': 1.0, 'username': ipmi_bmc.USERNAME,
                            'password': ipmi_bmc.PASSWORD,
                            **options}.items():
            conf.set_override(name, value, 'ipmi')
        source = ipmi.IpmiSource(conf)
        self.addCleanup(source.close)
        return source

    @staticmethod
    def collect(source) -> sources.SampleDraft:
        draft = sources.SampleDraft(
            sensors=sample.HostSensors(cpu_temperature_c=48.0))
        source.collect(draft)
        return draft

    def read(self, source, ready) -> sample.HostSensors:
        """The first sensors that ``ready(sensors)`` accepts."""
        return waiting.wait_for(
            lambda: (lambda s: ready(s) and s)(self.collect(source).sensors),
            PATIENCE, seen=lambda: self.collect(source).sensors)

    def polls(self, source, count: int) -> None:
        """Wait until the source read the BMC ``count`` times more."""
        for _ in range(count):
            waiting.wait_for(
                lambda before=source._poller.snapshot:
                source._poller.snapshot is not before, PATIENCE)

    def reads(self, source, inlet_c, power_w) -> None:
        """Wait until the source reads ``inlet_c`` and ``power_w``."""
        self.read(source, lambda s: (s.inlet_temperature_c,
                                     s.chassis_power_w) == (inlet_c, power_w))


class TestDcmiPowerCap(base.BaseTestCase):
    """Get Power Limit answers as DCMI 1.5 (table 6-7) lays them out, as
    pyghmi hands them over: the completion code apart, then the group
    extension, 2 reserved bytes, the exception actions, the limit in
    watts (least significant byte first), the correction time, 2
    reserved bytes and the sampling period."""

    @staticmethod
    def answer(code: int, watts: int = 0) -> dict:
        data = bytearray([0xdc, 0, 0, 0x01, *watts.to_bytes(2, 'little'),
                          *(1000).to_bytes(4, 'little'), 0, 0, 1, 0])
        return {'code': code, 'data': data if code == 0 else bytearray()}

    def test_table(self):
        for response, cap in (
                (self.answer(0, 2800), 2800.0),
                (self.answer(0, 0x1234), 4660.0),  # both bytes count
                (self.answer(0, 0), None),         # 0 W caps nothing
                (self.answer(0x80), None),         # set, not active
                (self.answer(0xc1), None),         # invalid command
                ({'code': 0, 'data': bytearray([0xdc, 0, 0])}, None),
                ({'code': 0, 'data': bytearray(
                    [0xdd, 0, 0, 1, 0xf0, 0x0a])}, None)):  # not DCMI
            with self.subTest(response=response):
                self.assertEqual(cap, ipmi_bmc_source.power_cap(response))


class TestReadings(IpmiSourceTestCase):

    def test_inlet_and_chassis_power(self):
        bmc = self.useFixture(ipmi_bmc.SimulatedBmc(SERVER))
        sensors = self.read(self.source(bmc.port),
                            lambda s: s.chassis_power_w is not None)
        # The air inlet entity's sensor; the system chassis' watts alone,
        # not the power supplies' as well.
        self.assertEqual(sample.HostSensors(
            cpu_temperature_c=48.0, inlet_temperature_c=27.0,
            chassis_power_w=1420.0), sensors)
        # The simulator answers no DCMI: no power cap is read.
        self.assertIn("inlet temperature from Inlet Temp, chassis power "
                      "from Total Power, power cap from nowhere",
                      self.log.output)

    def test_readings_follow_the_bmc(self):
        bmc = self.useFixture(ipmi_bmc.SimulatedBmc(SERVER))
        source = self.source(bmc.port)
        self.reads(source, 27.0, 1420.0)
        bmc.set_raw(INLET, 36)
        bmc.set_raw(TOTAL, 201)
        self.reads(source, 36.0, 2010.0)
        # A reading outside what the controller accepts is left out.
        bmc.set_raw(INLET, 200)
        self.reads(source, None, 2010.0)

    def test_sensors_found_by_their_names(self):
        # No air inlet entity: the sensor named for the ambient air; no
        # system watts: the sum of the power supplies'.
        ambient = Sensor(3, 'Ambient Temp', 'temperature',
                         ipmi_bmc.PROCESSOR, 24)
        bmc = self.useFixture(ipmi_bmc.SimulatedBmc(
            [CPU, ambient, PSU1, PSU2]))
        self.reads(self.source(bmc.port), 24.0, 1400.0)
        self.assertIn("inlet temperature from Ambient Temp, chassis power "
                      "from PSU1 Input Power + PSU2 Input Power",
                      self.log.output)

    def test_external_environment_but_not_its_exhaust(self):
        outside = Sensor(3, 'Front Panel Temp', 'temperature',
                         ipmi_bmc.EXTERNAL_ENVIRONMENT, 22)
        bmc = self.useFixture(ipmi_bmc.SimulatedBmc([EXHAUST, outside]))
        self.reads(self.source(bmc.port), 22.0, None)
        self.assertIn('chassis power from no sensor', self.log.output)

    def test_sensors_named_in_the_configuration(self):
        bmc = self.useFixture(ipmi_bmc.SimulatedBmc(SERVER))
        self.reads(self.source(bmc.port, inlet_sensor='Exhaust Temp',
                               power_sensors=['PSU1 Input Power']),
                   41.0, 710.0)

    def test_a_read_too_old_is_absent(self):
        bmc = self.useFixture(ipmi_bmc.SimulatedBmc(SERVER))
        source = self.source(bmc.port)
        self.reads(source, 27.0, 1420.0)
        source.close()
        poller = source._poller
        poller.join(PATIENCE)
        # Older than two intervals and the session's timeout.
        poller.snapshot = dataclasses.replace(
            poller.snapshot,
            taken_at=poller.snapshot.taken_at - 2.0 - ipmi.SESSION_TIMEOUT)
        self.assertEqual(sample.HostSensors(cpu_temperature_c=48.0),
                         self.collect(source).sensors)

    def test_no_bmc_configured(self):
        self.assertRaises(sources.SourceUnavailable, ipmi.IpmiSource,
                          collector_conf())


class TestBrokenBmc(IpmiSourceTestCase):

    def test_bmc_down_then_up(self):
        port = local_ports.free_udp_port()
        source = self.source(port)
        self.polls(source, 2)
        self.assertEqual(sample.HostSensors(cpu_temperature_c=48.0),
                         self.collect(source).sensors)
        self.assertEqual(1, self.log.output.count(
            f'BMC 127.0.0.1:{port} unreadable, its readings reported '
            f'absent until it answers: 127.0.0.1:{port}: no answer'))
        self.useFixture(ipmi_bmc.SimulatedBmc(SERVER, port=port))
        self.reads(source, 27.0, 1420.0)
        self.assertIn(f'BMC 127.0.0.1:{port} readable again',
                      self.log.output)

    def test_wrong_password(self):
        bmc = self.useFixture(ipmi_bmc.SimulatedBmc(SERVER))
        source = self.source(bmc.port, password='guess')
        self.polls(source, 1)
        self.assertEqual(sample.HostSensors(cpu_temperature_c=48.0),
                         self.collect(source).sensors)
        self.assertIn('Incorrect password', self.log.output)

    def test_sensor_named_that_the_bmc_lacks(self):
        bmc = self.useFixture(ipmi_bmc.SimulatedBmc(SERVER))
        source = self.source(bmc.port, inlet_sensor='Inlet Air')
        self.polls(source, 1)
        self.assertEqual(sample.HostSensors(cpu_temperature_c=48.0),
                         self.collect(source).sensors)
        self.assertIn("the BMC has no threshold sensor named 'Inlet Air'; "
                      "it has: CPU1 Temp, Exhaust Temp, Inlet Temp, ",
                      self.log.output)


class TestFill(base.BaseTestCase):
    """Two BMC sources: the one listed first wins, reading by reading."""

    def test_first_source_wins(self):
        draft = sources.SampleDraft(sensors=sample.HostSensors(
            cpu_temperature_c=48.0, inlet_temperature_c=25.0))
        chassis.fill(draft, chassis.ChassisReading(30.0, 900.0))
        chassis.fill(draft, chassis.ChassisReading(31.0, 950.0))
        self.assertEqual(sample.HostSensors(
            cpu_temperature_c=48.0, inlet_temperature_c=25.0,
            chassis_power_w=900.0), draft.sensors)
