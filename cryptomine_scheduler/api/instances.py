"""``/v1/instances/{instance}/history``, ``.../devices/history`` and
``.../migrations``: an instance's load over time with the host it ran
on, its GPUs' or miners' readings, and the migrations the plans made of
it."""

import time

from cryptomine_scheduler.api import hosts
from cryptomine_scheduler.api import policies
from cryptomine_scheduler.api import request as request_mod
from cryptomine_scheduler.telemetry import sample as sample_mod

#: Migrations of the last day unless ``since`` says otherwise.
DEFAULT_MIGRATIONS = 86400.0


def instance_history(req: request_mod.ApiRequest, instance: str) -> dict:
    """``?metric=`` (``cpu_percent``, the default, or ``rss_mb``) since
    ``?since=`` (Unix time, default an hour ago)."""
    req.authorize(policies.INSTANCE_GET)
    metric = req.metric(sample_mod.InstanceMetric,
                        sample_mod.InstanceMetric.CPU_PERCENT)
    since = req.param('since', float, time.time() - hosts.DEFAULT_HISTORY)
    return {'instance_history': req.controller.instance_history(
        instance, since, metric)}


def instance_device_history(req: request_mod.ApiRequest,
                            instance: str) -> dict:
    """One reading of each device of a kind the instance held, by
    ``host/device`` (:func:`.hosts.device_query`)."""
    req.authorize(policies.INSTANCE_GET)
    kind, metric, since = hosts.device_query(req)
    return {'device_history': req.controller.instance_device_history(
        instance, kind, since, metric)}


def instance_migrations(req: request_mod.ApiRequest, instance: str) -> dict:
    """The migrations the plans started of the instance since ``?since=``
    (Unix time, default a day ago), oldest first; none for an instance
    they never moved."""
    req.authorize(policies.INSTANCE_GET)
    since = req.param('since', float, time.time() - DEFAULT_MIGRATIONS)
    return {'migrations': req.controller.instance_migrations(instance,
                                                             since)}
