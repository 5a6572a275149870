"""PCI devices passed through to guests, from qemu's command lines.

libvirt gives a guest a host PCI device (a GPU bound to ``vfio-pci``) as
``-device vfio-pci,host=0000:17:00.0,id=hostdev0,...`` or, since libvirt
7, as ``-device {"driver":"vfio-pci","host":"0000:17:00.0",...}``.  A
process is a guest as the ``instances`` source tells it
(:func:`~load_collector.sources.instances.instance_uuid`).
"""

import dataclasses
import json
import os
import re

from load_collector.sources import instances

_ADDRESS = re.compile(r'(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):'
                      r'([0-9a-fA-F]{1,2})\.([0-7])')


@dataclasses.dataclass(frozen=True, order=True)
class PciAddress:
    """A PCI function's domain (segment), bus, device and function."""

    domain: int
    bus: int
    device: int
    function: int

    @classmethod
    def parse(cls, text: str) -> 'PciAddress':
        """Read ``[DOMAIN:]BUS:DEVICE.FUNCTION`` (hex); ValueError if not."""
        match = _ADDRESS.fullmatch(text)
        if match is None:
            raise ValueError(f'not a PCI address: {text!r}')
        domain, bus, device, function = match.groups()
        return cls(int(domain or '0', 16), int(bus, 16), int(device, 16),
                   int(function))

    def __str__(self) -> str:
        """NVML's spelling, ``00000000:17:00.0``."""
        return (f'{self.domain:08X}:{self.bus:02X}:{self.device:02X}.'
                f'{self.function:X}')


def _device_host(argument: str) -> str | None:
    """The ``host`` of a ``-device`` argument of driver vfio-pci."""
    if argument.startswith('{'):
        try:
            device = json.loads(argument)
        except ValueError:
            return None
        if isinstance(device, dict) and device.get('driver') == 'vfio-pci':
            host = device.get('host')
            return host if isinstance(host, str) else None
        return None
    driver, *options = argument.split(',')
    if driver != 'vfio-pci':
        return None
    return next((o[len('host='):] for o in options
                 if o.startswith('host=')), None)


def vfio_addresses(cmdline: list[str]) -> list[PciAddress]:
    """The host PCI addresses a qemu command line passes through."""
    found = []
    for option, argument in zip(cmdline, cmdline[1:], strict=False):
        host = _device_host(argument) if option == '-device' else None
        if host is not None:
            try:
                found.append(PciAddress.parse(host))
            except ValueError:
                continue  # a sysfsdev= device, or not an address
    return found


def passthrough_guests(pattern: re.Pattern, proc: str = '/proc'
                       ) -> dict[PciAddress, str]:
    """The instance UUID of the guest holding each passed-through device.

    Only the command lines that mention ``vfio-pci`` are split.
    """
    holders = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, 'cmdline'), 'rb') as f:
                raw = f.read()
        except OSError:
            continue  # gone
        if b'vfio-pci' not in raw:
            continue
        cmdline = raw.decode(errors='replace').split('\0')[:-1]
        guest = instances.instance_uuid(cmdline, pattern)
        if guest is not None:
            holders.update(dict.fromkeys(vfio_addresses(cmdline), guest))
    return holders
