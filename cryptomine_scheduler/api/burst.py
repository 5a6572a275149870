"""``/v1/burst``: the burst tier now and over a period."""

import time

from cryptomine_scheduler.api import policies
from cryptomine_scheduler.api import request as request_mod

#: The period of the status unless ``since`` says otherwise.
DEFAULT_PERIOD = 86400.0


def show_burst(req: request_mod.ApiRequest) -> dict:
    """Hosts per tier, their instances, cost; cost and hours on burst
    since ``?since=`` (Unix time, default a day ago)."""
    req.authorize(policies.BURST_GET)
    since = req.param('since', float, time.time() - DEFAULT_PERIOD)
    return {'burst': req.controller.burst_status(since)}
