"""The ``redfish`` source against sushy-tools' static Redfish emulator."""

import dataclasses
import json
import socket
import threading

import fixtures
from oslotest import base

from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.telemetry import validation
from cryptomine_scheduler.tests import guests
from cryptomine_scheduler.tests import redfish_bmc
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.config import collector_conf
from load_collector import sources
from load_collector.sources import redfish
from load_collector.sources import vfio

GPUS = [redfish_bmc.Gpu(slot=1, bus=0x17, temperature_c=61.0,
                        power_w=512.5),
        redfish_bmc.Gpu(slot=2, bus=0x2A, temperature_c=70.0, caution_c=85.0,
                        power_w=655.0, power_limit_w=600.0),
        redfish_bmc.Gpu(slot=3, bus=0x3B, model='NVIDIA H100')]
LOGGER = 'load_collector.sources.redfish'
PATIENCE = waiting.PATIENCE
NOW = 1_800_000_000.0


def _expected(gpu: redfish_bmc.Gpu, rank: int,
              instances: tuple[str, ...] = ()) -> sample.GpuLoad:
    return sample.GpuLoad(
        index=redfish.INDEX_BASE + rank, pci_bus_id=gpu.address,
        name=gpu.model, power_w=gpu.power_w,
        power_limit_w=gpu.power_limit_w, temperature_c=gpu.temperature_c,
        slowdown_temperature_c=gpu.caution_c, instances=instances,
        source='redfish')


class RedfishSourceTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(name=LOGGER))

    def source(self, url: str, **options) -> redfish.RedfishSource:
        conf = collector_conf()
        for name, value in {'url': url, 'interval': 1.0, 'timeout': 5.0,
                            'username': 'monitor', 'password': 'secret',
                            **options}.items():
            conf.set_override(name, value, 'redfish')
        source = redfish.RedfishSource(conf)
        self.addCleanup(source.close)
        return source

    @staticmethod
    def collect(source, *nvml: sample.GpuLoad) -> sources.SampleDraft:
        draft = sources.SampleDraft(
            gpus=list(nvml),
            sensors=sample.HostSensors(cpu_temperature_c=48.0))
        source.collect(draft)
        return draft

    def read(self, source, ready) -> sources.SampleDraft:
        """The first draft that ``ready(draft)`` accepts."""
        return waiting.wait_for(
            lambda: (lambda d: ready(d) and d)(self.collect(source)),
            PATIENCE, seen=lambda: self.collect(source))

    def polls(self, source, count: int) -> None:
        """Wait until the source read the BMC ``count`` times more."""
        for _ in range(count):
            waiting.wait_for(
                lambda before=source._poller.snapshot:
                source._poller.snapshot is not before, PATIENCE)


