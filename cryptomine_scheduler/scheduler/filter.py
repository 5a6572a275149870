"""LoadAwareFilter: keep new mining guests off hosts that cannot take them.

A host is judged with the guest being placed on it: its predicted load
(see :mod:`cryptomine_scheduler.scoring`) plus the load of boots not
sampled yet plus the guest's own expected load.  It fails when it lacks
the accelerator kind the flavor asks for (extra spec
``cryptomine:accelerator=cpu|gpu|asic``), when it breaks a hardware-safety
limit (GPU thermal or power headroom, ASIC error rate), under
``overload_policy = hard`` when it is over the CPU or memory threshold
(under ``soft``, the default, it passes and the weigher ranks it last),
and under ``missing_data_policy = reject`` when it has no fresh load data.
Thresholds and policies can be overridden per host aggregate.
"""

import nova.conf
from nova.scheduler import filters
from nova.scheduler import utils as nova_utils
from oslo_log import log as logging

from cryptomine_scheduler import scoring
from cryptomine_scheduler.conf import scheduler as scheduler_conf
from cryptomine_scheduler.scheduler import adapters
from cryptomine_scheduler.scheduler import aggregates
from cryptomine_scheduler.scheduler import plugin

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF


class LoadAwareFilter(filters.BaseHostFilter):
    """Rejects hosts that cannot take the guest being placed."""

    RUN_ON_REBUILD = False

    def __init__(self, load_plugin: plugin.LoadAwarePlugin | None = None):
        super().__init__()
        self._plugin = load_plugin or plugin.shared(CONF)

    def filter_all(self, filter_obj_list, spec_obj):
        # Once per request, not per host as nova's _filter_one would.
        if nova_utils.request_is_rebuild(spec_obj):
            return filter_obj_list
        state = adapters.begin_request(self._plugin, spec_obj)
        passed = [host for host in filter_obj_list
                  if self._passes(host, state)]
        if state.passed_without_data:
            # One line per request, not one per host (thousands when the
            # controller is down).
            LOG.warning('%d host(s) passed without fresh load data '
                        '(missing_data_policy = pass)',
                        state.passed_without_data)
        return passed

    def host_passes(self, host_state, spec_obj):
        return self._passes(host_state,
                            adapters.begin_request(self._plugin, spec_obj))

    def _passes(self, host_state, state: plugin.RequestState) -> bool:
        settings = state.settings
        load = adapters.host_load(state, host_state)
        if load.estimate is None:
            policy = aggregates.missing_policy(host_state,
                                               settings.missing_data_policy)
            if policy == scheduler_conf.MISSING_REJECT:
                LOG.debug('%s has no fresh load data (%s); rejected',
                          host_state, load.missing)
                return False
            LOG.debug('%s has no fresh load data (%s); passing it',
                      host_state, load.missing)
            state.passed_without_data += 1
            return True
        if settings.bad_flavor:
            LOG.debug('%s rejected: %s', host_state, settings.bad_flavor)
            return False
        # The aggregates are looked up only for a host over a threshold.
        hard = load.over > 0 and aggregates.overload_policy(
            host_state, settings.overload_policy) == (
                scheduler_conf.OVERLOAD_HARD)
        refused = scoring.refusal(load.estimate, load.thresholds,
                                  settings.demand, hard_overload=hard,
                                  burst_cost=load.burst_cost)
        if refused:
            LOG.debug('%s rejected: %s', host_state, refused)
            return False
        if load.over > 0:
            LOG.debug('%s is over on predicted load with the guest (%s); '
                      'passing it to be weighed down (overload_policy = '
                      'soft)', host_state, '; '.join(
                          scoring.capacity_violations(load.estimate,
                                                      load.thresholds)))
        return True
