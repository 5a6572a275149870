"""Read the :class:`~.cluster.Cluster` from nova and placement.

Through openstacksdk, as an admin:

* **hosts** are nova-compute services.  A host accepts moves unless its
  service is disabled, down or forced down.  Its physical ``vcpus`` and
  ``memory_mb`` are placement's ``VCPU`` and ``MEMORY_MB`` inventory
  totals minus ``reserved`` of its compute node provider (the
  hypervisor's id is that provider's UUID), and the allocation ratios
  are the inventories' (the hypervisor API dropped capacities in 2.88).
  A host with several nodes (ironic) gets their sum and the smallest
  ratios.  Its aggregates give the availability zone (else the service's
  zone, nova's ``default_availability_zone``) and the thresholds that
  they override for the filter (``cryptomine_<threshold>``), which the
  planner holds the host to as well.
* a host's **GPUs and miners** (:func:`read_devices`) are the device
  inventories of the providers in its compute nodes' trees and what
  nova allocated of them (:mod:`.device_inventory`).  The accelerator
  kinds a host offers are those its aggregates' metadata declares
  (``cryptomine:accelerator=gpu,asic``: PCI passthrough not reported to
  placement) and those placement counts; None when neither says.
* **servers** of all projects that sit on a host, with the flavor nova
  embeds in them (2.47 and later): vcpus, RAM, ``cryptomine:accelerator``
  and whether the server may live-migrate (:func:`live_migratable`).
* **server groups** of all projects with their policy and members.
"""

import collections
import dataclasses

import openstack
from keystoneauth1 import loading as ks_loading
from openstack import connection as connection_mod
from openstack import exceptions as sdk_exceptions
from openstack import utils as sdk_utils
from oslo_config import cfg
from oslo_log import log as logging

from cryptomine_scheduler.conf import nova_api as nova_api_conf
from cryptomine_scheduler.placement import aggregate_thresholds
from cryptomine_scheduler.placement import device_inventory
from cryptomine_scheduler.placement import flavor_devices
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.placement import tiers
from cryptomine_scheduler.replan import cluster
from cryptomine_scheduler.scheduler import plugin

LOG = logging.getLogger(__name__)

#: Compute API microversion needed: embedded flavors (2.47), hypervisor
#: ids that are provider UUIDs (2.53), a server group's ``policy`` (2.64).
MIN_MICROVERSION = '2.64'
#: The hypervisors are listed at the last microversion before 2.88, whose
#: detail view asks every nova-compute its uptime over RPC (one call a
#: host a round, for a field the re-planner does not read).
HYPERVISORS_MICROVERSION = '2.87'
#: Flavor extra spec asking for PCI passthrough devices.
PCI_ALIAS_SPEC = flavor_devices.PCI_ALIAS_SPEC
VGPU_SPEC = 'resources:VGPU'
#: Flavor extra spec saying how the re-planner may move its instances.
MIGRATION_SPEC = 'cryptomine:migration'
#: Server groups with one policy (a string) and their members.
GROUPS_MICROVERSION = '2.64'


class InventoryError(Exception):
    """nova's answers cannot be read into a cluster."""


@dataclasses.dataclass
class _Capacity:
    """A host's usable VCPU and MEMORY_MB, summed over its nodes, and
    its GPUs and miners."""

    vcpus: int = 0
    memory_mb: int = 0
    cpu_allocation_ratio: float = float('inf')
    ram_allocation_ratio: float = float('inf')
    devices: device_inventory.HostDevices = device_inventory.HostDevices()

    def add(self, inventories: dict) -> None:
        vcpu, memory = inventories['VCPU'], inventories['MEMORY_MB']
        self.vcpus += vcpu.total - vcpu.reserved
        self.memory_mb += memory.total - memory.reserved
        self.cpu_allocation_ratio = min(self.cpu_allocation_ratio,
                                        vcpu.allocation_ratio)
        self.ram_allocation_ratio = min(self.ram_allocation_ratio,
                                        memory.allocation_ratio)


@dataclasses.dataclass
class _Membership:
    """What a host's aggregates say about it."""

    names: set[str] = dataclasses.field(default_factory=set)
    zone: str | None = None
    accelerators: set[scoring.Accelerator] | None = None
    tiers: set[str] = dataclasses.field(default_factory=set)
    #: (hosts in the aggregate, its cost_per_hour) per aggregate.
    costs: set[tuple[int, str]] = dataclasses.field(default_factory=set)
    #: (key, value) of the thresholds its aggregates override.
    thresholds: set[tuple[str, str]] = dataclasses.field(
        default_factory=set)

    def burst_cost(self, host: str) -> float | None:
        """What the host costs an hour if burst capacity, else None."""
        found = tiers.read(self.tiers, self.costs)
        if found.unreadable:
            LOG.warning('Host %s: ignoring aggregate %s %s', host,
                        tiers.COST_KEY,
                        ', '.join(map(repr, found.unreadable)))
        return found.cost_per_hour


