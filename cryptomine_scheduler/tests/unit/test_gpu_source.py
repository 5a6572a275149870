import logging
import os
import sys
from unittest import mock

import fixtures
from oslotest import base

from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests import fake_nvml
from cryptomine_scheduler.tests import guests
from cryptomine_scheduler.tests.config import collector_conf
from load_collector import cmd as collector_cmd
from load_collector import sources
from load_collector.sources import gpu
from load_collector.sources import host

MIB = 1024 * 1024
VM = '0b5c6d3e-8f1a-4e2b-9c3d-4e5f6a7b8c9d'


def _gpu(n: int = 0, **readings) -> fake_nvml.FakeGpu:
    return fake_nvml.FakeGpu(pci_bus_id=f'00000000:{0x17 + n:02x}:00.0'
                             .encode(), **readings)


class GpuSourceTestCase(base.BaseTestCase):

    def source(self, *gpus: fake_nvml.FakeGpu, conf=None, **options
               ) -> tuple[gpu.GpuSource, fake_nvml.FakeNvml]:
        nvml = fake_nvml.FakeNvml(list(gpus), **options)
        source = gpu.GpuSource(conf or collector_conf(), nvml=nvml)
        self.addCleanup(source.close)
        return source, nvml

    @staticmethod
    def collect(source: gpu.GpuSource) -> list[sample.GpuLoad]:
        draft = sources.SampleDraft()
        source.collect(draft)
        return draft.gpus


class TestReadings(GpuSourceTestCase):

    def test_values_and_units(self):
        source, _ = self.source(
            _gpu(utilization=(87, 41), memory_used=1536 * MIB,
                 memory_total=143771 * MIB, power_mw=123_456,
                 power_limit_mw=700_000, temperature=54,
                 slowdown_temperature=89, fan_percent=35, sm_clock=1980,
                 memory_clock=3201, throttle_reasons=0x24),
            _gpu(1, name='NVIDIA H200 NVL'))
        self.assertEqual([
            sample.GpuLoad(
                index=0, pci_bus_id='00000000:17:00.0', name='NVIDIA H200',
                utilization_percent=87.0, memory_utilization_percent=41.0,
                memory_used_mb=1536.0, memory_total_mb=143771.0,
                power_w=123.456, power_limit_w=700.0, temperature_c=54.0,
                slowdown_temperature_c=89.0, fan_percent=35.0,
                sm_clock_mhz=1980.0, memory_clock_mhz=3201.0,
                throttle_reasons=0x24),
            sample.GpuLoad(
                index=1, pci_bus_id='00000000:18:00.0',
                name='NVIDIA H200 NVL', utilization_percent=0.0,
                memory_utilization_percent=0.0, memory_used_mb=0.0,
                memory_total_mb=141 * 1024.0, power_w=75.0,
                power_limit_w=700.0, temperature_c=30.0,
                slowdown_temperature_c=89.0, sm_clock_mhz=345.0,
                memory_clock_mhz=3201.0, throttle_reasons=0x1),
        ], self.collect(source))

    def test_readings_follow_the_gpu(self):
        board = _gpu(utilization=(5, 1))
        source, _ = self.source(board)
        board.utilization, board.power_mw = (99, 60), 698_000
        load, = self.collect(source)
        self.assertEqual((99.0, 60.0, 698.0),
                         (load.utilization_percent,
                          load.memory_utilization_percent, load.power_w))

    def test_throttle_bitmask_passed_through(self):
        # Event reasons in binding and driver, in neither, in the binding
        # only: the older ThrottleReasons call then answers.
        versions = [{}, {'event_reasons_binding': False},
                    {'event_reasons_driver': False}]
        for reasons in (0x0, 0x1, 0x4, 0x20 | 0x40, 0x4 | 0x8 | 0x80):
            for version in versions:
                with self.subTest(reasons=reasons, **version):
                    source, _ = self.source(_gpu(throttle_reasons=reasons),
                                            **version)
                    self.assertEqual(reasons,
                                     self.collect(source)[0].throttle_reasons)

    def test_fan_above_rated_speed_is_capped(self):
        source, _ = self.source(_gpu(fan_percent=112))
        self.assertEqual(100.0, self.collect(source)[0].fan_percent)


class TestAbsentReadings(GpuSourceTestCase):

    # Each reading made absent, and the fields it leaves None.
    CASES = [
        ('fan_percent', fake_nvml.NVMLError_NotSupported, ['fan_percent']),
        ('utilization', fake_nvml.NVMLError_NotSupported,
         ['utilization_percent', 'memory_utilization_percent']),
        ('power_limit_mw', fake_nvml.NVMLError_NoPermission,
         ['power_limit_w']),
        ('power_mw', fake_nvml.NVMLError_NotSupported, ['power_w']),
        ('temperature', fake_nvml.NVMLError_NotSupported,
         ['temperature_c']),
        ('slowdown_temperature', fake_nvml.NVMLError_NotSupported,
         ['slowdown_temperature_c']),
        ('memory_used', fake_nvml.NVMLError_NotSupported,
         ['memory_used_mb', 'memory_total_mb']),
        ('sm_clock', fake_nvml.NVMLError_NotSupported, ['sm_clock_mhz']),
        ('throttle_reasons', fake_nvml.NVMLError_FunctionNotFound,
         ['throttle_reasons']),
    ]

    def test_absent_field_is_none_and_the_rest_read(self):
        complete, = self.collect(self.source(_gpu(fan_percent=40))[0])
        for field, error, absent in self.CASES:
            with self.subTest(field=field):
                board = _gpu(fan_percent=40)
                setattr(board, field, error)
                load, = self.collect(self.source(board)[0])
                for name, value in vars(complete).items():
                    self.assertEqual(None if name in absent else value,
                                     getattr(load, name), name)

    def test_unsupported_processes_and_vgpus_mean_no_instances(self):
        source, _ = self.source(_gpu(
            compute_pids=fake_nvml.NVMLError_NotSupported,
            graphics_pids=fake_nvml.NVMLError_NotSupported))
        self.assertEqual((), self.collect(source)[0].instances)


