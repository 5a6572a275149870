"""Builders of valid samples and payloads for tests."""

import dataclasses
import json
import uuid

from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.telemetry import signing
from cryptomine_scheduler.telemetry import validation

NO_SENSORS = sample.HostSensors()
SECRET = 'test-master-secret-0123456789'
LIMITS = validation.Limits(sample_bytes=2 ** 20, instances=512, gpus=32,
                           asics=512)
POLICY = validation.Policy(master_secret=SECRET, max_clock_skew=60.0,
                           max_age=86400.0, limits=LIMITS)


def host_load(cpu: float = 10.0, mem: float = 40.0) -> sample.HostLoad:
    return sample.HostLoad(cpu_percent=cpu, load_1=1.0, load_5=0.8,
                           load_15=0.5, mem_used_mb=4000.0,
                           mem_available_mb=6000.0, mem_percent=mem,
                           swap_used_mb=0.0, swap_percent=0.0)


def instance(n: int, cpu: float = 5.0, rss: float = 512.0):
    return sample.InstanceLoad(uuid=str(uuid.UUID(int=n)), cpu_percent=cpu,
                               rss_mb=rss)


def gpu(index: int = 0, util: float = 98.0, temp: float = 70.0,
        power: float = 300.0, limit: float = 350.0, throttle: int = 0,
        instances=(), clock: float | None = 1410.0) -> sample.GpuLoad:
    return sample.GpuLoad(
        index=index, pci_bus_id=f'00000000:{index + 1:02X}:00.0',
        name='NVIDIA A100', utilization_percent=util,
        memory_utilization_percent=40.0, memory_used_mb=20000.0,
        memory_total_mb=40960.0, power_w=power, power_limit_w=limit,
        temperature_c=temp, slowdown_temperature_c=89.0, fan_percent=None,
        sm_clock_mhz=clock, memory_clock_mhz=1215.0,
        throttle_reasons=throttle, instances=tuple(instances))


def asic(n: int = 1, hashrate: float = 13500.0, errors: int = 10,
         power: float | None = 1300.0, available: bool = True,
         instance_uuid: str | None = None) -> sample.AsicLoad:
    if not available:
        return sample.AsicLoad(miner=f'10.0.0.{n}:4028', available=False,
                               instance=instance_uuid)
    return sample.AsicLoad(
        miner=f'10.0.0.{n}:4028', available=True, instance=instance_uuid,
        hashrate_5s_ghs=hashrate, hashrate_avg_ghs=hashrate,
        accepted_shares=1000, rejected_shares=3, hardware_errors=errors,
        temperature_c=75.0, fan_rpm_min=4800.0, chains_total=3,
        chains_active=3, power_w=power)


COUNTERS = sample.CollectorCounters(dropped=2, buffered=5,
                                    publish_failures=3, source_errors=1)


def make(host: str = 'compute-1', seq: int = 1, timestamp: float = 1000.0,
         cpu: float = 10.0, mem: float = 40.0, instances=(), gpus=(),
         asics=(), sensors=NO_SENSORS,
         collector: sample.CollectorCounters | None = None,
         cpus: int | None = None) -> sample.LoadSample:
    """A sample; of schema 1 unless it has ``collector`` counters, of
    schema 3 with ``cpus`` too."""
    return sample.LoadSample(host=host, seq=seq, timestamp=timestamp,
                             host_load=host_load(cpu, mem),
                             instances=tuple(instances), sensors=sensors,
                             gpus=tuple(gpus), asics=tuple(asics),
                             collector=collector, cpus=cpus)


def payload(s: sample.LoadSample, secret: str = SECRET,
            key_host: str | None = None) -> dict:
    """Sign ``s`` with the key of ``key_host`` (default: its own host)."""
    key = signing.derive_host_key(secret, key_host or s.host)
    return signing.envelope(s.to_wire(), key)


def any_text_envelope(wire, key: bytes) -> dict:
    """An envelope of the current form whose text Python's encoder wrote:
    it writes what the collector's refuses (NaN, integers beyond 64 bits,
    lone surrogates), as a broken or hostile sender could."""
    text = json.dumps(wire)
    return {'signed': text, 'signature': signing.mac(text.encode(), key)}


def older_envelope(wire, key: bytes) -> dict:
    """An envelope of the form collectors sent before the signed text:
    the sample as an object, signed in its canonical bytes."""
    return {'sample': wire,
            'signature': signing.mac(signing.canonical_bytes(wire), key)}


def replace_load(s: sample.LoadSample, **fields) -> sample.LoadSample:
    return dataclasses.replace(
        s, host_load=dataclasses.replace(s.host_load, **fields))
