"""Records of nova's objects for the plugin (duck-typed)."""

from cryptomine_scheduler.scheduler import aggregates
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