class TestReadings(RedfishSourceTestCase):

    def test_gpus_and_chassis(self):
        bmc = self.useFixture(redfish_bmc.StaticBmc(redfish_bmc.gpu_server(
            GPUS, inlet_c=23.5, chassis_power_w=3320.0, power_cap_w=3600.0)))
        draft = self.read(self.source(bmc.url),
                          lambda d: d.sensors.chassis_power_w is not None)
        self.assertEqual([_expected(g, n) for n, g in enumerate(GPUS)],
                         draft.gpus)
        self.assertEqual(sample.HostSensors(
            cpu_temperature_c=48.0, inlet_temperature_c=23.5,
            chassis_power_w=3320.0, chassis_power_cap_w=3600.0),
            draft.sensors)
        # The controller takes them.
        taken = samples.make(timestamp=NOW, gpus=draft.gpus,
                             sensors=draft.sensors,
                             collector=samples.COUNTERS, cpus=64)
        self.assertEqual(taken, validation.validate(
            samples.payload(taken), samples.POLICY, NOW))

    def test_legacy_thermal_and_power(self):
        # A BMC without EnvironmentMetrics: temperatures and thresholds
        # from the chassis' Thermal resource, by RelatedItem; no GPU power.
        bmc = self.useFixture(redfish_bmc.StaticBmc(redfish_bmc.gpu_server(
            GPUS, inlet_c=22.0, chassis_power_w=2980.0, legacy=True,
            power_cap_w=3100.0)))
        draft = self.read(self.source(bmc.url),
                          lambda d: d.sensors.chassis_power_w is not None)
        self.assertEqual(
            [dataclasses.replace(_expected(g, n), power_w=None,
                                 power_limit_w=None)
             for n, g in enumerate(GPUS)], draft.gpus)
        self.assertEqual((22.0, 2980.0, 3100.0), (
            draft.sensors.inlet_temperature_c,
            draft.sensors.chassis_power_w,
            draft.sensors.chassis_power_cap_w))

    def test_power_cap_off(self):
        # Capping off, as BMCs report it: no limit, a limit whose
        # control is disabled, a limit of 0 W, a legacy limit of null.
        for documents in (
                redfish_bmc.gpu_server(GPUS),
                redfish_bmc.gpu_server(GPUS, power_cap_w=3000.0,
                                       cap_mode='Disabled'),
                redfish_bmc.gpu_server(GPUS, power_cap_w=0.0),
                redfish_bmc.gpu_server(GPUS, legacy=True)):
            with self.subTest(documents['Chassis/1']):
                bmc = self.useFixture(redfish_bmc.StaticBmc(documents))
                source = self.source(bmc.url)
                draft = self.read(
                    source, lambda d: d.sensors.chassis_power_w is not None)
                source.close()
                self.assertEqual(3200.0, draft.sensors.chassis_power_w)
                self.assertIsNone(draft.sensors.chassis_power_cap_w)

    def test_tls(self):
        bmc = self.useFixture(redfish_bmc.StaticBmc(
            redfish_bmc.gpu_server(GPUS), tls=True))
        for options in ({'ca_file': bmc.certificate},
                        {'verify_tls': False}):
            with self.subTest(**options):
                source = self.source(bmc.url, **options)
                self.read(source, lambda d: len(d.gpus) == 3)
                source.close()
        # A certificate no CA vouches for: not read, logged.
        source = self.source(bmc.url)
        self.polls(source, 1)
        self.assertEqual([], self.collect(source).gpus)
        self.assertIn('CERTIFICATE_VERIFY_FAILED', self.log.output)

    def test_gpus_that_nvml_reads_are_left_to_it(self):
        bmc = self.useFixture(redfish_bmc.StaticBmc(redfish_bmc.gpu_server(
            GPUS)))
        source = self.source(bmc.url)
        visible = sample.GpuLoad(index=0, pci_bus_id=GPUS[1].address,
                                 name='NVIDIA H200', temperature_c=69.0)
        self.read(source, lambda d: d.sensors.chassis_power_w is not None)
        draft = self.collect(source, visible)
        self.assertEqual([(0, 'nvml'), (100, 'redfish'), (102, 'redfish')],
                         [(g.index, g.source) for g in draft.gpus])

    def test_slot_to_pci_address_to_guest(self):
        bmc = self.useFixture(redfish_bmc.StaticBmc(redfish_bmc.gpu_server(
            GPUS)))
        legacy = self.useFixture(guests.FakeGuests(1, args=(
            '-device', 'vfio-pci,host=0000:17:00.0,id=hostdev0,bus=pci.5')))
        current = self.useFixture(guests.FakeGuests(1, args=(
            '-device', json.dumps({'driver': 'vfio-pci',
                                   'host': '0000:3b:00.0',
                                   'id': 'hostdev0', 'bus': 'pci.6'}))))
        draft = self.read(self.source(bmc.url),
                          lambda d: d.gpus and d.gpus[0].instances)
        self.assertEqual(
            [_expected(GPUS[0], 0, (legacy.uuids[0],)),
             _expected(GPUS[1], 1),
             _expected(GPUS[2], 2, (current.uuids[0],))], draft.gpus)

    def test_a_read_too_old_is_absent(self):
        bmc = self.useFixture(redfish_bmc.StaticBmc(redfish_bmc.gpu_server(
            GPUS)))
        source = self.source(bmc.url)
        self.read(source, lambda d: d.sensors.chassis_power_w is not None)
        source.close()
        poller = source._poller
        poller.join(PATIENCE)
        # Older than two intervals and the timeout.
        poller.snapshot = dataclasses.replace(
            poller.snapshot, taken_at=poller.snapshot.taken_at - 7.5)
        draft = self.collect(source)
        self.assertEqual(
            [sample.GpuLoad(index=100 + n, pci_bus_id=g.address,
                            name=g.model, source='redfish')
             for n, g in enumerate(GPUS)], draft.gpus)
        self.assertEqual(sample.HostSensors(cpu_temperature_c=48.0),
                         draft.sensors)

    def test_no_bmc_configured(self):
        self.assertRaises(sources.SourceUnavailable, redfish.RedfishSource,
                          collector_conf())


