"""LoadAwareFilter: keep new mining guests off hosts that cannot take them.

A host is judged with the guest being placed on it: its predicted load
(see :mod:`cryptomine_scheduler.placement.scoring`) plus the load of boots not
sampled yet plus the guest's own expected load.  It fails when it lacks
the accelerator kind the flavor asks for (extra spec
``cryptomine:accelerator=cpu|gpu|asic``), when it breaks a hardware-safety
limit (GPU thermal or power headroom, ASIC error rate), under
``overload_policy = hard`` when it is over the CPU or memory threshold
(under ``soft``, the default, it passes and the weigher ranks it last),
and under ``missing_data_policy = reject`` when it has no fresh load data.
Thresholds and policies can be overridden per host aggregate.  A
request that no host passes is logged at INFO with why the first hosts
failed; the debug log has every host's reason.
"""

import itertools

import nova.conf
import numpy as np
from nova.scheduler import filters
from nova.scheduler import utils as nova_utils
from oslo_log import log as logging

from cryptomine_scheduler.conf import scheduler as scheduler_conf
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.scheduler import adapters
from cryptomine_scheduler.scheduler import aggregates
from cryptomine_scheduler.scheduler import plugin

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF
#: How many hosts, with why each was refused, the one log line of a
#: request that no host passed names (nova then answers NoValidHost).
REFUSED_NAMED = 10


class LoadAwareFilter(filters.BaseHostFilter):
    """Rejects hosts that cannot take the guest being placed."""

    RUN_ON_REBUILD = False

    def __init__(self, load_plugin: plugin.LoadAwarePlugin | None = None):
        super().__init__()
        self._plugin = load_plugin or plugin.shared(CONF)

    def filter_all(self, filter_obj_list, spec_obj):
        # Every host in one pass, not one call per host as nova's
        # _filter_one would make.
        if nova_utils.request_is_rebuild(spec_obj):
            return filter_obj_list
        state = adapters.begin_request(self._plugin, spec_obj)
        hosts = list(filter_obj_list)
        verdicts = adapters.judge_all(state, hosts)
        if LOG.isEnabledFor(logging.DEBUG):
            for host in hosts:
                LOG.debug('%s %s', host, self._why(host, state))
        without = int(np.count_nonzero(verdicts.missing & verdicts.passed))
        if without:
            # One line per request, not one per host (thousands when the
            # controller is down).
            LOG.warning('%d host(s) passed without fresh load data '
                        '(missing_data_policy = pass)', without)
        if hosts and not verdicts.passed.any():
            self._log_refused_all(hosts, state, spec_obj)
        return list(itertools.compress(hosts, verdicts.passed.tolist()))

    def _log_refused_all(self, hosts: list, state: plugin.RequestState,
                         spec_obj) -> None:
        """Say why the first hosts failed, at INFO, when all of them did:
        an operator answering a NoValidHost needs no debug log."""
        named = '; '.join(f'{host.host} {self._why(host, state)}'
                          for host in hosts[:REFUSED_NAMED])
        more = len(hosts) - REFUSED_NAMED
        LOG.info('Refused all %d host(s) for %s: %s%s', len(hosts),
                 adapters.request_label(spec_obj), named,
                 f'; and {more} more, each named in the debug log'
                 if more > 0 else '')

    def host_passes(self, host_state, spec_obj):
        return bool(self.filter_all([host_state], spec_obj))

    @staticmethod
    def _why(host_state, state: plugin.RequestState) -> str:
        """Why the host passes or not, by the scalar rules of
        :mod:`.scoring` (which give the columns' answers), for the
        debug log."""
        settings = state.settings
        load = adapters.host_load(state, host_state)
        if load.estimate is None:
            policy = aggregates.missing_policy(host_state,
                                               settings.missing_data_policy)
            verdict = ('rejected' if policy == scheduler_conf.MISSING_REJECT
                       else 'passing it')
            return f'has no fresh load data ({load.missing}); {verdict}'
        if settings.bad_flavor:
            return f'rejected: {settings.bad_flavor}'
        hard = load.over > 0 and aggregates.overload_policy(
            host_state, settings.overload_policy) == (
                scheduler_conf.OVERLOAD_HARD)
        refused = scoring.refusal(load.estimate, load.thresholds,
                                  settings.demand, hard_overload=hard,
                                  burst_cost=load.burst_cost)
        if refused:
            return f'rejected: {refused}'
        if load.over > 0:
            return ('is over on predicted load with the guest ({}); '
                    'passing it to be weighed down (overload_policy = '
                    'soft)'.format('; '.join(scoring.capacity_violations(
                        load.estimate, load.thresholds))))
        return 'passes'