class InventoryCache:
    """Placement's inventories of resource providers, asked again only
    of a provider whose generation moved since they were read (placement
    bumps it on every change of its inventories, and on allocations
    against it): a re-planning round of a quiet cloud reads one listing
    of providers instead of an inventory per provider.  Usages are not
    kept: freeing an allocation leaves the generation alone."""

    def __init__(self):
        self._read: dict[str, tuple[int, dict]] = {}
        self.generations: dict[str, int] = {}

    def refresh(self, providers) -> None:
        """Take the generations of this listing of every provider, and
        forget the providers that are gone."""
        self.generations = {p.id: p.generation for p in providers}
        self._read = {uuid: read for uuid, read in self._read.items()
                      if uuid in self.generations}

    def get(self, conn, provider: str) -> dict:
        """The inventories of ``provider`` by resource class."""
        generation = self.generations.get(provider)
        known = self._read.get(provider)
        if generation is not None and known and known[0] == generation:
            return known[1]
        inventories = {inv.resource_class: inv for inv in
                       conn.placement.resource_provider_inventories(provider)}
        if generation is not None:
            self._read[provider] = (generation, inventories)
        return inventories


def connect(conf: cfg.ConfigOpts) -> connection_mod.Connection:
    """A Connection built from the ``[nova_api]`` options."""
    group = conf[nova_api_conf.GROUP]
    if group.cloud:
        return openstack.connect(cloud=group.cloud,
                                 region_name=group.region_name,
                                 api_timeout=group.timeout)
    auth = ks_loading.load_auth_from_conf_options(conf, nova_api_conf.GROUP)
    session = ks_loading.load_session_from_conf_options(
        conf, nova_api_conf.GROUP, auth=auth)
    return connection_mod.Connection(
        session=session, region_name=group.region_name,
        interface=group.interface, app_name='cryptomine-scheduler')


def device_classes(conf: cfg.ConfigOpts) -> device_inventory.DeviceClasses:
    """The resource classes ``[nova_api]`` counts as GPUs and miners."""
    group = conf[nova_api_conf.GROUP]
    return device_inventory.DeviceClasses(
        tuple(group.gpu_resource_classes), tuple(group.asic_resource_classes))


def read_cluster(conn: connection_mod.Connection,
                 vgpu_live_migration: bool = False,
                 classes: device_inventory.DeviceClasses = (
                     device_inventory.DEFAULT_CLASSES),
                 inventory_cache: InventoryCache | None = None
                 ) -> cluster.Cluster:
    """Hosts, servers and server groups as nova and placement see them
    (vGPU servers live-migratable with ``vgpu_live_migration``)."""
    if not sdk_utils.supports_microversion(conn.compute, MIN_MICROVERSION):
        raise InventoryError(
            f'nova API microversion {MIN_MICROVERSION} or later is needed')
    return cluster.Cluster(hosts=read_hosts(conn, classes, inventory_cache),
                           servers=read_servers(conn, vgpu_live_migration),
                           groups=read_groups(conn))


def _split_kinds(value: str, aggregate: str) -> set[scoring.Accelerator]:
    kinds, unknown = scoring.parse_kinds(value)
    for item in unknown:
        LOG.warning('Aggregate %s: ignoring unknown accelerator %r in %s',
                    aggregate, item, plugin.ACCELERATOR_SPEC)
    return set(kinds)


def _memberships(conn) -> dict[str, _Membership]:
    found = collections.defaultdict(_Membership)
    for aggregate in conn.compute.aggregates():
        metadata = aggregate.metadata or {}
        spec = metadata.get(plugin.ACCELERATOR_SPEC)
        for host in aggregate.hosts or ():
            member = found[host]
            member.names.add(aggregate.name)
            member.zone = aggregate.availability_zone or member.zone
            if tiers.TIER_KEY in metadata:
                member.tiers.add(metadata[tiers.TIER_KEY])
            if tiers.COST_KEY in metadata:
                member.costs.add((len(aggregate.hosts),
                                  metadata[tiers.COST_KEY]))
            if spec is not None:
                member.accelerators = ((member.accelerators or set())
                                       | _split_kinds(spec, aggregate.name))
            member.thresholds.update(
                (key, value) for key, value in metadata.items()
                if key in aggregate_thresholds.KEYS)
    return found


