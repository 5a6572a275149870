"""Check the ``gpu`` source against a real NVIDIA driver.

1. Reads every GPU at idle and prints each field.
2. Starts a load generator disguised as a guest (``qemu-system-x86_64
   ... -uuid U``, a matmul loop in torch, else cupy, on the first CUDA
   device for ``--load-seconds``) and samples every second, printing
   utilisation, power, temperature, clocks and throttle reasons.
3. Builds a full sample through the collector's own machinery (every
   source but ``asic``), signs it and runs the controller's validation.

PASS/FAIL lines: the load raised a GPU's utilisation, the guest's UUID was
found among the GPU's instances, validation accepted the sample.  Exits
non-zero on a FAIL.  Without a GPU it says ``no GPU`` and checks only the
sample (``--require-gpu`` makes that a failure).

Run from the repository root:
``.venv/bin/python benchmarks/gpu_device_check.py [--load-python PYTHON]``
"""

import argparse
import dataclasses
import json
import logging
import select
import subprocess
import sys
import time
import uuid

import _common
import oslo_messaging

from cryptomine_scheduler.control import service
from cryptomine_scheduler.telemetry import sample as sample_mod
from cryptomine_scheduler.telemetry import signing
from cryptomine_scheduler.telemetry import validation
from load_collector import cmd as collector_cmd
from load_collector import sources
from load_collector.sources import gpu as gpu_mod

HOST = 'gpu-device-check'
BUSY_PERCENT = 50.0
THROTTLE_REASONS = {0x1: 'GpuIdle', 0x2: 'ApplicationsClocks',
                    0x4: 'SwPowerCap', 0x8: 'HwSlowdown', 0x10: 'SyncBoost',
                    0x20: 'SwThermal', 0x40: 'HwThermal',
                    0x80: 'HwPowerBrake', 0x100: 'DisplayClock'}
# Run as ``qemu-system-x86_64 -c LOAD -uuid U -seconds S``; prints one
# line, ``ready <library>`` once the GPU is busy or ``none <why>``.
LOAD = '''
import sys, time
seconds = float(sys.argv[sys.argv.index('-seconds') + 1])
try:
    import torch
    assert torch.cuda.is_available(), 'no CUDA device'
    a = torch.randn(8192, 8192, device='cuda', dtype=torch.float16)
    sync, lib = torch.cuda.synchronize, f'torch {torch.__version__}'
except Exception as torch_error:
    try:
        import cupy
        a = cupy.random.rand(8192, 8192, dtype=cupy.float32)
        sync, lib = cupy.cuda.Device().synchronize, 'cupy'
    except Exception as cupy_error:
        print(f'none (torch: {torch_error}; cupy: {cupy_error})', flush=True)
        sys.exit(0)
a @ a
sync()
print('ready', lib, flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    for _ in range(20):
        a @ a
    sync()
'''


def _throttle(reasons: int | None) -> str:
    if reasons is None:
        return 'n/a'
    names = [name for bit, name in THROTTLE_REASONS.items() if reasons & bit]
    return f'{reasons:#06x} [{",".join(names) or "none"}]'


def _value(value, unit: str = '', digits: int = 0) -> str:
    return 'n/a' if value is None else f'{value:.{digits}f}{unit}'


def _collect(source: sources.Source) -> list[sample_mod.GpuLoad]:
    draft = sources.SampleDraft()
    source.collect(draft)
    return draft.gpus


def print_idle(source: gpu_mod.GpuSource) -> None:
    _common.heading('Every reading at idle')
    for load in _collect(source):
        print(f'GPU {load.index}:')
        for name, value in dataclasses.asdict(load).items():
            shown = _throttle(value) if name == 'throttle_reasons' else value
            print(f'  {name:<28} {shown}')
    runs = 50
    with _common.stopwatch() as spent:
        for _ in range(runs):
            _collect(source)
    print(f'collect(): {spent["cpu"] / runs * 1000:.3f} ms CPU per call '
          f'(driver time included), over {runs} calls')


