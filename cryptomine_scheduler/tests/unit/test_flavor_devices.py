"""How many devices a flavor's guest holds, from its extra specs."""

from oslotest import base

from cryptomine_scheduler.placement import flavor_devices
from cryptomine_scheduler.placement import scoring

A = scoring.Accelerator


class TestCount(base.BaseTestCase):

    def test_table(self):
        cases = [
            # (extra specs, kind, devices)
            ({}, None, 0),
            ({'pci_passthrough:alias': 'rtx:4'}, A.CPU, 0),
            ({}, A.GPU, 1),
            ({}, A.ASIC, 1),
            ({'pci_passthrough:alias': 'rtx3090:6'}, A.GPU, 6),
            ({'pci_passthrough:alias': 'a100:2, h100 :1'}, A.GPU, 3),
            ({'resources:VGPU': '1'}, A.GPU, 1),
            ({'resources1:VGPU': '2', 'resources_big:PGPU': '2'}, A.GPU, 4),
            ({'pci_passthrough:alias': 'rtx:2', 'resources:VGPU': '1'},
             A.GPU, 3),
            # Other resources are not GPUs.
            ({'resources:CUSTOM_FPGA': '2', 'resources:VCPU': '8'},
             A.GPU, 1),
            # The operator's word: a custom class, or an alias with a NIC.
            ({'resources:CUSTOM_RTX_4090': '8', 'cryptomine:devices': '8'},
             A.GPU, 8),
            ({'pci_passthrough:alias': 'rtx:4,nic:1',
              'cryptomine:devices': ' 4 '}, A.GPU, 4),
            ({'cryptomine:devices': '3'}, A.ASIC, 3),
            # An ASIC flavor's miners are not PCI devices.
            ({'pci_passthrough:alias': 'rtx:4'}, A.ASIC, 1),
        ]
        for specs, kind, devices in cases:
            with self.subTest(specs=specs, kind=kind):
                self.assertEqual(devices,
                                 flavor_devices.count(specs, kind))

    def test_unreadable_counts_are_errors(self):
        for specs, message in (
                ({'pci_passthrough:alias': 'rtx'}, 'NAME:COUNT'),
                ({'pci_passthrough:alias': ':2'}, 'NAME:COUNT'),
                ({'pci_passthrough:alias': 'rtx:two'}, "'two' is not a count"),
                ({'resources:VGPU': '-1'}, 'resources:VGPU'),
                ({'cryptomine:devices': '0'}, 'holds 1 or more'),
                ({'cryptomine:devices': '2.5'}, 'not a count')):
            with self.subTest(specs=specs):
                error = self.assertRaises(ValueError, flavor_devices.count,
                                          specs, A.GPU)
                self.assertIn(message, str(error))