def _tree_devices(conn, inventory_cache: InventoryCache, root: str,
                  root_inventories: dict, children: list[str],
                  classes: device_inventory.DeviceClasses
                  ) -> device_inventory.HostDevices:
    """The GPUs and miners of the provider tree under ``root``; usages
    are asked only of providers that have some."""
    counts = []
    for provider in [root, *children]:
        inventories = (root_inventories if provider == root
                       else inventory_cache.get(conn, provider))
        capacity = {rc: inv.total - inv.reserved
                    for rc, inv in inventories.items()
                    if classes.is_device(rc)}
        if capacity:
            usages = conn.placement.fetch_resource_provider_usages(
                provider).usages or {}
            counts.append(classes.count(capacity, usages))
    return device_inventory.total(counts)


def _children(providers) -> dict[str, list[str]]:
    """Providers below each root provider (GPUs, PCI devices, boards)."""
    found = collections.defaultdict(list)
    for provider in providers:
        root = provider.root_provider_id
        if root and root != provider.id:
            found[root].append(provider.id)
    return found


def _capacities(conn, classes: device_inventory.DeviceClasses,
                inventory_cache: InventoryCache | None
                ) -> dict[str, _Capacity]:
    found = collections.defaultdict(_Capacity)
    providers = list(conn.placement.resource_providers())
    inventory_cache = inventory_cache or InventoryCache()
    inventory_cache.refresh(providers)
    children = _children(providers)
    for hypervisor in conn.compute.hypervisors(
            details=True, microversion=HYPERVISORS_MICROVERSION):
        host = (hypervisor.service_details or {}).get('host')
        inventories = inventory_cache.get(conn, hypervisor.id)
        if host is None or not {'VCPU', 'MEMORY_MB'} <= inventories.keys():
            LOG.warning('Compute node %s (host %s) has no VCPU or MEMORY_MB '
                        'inventory in placement; leaving it out',
                        hypervisor.name, host)
            continue
        capacity = found[host]
        capacity.add(inventories)
        capacity.devices += _tree_devices(
            conn, inventory_cache, hypervisor.id, inventories,
            children.get(hypervisor.id, []), classes)
    return found


def read_devices(conn: connection_mod.Connection,
                 classes: device_inventory.DeviceClasses,
                 inventory_cache: InventoryCache | None = None
                 ) -> dict[str, device_inventory.HostDevices]:
    """The GPUs and miners placement counts on each compute host (none
    on most)."""
    return {host: capacity.devices for host, capacity in
            _capacities(conn, classes, inventory_cache).items()}


def read_hosts(conn: connection_mod.Connection,
               classes: device_inventory.DeviceClasses = (
                   device_inventory.DEFAULT_CLASSES),
               inventory_cache: InventoryCache | None = None) -> tuple[
        cluster.ComputeHost, ...]:
    """Every nova-compute host with an inventory in placement (read
    through ``inventory_cache`` if given)."""
    capacities = _capacities(conn, classes, inventory_cache)
    memberships = _memberships(conn)
    hosts = []
    for service in conn.compute.services(binary='nova-compute'):
        capacity = capacities.get(service.host)
        if capacity is None:
            LOG.debug('Compute service %s has no compute node yet',
                      service.host)
            continue
        member = memberships.get(service.host, _Membership())
        hosts.append(cluster.ComputeHost(
            name=service.host,
            vcpus=capacity.vcpus,
            memory_mb=capacity.memory_mb,
            cpu_allocation_ratio=capacity.cpu_allocation_ratio,
            ram_allocation_ratio=capacity.ram_allocation_ratio,
            availability_zone=(member.zone or service.availability_zone
                               or 'nova'),
            aggregates=frozenset(member.names),
            accepts_moves=(service.status == 'enabled'
                           and service.state == 'up'
                           and not service.is_forced_down),
            accelerators=_offered(capacity.devices, member),
            burst_cost_per_hour=member.burst_cost(service.host),
            threshold_values=tuple(sorted(member.thresholds))))
    return tuple(sorted(hosts, key=lambda h: h.name))


def _offered(devices: device_inventory.HostDevices,
             member: _Membership) -> frozenset[scoring.Accelerator] | None:
    """What a host's aggregates declare and placement counts, as
    :func:`scoring.offered` has it for the scheduler."""
    counted = scoring.counted_kinds(devices) if devices else frozenset()
    if member.accelerators is None:
        return counted or None
    return frozenset(member.accelerators) | counted