class TestBrokenBmc(RedfishSourceTestCase):

    def test_bmc_down(self):
        url = f'http://127.0.0.1:{redfish_bmc.free_port()}'
        source = self.source(url)
        self.polls(source, 2)
        draft = self.collect(source)
        self.assertEqual([], draft.gpus)
        self.assertEqual(sample.HostSensors(cpu_temperature_c=48.0),
                         draft.sensors)
        self.assertEqual(1, self.log.output.count(
            f'BMC {url} unreadable, its readings reported absent'))

    def test_slow_bmc_does_not_hold_the_cycle(self):
        # A BMC that accepts the connection and never answers.
        held, release = threading.Event(), threading.Event()
        listener = socket.create_server(('127.0.0.1', 0))
        self.addCleanup(listener.close)

        def hold():
            connection, _ = listener.accept()
            with connection:
                held.set()
                release.wait()

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        self.addCleanup(holder.join)
        self.addCleanup(release.set)
        port = listener.getsockname()[1]
        source = self.source(f'http://127.0.0.1:{port}', timeout=60.0)
        self.assertTrue(held.wait(PATIENCE))
        draft = self.collect(source)
        # The cycle is over while the BMC still holds the request.
        self.assertTrue(holder.is_alive())
        self.assertEqual([], draft.gpus)
        self.assertIsNone(draft.sensors.chassis_power_w)

    def test_garbage_answers_are_absent_and_logged_once(self):
        documents = redfish_bmc.gpu_server(GPUS)
        gpu_1 = 'Systems/1/Processors/GPU1/EnvironmentMetrics'
        gpu_2 = 'Systems/1/Processors/GPU2/EnvironmentMetrics'
        documents[gpu_1] = '{"TemperatureCelsius": {"Reading": 6'
        documents[gpu_2]['TemperatureCelsius']['Reading'] = 'hot'
        documents['Chassis/1/ThermalSubsystem/ThermalMetrics'][
            'TemperatureSummaryCelsius'] = [24.0]
        bmc = self.useFixture(redfish_bmc.StaticBmc(documents))
        source = self.source(bmc.url)
        self.polls(source, 3)
        draft = self.collect(source)
        self.assertEqual(
            [sample.GpuLoad(index=100, pci_bus_id=GPUS[0].address,
                            name=GPUS[0].model, source='redfish'),
             sample.GpuLoad(index=101, pci_bus_id=GPUS[1].address,
                            name=GPUS[1].model, source='redfish'),
             _expected(GPUS[2], 2)], draft.gpus)
        self.assertIsNone(draft.sensors.inlet_temperature_c)
        self.assertEqual(3200.0, draft.sensors.chassis_power_w)
        for part in ('GPU PCIe Slot 1', 'GPU PCIe Slot 2',
                     'chassis inlet temperature'):
            with self.subTest(part=part):
                self.assertEqual(1, self.log.output.count(
                    f'{part} unreadable, reported absent'))

    def test_garbage_legacy_thermal(self):
        documents = redfish_bmc.gpu_server(GPUS, legacy=True)
        documents['Chassis/1/Thermal']['Temperatures'][1]['RelatedItem'] = [
            'GPU1']
        bmc = self.useFixture(redfish_bmc.StaticBmc(documents))
        source = self.source(bmc.url)
        self.polls(source, 2)
        draft = self.collect(source)
        self.assertEqual(
            [sample.GpuLoad(index=100 + n, pci_bus_id=g.address,
                            name=g.model, source='redfish')
             for n, g in enumerate(GPUS)], draft.gpus)
        self.assertIsNone(draft.sensors.inlet_temperature_c)
        self.assertEqual(3200.0, draft.sensors.chassis_power_w)
        self.assertEqual(1, self.log.output.count(
            'chassis thermal unreadable, reported absent'))

    def test_garbage_service_root(self):
        documents = redfish_bmc.gpu_server(GPUS)
        documents[''] = '<html>BMC firmware update in progress</html>'
        bmc = self.useFixture(redfish_bmc.StaticBmc(documents))
        source = self.source(bmc.url)
        self.polls(source, 2)
        draft = self.collect(source)
        self.assertEqual([], draft.gpus)
        self.assertEqual(1, self.log.output.count(
            f'BMC {bmc.url} unreadable'))
        # Fixed, it is read again.
        bmc.write('', redfish_bmc.gpu_server(GPUS)[''])
        self.read(source, lambda d: len(d.gpus) == 3)
        self.assertIn(f'BMC {bmc.url} readable again', self.log.output)


class TestVfioAddresses(base.BaseTestCase):

    CASES = [
        (['-device', 'vfio-pci,host=0000:17:00.0,id=hostdev0'],
         ['00000000:17:00.0']),
        (['-device', 'vfio-pci,id=hostdev1,host=3b:00.1'],
         ['00000000:3B:00.1']),
        (['-device', '{"driver":"vfio-pci","host":"0001:af:00.0"}'],
         ['00000001:AF:00.0']),
        (['-device', 'virtio-net-pci,host=0000:17:00.0'], []),
        (['-device', '{"driver":"vfio-pci","sysfsdev":"/sys/x"}'], []),
        (['-device', '{"driver": "vfio-pci", "host": 7}'], []),
        (['-device', '{not json'], []),
        (['-device', 'vfio-pci,host=garbage'], []),
        (['vfio-pci,host=0000:17:00.0'], []),
        (['-device'], []),
    ]

    def test_table(self):
        for args, expected in self.CASES:
            with self.subTest(args=args):
                self.assertEqual(expected, [str(a) for a in (
                    vfio.vfio_addresses(['qemu-system-x86_64', *args]))])
