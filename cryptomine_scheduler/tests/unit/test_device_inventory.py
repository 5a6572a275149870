from oslotest import base

from cryptomine_scheduler.placement import device_inventory as di

Count = di.DeviceCount


class TestDeviceClasses(base.BaseTestCase):

    def test_kind_of_each_class(self):
        classes = di.DEFAULT_CLASSES
        for resource_class, kind in (
                ('PGPU', 'gpu'), ('VGPU', 'gpu'),
                ('CUSTOM_PCI_10DE_2330', 'gpu'),   # NVIDIA H100
                ('CUSTOM_PCI_1002_740F', 'gpu'),   # AMD MI210
                ('CUSTOM_GPU_A100', 'gpu'),
                ('CUSTOM_ASIC_MINER', 'asic'),
                ('CUSTOM_PCI_8086_1572', None),    # an Intel NIC
                ('CUSTOM_PCI_10DE', None),         # no product: no match
                ('VCPU', None), ('MEMORY_MB', None), ('DISK_GB', None),
                ('VGPU_DISPLAY_HEAD', None),
                ('pgpu', None)):                   # classes are upper case
            with self.subTest(resource_class=resource_class):
                self.assertEqual(kind, classes.kind(resource_class))

    def test_configured_patterns(self):
        classes = di.DeviceClasses(gpu=('CUSTOM_RTX*',),
                                   asic=('CUSTOM_S19', 'CUSTOM_L7'))
        self.assertEqual('gpu', classes.kind('CUSTOM_RTX_4090'))
        self.assertIsNone(classes.kind('PGPU'))
        self.assertEqual('asic', classes.kind('CUSTOM_L7'))
        self.assertIsNone(classes.kind('CUSTOM_S19J'))

    def test_count_of_a_provider(self):
        counted = di.DEFAULT_CLASSES.count(
            {'VGPU': 16, 'CUSTOM_ASIC_MINER': 4, 'VCPU': 64, 'PGPU': 0},
            {'VGPU': 5, 'CUSTOM_ASIC_MINER': 9, 'VCPU': 60})
        # Usage above the capacity (reserved raised after allocation)
        # leaves none free, never a negative count.
        self.assertEqual(di.HostDevices(gpu=Count(16, 5),
                                        asic=Count(4, 4)), counted)
        self.assertEqual((11, 0), (counted.gpu.free, counted.asic.free))

    def test_total_and_wire(self):
        summed = di.total([di.HostDevices(gpu=Count(8, 2)),
                           di.HostDevices(gpu=Count(1, 1),
                                          asic=Count(20, 3))])
        self.assertEqual(di.HostDevices(gpu=Count(9, 3), asic=Count(20, 3)),
                         summed)
        self.assertEqual({'gpu': [9, 3], 'asic': [20, 3]}, summed.wire())
        self.assertEqual(summed, di.HostDevices.from_wire(summed.wire()))
        self.assertEqual({}, di.HostDevices().wire())
        self.assertFalse(di.total([]))
        self.assertTrue(di.HostDevices(asic=Count(1, 1)))
