"""How many devices a flavor's guest holds of the kind it asks for.

A mining rig's guest often holds several GPUs, each of which the host
must have free and whose draw the chassis' power budget must carry.  For
a GPU flavor nova's own request says how many: the counts of its
``pci_passthrough:alias`` (``NAME:COUNT[,NAME:COUNT...]``, passthrough)
and the amounts of its ``resources[GROUP]:VGPU`` and ``PGPU``, summed.
``cryptomine:devices=N`` overrides that: for an ASIC flavor (nova's
request names no miner), a GPU flavor whose devices are a custom
resource class, or one whose aliases include a device that is not a GPU.
A guest asking for an accelerator holds one where nothing says more.
"""

import re

from cryptomine_scheduler.placement import scoring

DEVICES_SPEC = 'cryptomine:devices'
PCI_ALIAS_SPEC = 'pci_passthrough:alias'
#: ``resources:VGPU``, ``resources1:PGPU``, ``resources_gpu:VGPU``...
_GPU_RESOURCE = re.compile(r'resources[A-Za-z0-9_-]*:(VGPU|PGPU)')


def _count(text: str, what: str) -> int:
    """A count of 0 or more, ValueError naming ``what`` otherwise."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f'{what}: {text!r} is not a count')
    return int(text)


def _alias_devices(value: str) -> int:
    """The devices of a ``pci_passthrough:alias`` value."""
    total = 0
    for request in value.split(','):
        name, colon, count = request.partition(':')
        if not (name.strip() and colon):
            raise ValueError(f'{PCI_ALIAS_SPEC}={value!r}: expected '
                             'NAME:COUNT[,NAME:COUNT...]')
        total += _count(count, PCI_ALIAS_SPEC)
    return total


def _requested_gpus(extra_specs: dict) -> int:
    """The GPUs nova's request in ``extra_specs`` asks for."""
    total = 0
    for key, value in extra_specs.items():
        if key == PCI_ALIAS_SPEC:
            total += _alias_devices(str(value))
        elif _GPU_RESOURCE.fullmatch(key):
            total += _count(str(value), key)
    return total


def count(extra_specs: dict, kind: scoring.Accelerator | None) -> int:
    """How many devices of ``kind`` a guest of the flavor holds: 0 for
    none (or ``cpu``); ValueError for a spec that cannot be counted."""
    if kind is None or kind is scoring.Accelerator.CPU:
        return 0
    value = extra_specs.get(DEVICES_SPEC)
    if value is not None:
        devices = _count(str(value), DEVICES_SPEC)
        if devices < 1:
            raise ValueError(f'{DEVICES_SPEC}={value!r}: a guest that asks '
                             f'for a {kind.value} holds 1 or more')
        return devices
    if kind is scoring.Accelerator.GPU:
        return _requested_gpus(extra_specs) or 1
    return 1