def live_migratable(extra_specs: dict,
                    vgpu_live_migration: bool = False) -> bool:
    """Whether a server of a flavor with these extra specs may
    live-migrate.

    A vGPU (``resources:VGPU``) only with ``vgpu_live_migration``: nova
    live-migrates mdevs only with libvirt 8.6 and QEMU 8.1 or later on
    both hosts, which its API does not show.

    Not when the flavor asks for PCI passthrough devices
    (``pci_passthrough:alias``): nova moves those live only for devices
    its ``[pci]`` configuration marks live-migratable, which the API does
    not show, so the planner leaves them alone (or cold-migrates them,
    where its policy allows).  Nor for Cyborg accelerators
    (``accel:device_profile``), memory encryption
    (``hw:mem_encryption``) or an emulated TPM (``hw:tpm_version``),
    which nova refuses to live-migrate.  Devices of SR-IOV Neutron ports
    and image properties do not show in the flavor; nova refuses such a
    migration if it cannot make it, and the executor records that failure.
    """
    if PCI_ALIAS_SPEC in extra_specs or 'accel:device_profile' in extra_specs:
        return False
    if VGPU_SPEC in extra_specs and not vgpu_live_migration:
        return False
    if str(extra_specs.get('hw:mem_encryption', '')).lower() in (
            'true', '1', 'yes'):
        return False
    return 'hw:tpm_version' not in extra_specs


def migration_mode(server: str, extra_specs: dict
                   ) -> cluster.MigrationMode | None:
    """The flavor's ``cryptomine:migration`` (``live``, ``cold`` or
    ``never``); None, with a warning, for another value."""
    value = extra_specs.get(MIGRATION_SPEC)
    if value is None:
        return None
    try:
        return cluster.MigrationMode(str(value).strip().lower())
    except ValueError:
        LOG.warning('Server %s: ignoring %s=%r (live, cold or never)',
                    server, MIGRATION_SPEC, value)
        return None


def _accelerator(server, extra_specs: dict
                 ) -> tuple[scoring.Accelerator | None, int]:
    """The accelerator kind the server's flavor asks for and how many
    devices of it the server holds."""
    facts = plugin.FlavorFacts(vcpus=server.flavor.vcpus,
                               memory_mb=server.flavor.ram,
                               extra_specs=extra_specs)
    try:
        kind = facts.accelerator()
    except plugin.BadFlavor as exc:
        LOG.warning('Server %s: %s; treating it as asking for none',
                    server.id, exc)
        return None, 0
    try:
        return kind, facts.devices(kind)
    except plugin.BadFlavor as exc:
        LOG.warning('Server %s: %s; counting one device', server.id, exc)
        return kind, 1


def read_servers(conn: connection_mod.Connection,
                 vgpu_live_migration: bool = False
                 ) -> tuple[cluster.Server, ...]:
    """Servers of all projects that are on a compute host."""
    servers = []
    for server in conn.compute.servers(details=True, all_projects=True):
        if not server.compute_host:
            continue
        extra_specs = server.flavor.extra_specs or {}
        accelerator, devices = _accelerator(server, extra_specs)
        servers.append(cluster.Server(
            uuid=server.id,
            name=server.name,
            host=server.compute_host,
            vcpus=server.flavor.vcpus,
            memory_mb=server.flavor.ram,
            status=server.status,
            task_state=server.task_state,
            locked=bool(server.is_locked),
            accelerator=accelerator,
            devices=devices,
            live_migratable=live_migratable(extra_specs,
                                            vgpu_live_migration),
            migration=migration_mode(server.id, extra_specs),
            project=server.project_id))
    return tuple(servers)


def read_groups(conn: connection_mod.Connection) -> tuple[
        cluster.ServerGroup, ...]:
    """Server groups of all projects.

    nova pages them by offset and sends no link to the next page (which
    openstacksdk's listing would follow), so they are asked for a page
    at a time until one comes back empty.
    """
    found, offset = [], 0
    while True:
        response = conn.compute.get(
            '/os-server-groups', microversion=GROUPS_MICROVERSION,
            params={'all_projects': 'True', 'offset': offset})
        sdk_exceptions.raise_from_response(response)
        page = response.json()['server_groups']
        if not page:
            break
        found += page
        offset += len(page)
    return tuple(
        cluster.ServerGroup(id=group['id'], name=group['name'],
                            policy=cluster.GroupPolicy(group['policy']),
                            members=frozenset(group.get('members') or ()))
        for group in found)


def disable_compute(conn: connection_mod.Connection, host: str,
                    reason: str) -> bool:
    """Disable ``host``'s nova-compute service with ``reason`` (nova's
    scheduler then places nothing more there); False, and the reason
    left as it was, where it is disabled already."""
    found = list(conn.compute.services(binary='nova-compute', host=host))
    if len(found) != 1:
        raise InventoryError(
            f'{len(found)} nova-compute services on host {host!r}')
    if found[0].status == 'disabled':
        return False
    conn.compute.disable_service(found[0], disabled_reason=reason)
    return True
