"""LoadAwareFilter: keep new mining guests off overloaded or sick hosts.

A host fails when its predicted load (see :mod:`cryptomine_scheduler.
scoring`) breaks a threshold, when it lacks the accelerator kind the
flavor asks for (extra spec ``cryptomine:accelerator=cpu|gpu|asic``), or,
under ``missing_data_policy = reject``, when it has no fresh load data.
Thresholds and the policy can be overridden per host aggregate.
"""

import nova.conf
from nova.scheduler import filters
from nova.scheduler import utils as nova_utils
from nova.scheduler.filters import utils
from oslo_log import log as logging

from cryptomine_scheduler import scoring
from cryptomine_scheduler.conf import scheduler as scheduler_conf
from cryptomine_scheduler.scheduler import adapters
from cryptomine_scheduler.scheduler import plugin

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF

# (option, aggregate metadata key, strictest of several aggregates)
_THRESHOLDS = (
    ('max_cpu_percent', min),
    ('max_mem_percent', min),
    ('min_gpu_thermal_headroom_c', max),
    ('min_gpu_power_headroom_percent', max),
    ('max_asic_errors_per_min', min),
)


def _thresholds(host_state, defaults: scoring.Thresholds
                ) -> scoring.Thresholds:
    if not host_state.aggregates:
        return defaults
    values = {}
    for name, strictest in _THRESHOLDS:
        default = getattr(defaults, name)
        try:
            values[name] = utils.validate_num_values(
                utils.aggregate_values_from_key(host_state,
                                                f'cryptomine_{name}'),
                default, cast_to=float, based_on=strictest)
        except ValueError as exc:
            LOG.warning('Ignoring aggregate cryptomine_%s: %s', name, exc)
            values[name] = default
    return scoring.Thresholds(**values)


def _missing_policy(host_state, default: str) -> str:
    if not host_state.aggregates:
        return default
    values = utils.aggregate_values_from_key(
        host_state, 'cryptomine_missing_data_policy')
    if scheduler_conf.MISSING_REJECT in values:
        return scheduler_conf.MISSING_REJECT
    if scheduler_conf.MISSING_PASS in values:
        return scheduler_conf.MISSING_PASS
    return default


class LoadAwareFilter(filters.BaseHostFilter):
    """Rejects hosts whose predicted load breaks the thresholds."""

    RUN_ON_REBUILD = False

    def __init__(self, load_plugin: plugin.LoadAwarePlugin | None = None):
        super().__init__()
        self._plugin = load_plugin or plugin.shared(CONF)
        self._without_data = 0

    def filter_all(self, filter_obj_list, spec_obj):
        # Once per request, not per host as nova's _filter_one would.
        if nova_utils.request_is_rebuild(spec_obj):
            return filter_obj_list
        adapters.begin_request(self._plugin, spec_obj)
        self._without_data = 0
        passed = [host for host in filter_obj_list
                  if self.host_passes(host, spec_obj)]
        if self._without_data:
            # One line per request, not one per host (thousands when the
            # controller is down).
            LOG.warning('%d host(s) passed without fresh load data '
                        '(missing_data_policy = pass)', self._without_data)
        return passed

    def host_passes(self, host_state, spec_obj):
        settings = self._plugin.settings
        load = adapters.host_load(self._plugin, host_state)
        if load.estimate is None:
            policy = _missing_policy(host_state,
                                     settings.missing_data_policy)
            if policy == scheduler_conf.MISSING_REJECT:
                LOG.debug('%s has no fresh load data (%s); rejected',
                          host_state, load.missing)
                return False
            LOG.debug('%s has no fresh load data (%s); passing it',
                      host_state, load.missing)
            self._without_data += 1
            return True
        if settings.bad_flavor:
            LOG.debug('%s rejected: %s', host_state, settings.bad_flavor)
            return False
        wanted = settings.accelerator
        if wanted is not None and wanted not in load.estimate.accelerators:
            LOG.debug('%s offers %s, the flavor asks for %s', host_state,
                      sorted(a.value for a in load.estimate.accelerators),
                      wanted.value)
            return False
        broken = scoring.violations(
            load.estimate, _thresholds(host_state, settings.thresholds))
        if broken:
            LOG.debug('%s fails on predicted load: %s', host_state,
                      '; '.join(broken))
            return False
        return True
