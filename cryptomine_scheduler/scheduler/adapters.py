"""Records of nova's objects for the plugin (duck-typed, no nova import)."""

from cryptomine_scheduler.scheduler import plugin


def host_facts(host_state) -> plugin.HostFacts:
    """The parts of a nova ``HostState`` the load model needs."""
    return plugin.HostFacts(
        name=host_state.host, num_instances=host_state.num_instances,
        vcpus=float(host_state.vcpus_total or 0),
        memory_mb=float(host_state.total_usable_ram_mb or 0))


def flavor_facts(spec_obj) -> plugin.FlavorFacts:
    """The parts of a ``RequestSpec``'s flavor the plugin needs."""
    flavor = spec_obj.flavor
    return plugin.FlavorFacts(vcpus=flavor.vcpus,
                              memory_mb=flavor.memory_mb,
                              extra_specs=dict(flavor.extra_specs or {}))


def begin_request(load_plugin: plugin.LoadAwarePlugin, spec_obj) -> None:
    """Tell the plugin which placement is being scheduled.

    A multi-create request reuses its ``RequestSpec`` for every instance,
    setting ``instance_uuid`` to the one being placed.
    """
    load_plugin.begin_request(spec_obj, flavor_facts(spec_obj),
                              spec_obj.instance_uuid)


def host_load(load_plugin: plugin.LoadAwarePlugin,
              host_state) -> plugin.HostLoad:
    """The host's load for the current request (computed once)."""
    return (load_plugin.cached_load(host_state.host)
            or load_plugin.host_load(host_facts(host_state)))
