"""Builders of valid samples and payloads for tests."""

import dataclasses
import uuid

from cryptomine_scheduler import sample
from cryptomine_scheduler import signing
from cryptomine_scheduler import validation

SECRET = 'test-master-secret-0123456789'
POLICY = validation.Policy(master_secret=SECRET, max_clock_skew=60.0,
                           max_age=86400.0)


def host_load(cpu: float = 10.0, mem: float = 40.0) -> sample.HostLoad:
    return sample.HostLoad(cpu_percent=cpu, load_1=1.0, load_5=0.8,
                           load_15=0.5, mem_used_mb=4000.0,
                           mem_available_mb=6000.0, mem_percent=mem,
                           swap_used_mb=0.0, swap_percent=0.0)


def instance(n: int, cpu: float = 5.0, rss: float = 512.0):
    return sample.InstanceLoad(uuid=str(uuid.UUID(int=n)), cpu_percent=cpu,
                               rss_mb=rss)


def make(host: str = 'compute-1', seq: int = 1, timestamp: float = 1000.0,
         cpu: float = 10.0, mem: float = 40.0,
         instances=()) -> sample.LoadSample:
    return sample.LoadSample(host=host, seq=seq, timestamp=timestamp,
                             host_load=host_load(cpu, mem),
                             instances=tuple(instances))


def payload(s: sample.LoadSample, secret: str = SECRET,
            key_host: str | None = None) -> dict:
    """Sign ``s`` with the key of ``key_host`` (default: its own host)."""
    key = signing.derive_host_key(secret, key_host or s.host)
    return signing.envelope(s.to_wire(), key)


def replace_load(s: sample.LoadSample, **fields) -> sample.LoadSample:
    return dataclasses.replace(
        s, host_load=dataclasses.replace(s.host_load, **fields))
