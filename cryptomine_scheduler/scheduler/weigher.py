"""LoadAwareWeigher: prefer the least-loaded compatible host.

The raw weight is :func:`cryptomine_scheduler.placement.scoring.score` for the
request: minus the weighted pressure of the resources the guest will use,
with the guest on the host; a host with an accelerator the guest does not
need is penalised, and a host over its CPU or memory threshold ranks
below every host within them, by how far over it is.  nova normalises the
weights and applies the multiplier.  A host without fresh load data gets
the median weight of the others: neither favoured nor punished for a gap
in the telemetry.
"""

import itertools

import nova.conf
import numpy as np
from nova.scheduler import utils
from nova.scheduler import weights
from oslo_log import log as logging

from cryptomine_scheduler.scheduler import adapters
from cryptomine_scheduler.scheduler import plugin

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF


class LoadAwareWeigher(weights.BaseHostWeigher):
    """Weighs hosts by their predicted load."""

    def __init__(self, load_plugin: plugin.LoadAwarePlugin | None = None):
        super().__init__()
        self._plugin = load_plugin or plugin.shared(CONF)

    def weight_multiplier(self, host_state):
        default = self._plugin.weight_multiplier
        if not host_state.aggregates:
            return default
        return utils.get_weight_multiplier(
            host_state, 'cryptomine_weight_multiplier', default)

    def weigh_objects(self, weighed_obj_list, weight_properties):
        state = adapters.begin_request(self._plugin, weight_properties)
        hosts = [w.obj for w in weighed_obj_list]
        scores = adapters.scores(state, hosts)
        missing = np.isnan(scores)
        if missing.any() and LOG.isEnabledFor(logging.DEBUG):
            for host in itertools.compress(hosts, missing.tolist()):
                LOG.debug('%s weighed as the median: %s', host,
                          adapters.host_load(state, host).missing)
        if missing.all():
            return [0.0] * len(hosts)
        # Neither favoured nor punished for a gap in the telemetry.
        fill = np.median(scores[~missing])
        return np.where(missing, fill, scores).tolist()

    def _weigh_object(self, host_state, weight_properties):
        return self.weigh_objects([weights.WeighedHost(host_state, 0.0)],
                                  weight_properties)[0]
