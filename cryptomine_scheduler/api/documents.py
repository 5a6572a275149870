"""Hosts as the API shows them, and back.

The controller's snapshot keeps each host's statistics as rows of
numbers; the API names them (``{"cpu_percent": {"last": 66.5, ...}}``,
``null`` where a value is unknown, JSON having no NaN), and a client
reads a document back into the :class:`~.snapshot.HostView` that the
scoring works on.
"""

import math
from collections.abc import Sequence

import numpy as np

from cryptomine_scheduler.history import mining
from cryptomine_scheduler.history import snapshot
from cryptomine_scheduler.history import summaries
from cryptomine_scheduler.placement import device_inventory
from cryptomine_scheduler.telemetry import collector_counters

STATS = tuple(s.name.lower() for s in summaries.Stat)


def _named(stats: np.ndarray, metrics) -> dict:
    return {metric.value: {stat: None if math.isnan(value) else value
                           for stat, value in zip(STATS, row, strict=True)}
            for metric, row in zip(metrics, stats.tolist(), strict=True)}


def _rows(named: dict, metrics) -> np.ndarray:
    # A statistic or metric an older server does not name reads as
    # unknown.
    return np.array([[np.nan if (v := named.get(m.value, {}).get(s)) is None
                      else v for s in STATS] for m in metrics],
                    dtype=float)


def _series(view: snapshot.SeriesView, metrics) -> dict:
    return {'newest': view.newest, 'samples': view.samples,
            'summaries': _named(view.stats, metrics)}


_DEVICE_KINDS = ('gpu', 'asic')


def _devices(devices: device_inventory.HostDevices | None) -> dict | None:
    """Placement's GPUs and miners of a host by kind, None when it
    counts none (or the controller does not read placement)."""
    if not devices:
        return None
    return {kind: {'total': count.total, 'used': count.used}
            for kind in _DEVICE_KINDS
            if (count := getattr(devices, kind)).total}


def _devices_view(named: dict | None) -> device_inventory.HostDevices | None:
    # A kind a newer server names is left out.
    if named is None:
        return None
    return device_inventory.HostDevices(**{
        kind: device_inventory.DeviceCount(named[kind]['total'],
                                           named[kind]['used'])
        for kind in _DEVICE_KINDS if kind in named})


def host(name: str, view: snapshot.HostView | None,
         reported: collector_counters.Reported | None) -> dict:
    """A host's load (None: no sample within the summary window), with
    placement's count of its devices, and its collector's newest
    counters (None: it sent none)."""
    load = None if view is None else {
        **_series(view, snapshot.HOST_METRICS),
        'mining': None if view.mining_stats is None else _named(
            view.mining_stats, mining.METRICS),
        'devices': _devices(view.devices)}
    return {'name': name, 'load': load,
            'collector': None if reported is None else reported.wire()}


def instance(uuid: str, view: snapshot.InstanceView) -> dict:
    """A guest's load, and what the device it holds lost
    (``device_loss``, 0-1, :mod:`.mining`; None when it holds none or
    that is not known yet)."""
    return {'uuid': uuid, 'host': view.host,
            **_series(view, snapshot.INSTANCE_METRICS),
            'device_loss': view.device_loss}


def warming(guests: Sequence[snapshot.PendingView]) -> list[dict]:
    """Guests placed on a host and still warming up, as the nova filter
    counts them against it: their size and expected load (% of their
    vCPUs; None: nova-scheduler's default)."""
    return [{'uuid': g.uuid, 'vcpus': g.vcpus, 'memory_mb': g.memory_mb,
             'expected_load_percent': g.expected_load_percent,
             'gpus': g.gpus} for g in guests]


def warming_views(document: dict, host: str
                  ) -> tuple[snapshot.PendingView, ...] | None:
    """A host document's :func:`warming` guests as views (None from an
    API or a controller that has none to say)."""
    guests = document.get('warming')
    return None if guests is None else tuple(
        snapshot.PendingView(host=host, **guest) for guest in guests)


def host_view(document: dict, now: float) -> snapshot.HostView | None:
    """A :func:`host` document's load as a view, ``now`` its snapshot's
    time."""
    load = document['load']
    if load is None:
        return None
    return snapshot.HostView(
        newest=load['newest'], age=now - load['newest'],
        samples=load['samples'],
        stats=_rows(load['summaries'], snapshot.HOST_METRICS),
        mining_stats=None if load['mining'] is None else _rows(
            load['mining'], mining.METRICS),
        devices=_devices_view(load.get('devices')))  # older servers: none


def instance_view(document: dict, now: float) -> snapshot.InstanceView:
    return snapshot.InstanceView(
        newest=document['newest'], age=now - document['newest'],
        samples=document['samples'],
        stats=_rows(document['summaries'], snapshot.INSTANCE_METRICS),
        host=document['host'],
        device_loss=document.get('device_loss'))  # older servers: none


def reported(document: dict) -> collector_counters.Reported | None:
    found = document['collector']
    return None if found is None else collector_counters.Reported.from_wire(
        found)
