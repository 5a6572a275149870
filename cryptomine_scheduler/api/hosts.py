"""``/v1/hosts``: every host's load, one host's, and its history and its
devices'."""

import time

from cryptomine_scheduler.api import documents
from cryptomine_scheduler.api import errors
from cryptomine_scheduler.api import policies
from cryptomine_scheduler.api import request as request_mod
from cryptomine_scheduler.telemetry import sample as sample_mod

#: History of the last hour unless ``since`` says otherwise.
DEFAULT_HISTORY = 3600.0
#: The devices' reading unless ``metric`` says otherwise.
DEFAULT_DEVICE_METRIC = {sample_mod.DeviceKind.GPU: 'temperature_c',
                         sample_mod.DeviceKind.ASIC: 'hashrate_5s_ghs'}


def _snapshot_fields(snap) -> dict:
    return {'generated_at': snap.generated_at, 'window': snap.window}


def _host(snap, name: str, counters: dict) -> dict:
    """The host's document, with the guests placed there still warming
    up (None: the controller does not learn placements)."""
    found = documents.host(name, snap.hosts.get(name), counters.get(name))
    found['warming'] = (documents.warming(snap.pending.get(name, ()))
                        if snap.learns_placements else None)
    return found


def list_hosts(req: request_mod.ApiRequest) -> dict:
    """The hosts the controller has summaries of, and the names of the
    compute hosts of placement it holds no sample of."""
    req.authorize(policies.HOST_LIST)
    snap = req.controller.snapshot()
    counters = req.controller.collector_counters()
    return {**_snapshot_fields(snap), 'hosts': [
        _host(snap, name, counters) for name in sorted(snap.hosts)],
        'never_sampled': req.controller.never_sampled()}


def show_host(req: request_mod.ApiRequest, host: str) -> dict:
    """The host's load, instances, collector and warming guests; a host
    stored but silent for longer than the summary window has no load."""
    req.authorize(policies.HOST_GET)
    snap = req.controller.snapshot()
    if host not in snap.hosts:
        req.controller.known_host(host)
    found = _host(snap, host, req.controller.collector_counters(host))
    found['instances'] = [documents.instance(uuid, i) for uuid, i
                          in sorted(snap.instances.items())
                          if i.host == host]
    return {**_snapshot_fields(snap), 'host': found}


def host_history(req: request_mod.ApiRequest, host: str) -> dict:
    """``?metric=`` (a host metric, default ``cpu_percent``) since
    ``?since=`` (Unix time, default an hour ago)."""
    req.authorize(policies.HOST_GET)
    metric = req.metric(sample_mod.HostMetric,
                        sample_mod.HostMetric.CPU_PERCENT)
    since = req.param('since', float, time.time() - DEFAULT_HISTORY)
    return {'history': req.controller.host_history(host, since, metric)}


def device_query(req: request_mod.ApiRequest
                 ) -> tuple[sample_mod.DeviceKind, str, float]:
    """A devices' history's ``?kind=`` (``gpu`` or ``asic``), ``?metric=``
    (one of its readings, default :data:`DEFAULT_DEVICE_METRIC`) and
    ``?since=`` (Unix time, default an hour ago)."""
    try:
        kind = sample_mod.DeviceKind(req.param('kind', str, None))
    except ValueError:
        raise errors.BadRequest(
            'kind must be one of '
            f'{", ".join(k.value for k in sample_mod.DeviceKind)}') from None
    return (kind, req.param('metric', str, DEFAULT_DEVICE_METRIC[kind]),
            req.param('since', float, time.time() - DEFAULT_HISTORY))


def device_history(req: request_mod.ApiRequest, host: str) -> dict:
    """One reading of each of the host's devices of a kind
    (:func:`device_query`)."""
    req.authorize(policies.HOST_GET)
    kind, metric, since = device_query(req)
    return {'device_history': req.controller.device_history(
        host, kind, since, metric)}
