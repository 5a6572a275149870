"""Records of nova's objects for the plugin (duck-typed)."""

import numpy as np

from cryptomine_scheduler.scheduler import aggregates
from cryptomine_scheduler.scheduler import host_columns
from cryptomine_scheduler.scheduler import plugin


def host_facts(host_state) -> plugin.HostFacts:
    """The parts of a nova ``HostState`` the load model needs."""
    grouped = bool(host_state.aggregates)  # most hosts: in none
    return plugin.HostFacts(
        name=host_state.host, num_instances=host_state.num_instances,
        vcpus=float(host_state.vcpus_total or 0),
        memory_mb=float(host_state.total_usable_ram_mb or 0),
        accelerators=(aggregates.declared_kinds(host_state) if grouped
                      else None),
        burst_cost=aggregates.burst_cost(host_state) if grouped else None)


def _field(obj, name: str):
    """A nova object's field, None when unset (reading an unset field
    of a nova object raises)."""
    if obj is None or not obj.obj_attr_is_set(name):
        return None
    return getattr(obj, name)


def request_label(spec_obj) -> str:
    """The instance and flavor of a request, as the logs name them."""
    return (f'instance {_field(spec_obj, "instance_uuid")} '
            f'(flavor {_field(spec_obj.flavor, "name")})')


def flavor_facts(spec_obj) -> plugin.FlavorFacts:
    """The parts of a ``RequestSpec``'s flavor (and image) the plugin
    needs."""
    flavor = spec_obj.flavor
    image = _field(_field(spec_obj, 'image'), 'id')
    return plugin.FlavorFacts(vcpus=flavor.vcpus,
                              memory_mb=flavor.memory_mb,
                              extra_specs=dict(flavor.extra_specs or {}),
                              flavorid=_field(flavor, 'flavorid'),
                              image=None if image is None else str(image))


def begin_request(load_plugin: plugin.LoadAwarePlugin,
                  spec_obj) -> plugin.RequestState:
    """The state of the placement nova is scheduling with ``spec_obj``.

    A multi-create request reuses its ``RequestSpec`` for every instance,
    setting ``instance_uuid`` to the one being placed.
    """
    return load_plugin.begin_request(spec_obj, flavor_facts(spec_obj),
                                     spec_obj.instance_uuid)


def host_load(state: plugin.RequestState, host_state) -> plugin.HostLoad:
    """The host's load for the request of ``state`` (computed once)."""
    load = state.cached_load(host_state.host)
    if load is None:
        load = state.judge(host_facts(host_state), aggregates.thresholds(
            host_state, state.settings.thresholds))
    return load


def _group(host_state, defaults: host_columns.HostGroup
           ) -> host_columns.HostGroup:
    """What ``host_state``'s aggregates say."""
    return host_columns.HostGroup(
        thresholds=aggregates.thresholds(host_state, defaults.thresholds),
        missing_data_policy=aggregates.missing_policy(
            host_state, defaults.missing_data_policy),
        overload_policy=aggregates.overload_policy(
            host_state, defaults.overload_policy),
        declared=aggregates.declared_kinds(host_state),
        burst_cost=aggregates.burst_cost(host_state))


def host_rows(state: plugin.RequestState,
              host_states: list) -> host_columns.HostRows:
    """nova's ``host_states`` as the plugin's columns; the hosts in the
    same aggregates (the same objects, as nova's host manager shares
    them) share a group, read once."""
    groups = [state.default_group()]
    by_aggregates: dict[tuple[int, ...], int] = {}

    def group(host_state) -> int:
        key = tuple(map(id, host_state.aggregates))
        found = by_aggregates.get(key)
        if found is None:
            found = by_aggregates[key] = len(groups)
            groups.append(_group(host_state, groups[0]))
        return found

    return host_columns.HostRows(
        names=[h.host for h in host_states],
        num_instances=[h.num_instances for h in host_states],
        vcpus=np.array([h.vcpus_total or 0 for h in host_states], float),
        memory_mb=np.array([h.total_usable_ram_mb or 0
                            for h in host_states], float),
        group=np.array([group(h) if h.aggregates else 0
                        for h in host_states], np.intp),
        groups=groups)


def judge_all(state: plugin.RequestState,
              host_states: list) -> host_columns.Verdicts:
    """Every host of ``host_states`` judged for the request of
    ``state``, in one pass."""
    return state.judge_all(host_rows(state, host_states))


def scores(state: plugin.RequestState, host_states: list) -> np.ndarray:
    """The score of each host for the request of ``state`` (NaN: no
    fresh data), judging those not judged yet in this request."""
    known = state.scores
    unjudged = [h for h in host_states if h.host not in known]
    if unjudged:
        judge_all(state, unjudged)
    return np.array([known[h.host] for h in host_states], float)