class TestFailingGpu(GpuSourceTestCase):

    def test_lost_gpu_reported_without_readings_logged_per_transition(self):
        logger = self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        source, nvml = self.source(_gpu(utilization=(50, 5)), _gpu(1))
        healthy = self.collect(source)
        nvml.gpus[0].lost = True
        for _ in range(3):
            lost, other = self.collect(source)
            self.assertEqual(sample.GpuLoad(0, '00000000:17:00.0',
                                            'NVIDIA H200'), lost)
            self.assertEqual(healthy[1], other)
        nvml.gpus[0].lost = False
        self.assertEqual(healthy, self.collect(source))
        self.collect(source)
        lines = [line for line in logger.output.splitlines()
                 if 'GPU 0' in line]
        self.assertEqual(2, len(lines), logger.output)
        self.assertIn('GPU is lost', lines[0])
        self.assertIn('readable again', lines[1])

    def test_gpu_lost_at_start_is_left_out(self):
        logger = self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        source, _ = self.source(_gpu(lost=True), _gpu(1))
        self.assertEqual([1], [g.index for g in self.collect(source)])
        self.assertIn('GPU 0 left out, NVML cannot describe it: GPU is lost',
                      logger.output)


class TestLifecycle(base.BaseTestCase):

    def _unavailable(self, nvml=None) -> str:
        return str(self.assertRaises(sources.SourceUnavailable,
                                     gpu.GpuSource, collector_conf(),
                                     nvml=nvml))

    def test_no_driver_or_library(self):
        for error, text in (
                (fake_nvml.NVMLError_LibraryNotFound,
                 'NVML Shared Library Not Found'),
                (fake_nvml.NVMLError_DriverNotLoaded, 'Driver Not Loaded')):
            with self.subTest(error=error):
                self.assertEqual(
                    f'NVML cannot start: {text}',
                    self._unavailable(fake_nvml.FakeNvml(
                        [_gpu()], init_error=error)))

    def test_no_gpu_releases_nvml(self):
        nvml = fake_nvml.FakeNvml([])
        self.assertEqual('NVML sees no usable GPU', self._unavailable(nvml))
        self.assertEqual(0, nvml.initialised)

    def test_no_pynvml_module(self):
        with mock.patch.dict(sys.modules, {'pynvml': None}):
            message = self._unavailable()
        self.assertIn('pynvml (nvidia-ml-py) cannot be imported', message)

    def test_collector_skips_it_with_one_line(self):
        logger = self.useFixture(fixtures.FakeLogger(
            name=collector_cmd.__name__, level=logging.INFO))
        nvml = fake_nvml.FakeNvml(
            [], init_error=fake_nvml.NVMLError_DriverNotLoaded)
        with mock.patch.dict(sys.modules, {'pynvml': nvml}):
            loaded = collector_cmd.load_sources(
                collector_conf(sources=['host', 'gpu']))
        self.assertEqual([host.HostSource], [type(s) for s in loaded])
        self.assertEqual(['Source gpu disabled on this host: NVML cannot '
                          'start: Driver Not Loaded'],
                         logger.output.splitlines())

    def test_close_shuts_nvml_down(self):
        nvml = fake_nvml.FakeNvml([_gpu()])
        source = gpu.GpuSource(collector_conf(), nvml=nvml)
        self.assertEqual(1, nvml.initialised)
        source.close()
        self.assertEqual(0, nvml.initialised)


class TestInstances(GpuSourceTestCase):

    def test_processes_and_vgpus_mapped_to_instances(self):
        fake = self.useFixture(guests.FakeGuests(3))
        pids = [p.pid for p in fake.processes]
        gone = guests.FakeGuests(1)
        with gone:
            gone_pid = gone.processes[0].pid
        source, _ = self.source(
            # A guest's process on two GPUs, and this test runner that is
            # no guest.
            _gpu(compute_pids=(pids[0], os.getpid()),
                 graphics_pids=(pids[1],)),
            _gpu(1, compute_pids=(pids[0], gone_pid),
                 vgpu_vm_ids=(VM.upper(), 'instance-0000002a')),
            _gpu(2, compute_pids=(pids[2],), vgpu_vm_ids=()))
        for _ in range(2):  # The second time from what was learnt.
            self.assertEqual(
                [tuple(sorted(fake.uuids[:2])),
                 tuple(sorted([fake.uuids[0], VM])),
                 (fake.uuids[2],)],
                [g.instances for g in self.collect(source)])

    def test_instance_of_a_gpu_changes_with_its_processes(self):
        fake = self.useFixture(guests.FakeGuests(2))
        board = _gpu(compute_pids=(fake.processes[0].pid,))
        source, _ = self.source(board)
        self.assertEqual((fake.uuids[0],), self.collect(source)[0].instances)
        board.compute_pids = (fake.processes[1].pid,)
        self.assertEqual((fake.uuids[1],), self.collect(source)[0].instances)

    def test_custom_pattern(self):
        fake = self.useFixture(guests.FakeGuests(1))
        source, _ = self.source(
            _gpu(compute_pids=(fake.processes[0].pid,)),
            conf=collector_conf(instance_cmdline_regex=r'(^|/)qemu-kvm$'))
        self.assertEqual((), self.collect(source)[0].instances)