def start_load(python: str, guest: str, seconds: float
               ) -> subprocess.Popen | None:
    """Start the load generator; return it once the GPU is busy."""
    process = subprocess.Popen(
        ['qemu-system-x86_64', '-c', LOAD, '-uuid', guest,
         '-seconds', str(seconds)],
        executable=python, stdout=subprocess.PIPE, text=True)
    ready, _, _ = select.select([process.stdout], [], [], 120.0)
    line = process.stdout.readline().strip() if ready else 'none (timeout)'
    print(f'load generator (pid {process.pid}): {line}')
    if not line.startswith('ready'):
        process.kill()
        process.wait()
        return None
    return process


def sample_under_load(source: gpu_mod.GpuSource, args) -> list[bool]:
    _common.heading(f'Under load, one line per GPU and second '
                    f'({args.samples} s)')
    guest = str(uuid.uuid4())
    process = start_load(args.load_python, guest, args.load_seconds)
    if process is None:
        print('no load generator available: readings below are at idle')
    peak, seen = 0.0, False
    for second in range(args.samples):
        for load in _collect(source):
            peak = max(peak, load.utilization_percent or 0.0)
            seen |= guest in load.instances
            print(f't={second:>2}s gpu{load.index} '
                  f'util {_value(load.utilization_percent, "%"):>5} '
                  f'mem {_value(load.memory_utilization_percent, "%"):>5} '
                  f'power {_value(load.power_w, digits=1)}/'
                  f'{_value(load.power_limit_w, " W")} '
                  f'temp {_value(load.temperature_c, " C")} '
                  f'sm {_value(load.sm_clock_mhz, " MHz")} '
                  f'throttle {_throttle(load.throttle_reasons)} '
                  f'guests {len(load.instances)}')
        time.sleep(1.0)
    if process is None:
        return []
    process.wait()
    busy = _common.check('peak GPU utilisation under load', peak,
                         BUSY_PERCENT, '%', higher_is_better=True)
    print(f'{"PASS" if seen else "FAIL"}  guest {guest} of the load '
          "generator among a GPU's instances")
    if not seen:
        print('      NVML lists host PIDs: in a container with its own PID '
              'namespace the guest cannot be found')
    return [busy, seen]


def check_full_sample() -> bool:
    """Sample with the collector's sources, sign, validate."""
    _common.heading('Full sample: collector sources, signed, validated')
    conf = _common.build_conf({'collector': {
        'host': HOST, 'sources': ['host', 'instances', 'sensors', 'gpu']}})
    transport = oslo_messaging.get_notification_transport(conf,
                                                          url='fake://')
    collector = collector_cmd.build_collector(conf, transport)
    collector.sample()  # the first CPU shares cover no interval
    time.sleep(1.0)
    sample = collector.sample()
    print(f'sensors: {sample.sensors}')
    print(f'gpus: {len(sample.gpus)}, instances: {len(sample.instances)}')
    wire = sample.to_wire()
    payload = json.loads(json.dumps(signing.envelope(
        wire, signing.derive_host_key(_common.SECRET, HOST))))
    try:
        checked = validation.validate(
            payload, service.validation_policy(conf), time.time())
    except validation.Rejected as exc:
        print(f'FAIL  validation rejected the sample: {exc}')
        return False
    finally:
        transport.cleanup()
    same = checked == sample
    print(f'{"PASS" if same else "FAIL"}  validation accepted the sample'
          f'{"" if same else ", but it changed on the way"}')
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--samples', type=int, default=10,
                        help='seconds sampled under load')
    parser.add_argument('--load-seconds', type=float, default=8.0,
                        help='seconds the load generator runs')
    parser.add_argument('--load-python', default=sys.executable,
                        help='interpreter with torch or cupy for the load')
    parser.add_argument('--require-gpu', action='store_true',
                        help='fail when NVML sees no GPU')
    args = parser.parse_args()
    _common.quiet_logging()
    # The sources' own lines: GPUs found, sources disabled and why.
    logging.getLogger('load_collector').setLevel(logging.INFO)
    _common.describe_machine()
    results = []
    try:
        source = gpu_mod.GpuSource(_common.build_conf())
    except sources.SourceUnavailable as exc:
        print(f'no GPU: {exc}')
        if args.require_gpu:
            print('FAIL  a GPU was required')
            results.append(False)
    else:
        try:
            print_idle(source)
            results += sample_under_load(source, args)
        finally:
            source.close()
    results.append(check_full_sample())
    return _common.verdict(results)


if __name__ == '__main__':
    sys.exit(main())
