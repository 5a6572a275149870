"""The cloud as an experiment uses it, through openstacksdk: the only
module here that calls nova (and glance and neutron to find an image
or a network by name)."""

import base64
import dataclasses
import re
import uuid

from openstack import connection
from openstack import exceptions as os_exceptions

from cryptomine_scheduler.experiment import flavors as flavors_mod
from cryptomine_scheduler.experiment import record

#: Server metadata naming the experiment a server belongs to.
METADATA_KEY = 'cryptomine:experiment'
#: What nova's API takes for ``networks`` as it is.
NETWORK_WORDS = ('none', 'auto')


@dataclasses.dataclass(frozen=True)
class ServerState:
    status: str
    host: str | None
    fault: str | None


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def image_id(conn: connection.Connection, image: str) -> str:
    if _is_uuid(image):
        return image
    return conn.image.find_image(image, ignore_missing=False).id


def networks(conn: connection.Connection, network: str):
    """What nova's ``networks`` field takes for ``network``."""
    if network in NETWORK_WORDS:
        return network
    if _is_uuid(network):
        return [{'uuid': network}]
    return [{'uuid': conn.network.find_network(network,
                                               ignore_missing=False).id}]


def create_flavor(conn: connection.Connection, name: str,
                  spec: flavors_mod.FlavorSpec) -> str:
    return conn.compute.create_flavor(
        name=name, vcpus=spec.vcpus, ram=spec.ram_mb, disk=spec.disk_gb).id


def flavor_id(conn: connection.Connection, name: str) -> str:
    return conn.compute.find_flavor(name, ignore_missing=False).id


def create_keypair(conn: connection.Connection, name: str,
                   public_key: str) -> str:
    return conn.compute.create_keypair(name=name, public_key=public_key).id


def boot(conn: connection.Connection, *, name: str, experiment: str,
         flavor: str, image: str, network, user_data: str,
         key_name: str | None, host: str | None = None) -> str:
    """Boot a server; on ``host`` if given (nova's requested host, an
    administrator's request from API 2.74 on; the scheduler's filters
    still judge it)."""
    extra = {} if key_name is None else {'key_name': key_name}
    if host is not None:
        extra['host'] = host
    return conn.compute.create_server(
        name=name, flavor_id=flavor, image_id=image, networks=network,
        user_data=base64.b64encode(user_data.encode('utf-8')).decode(),
        metadata={METADATA_KEY: experiment}, **extra).id


def _state(server) -> ServerState:
    fault = (server.fault or {}).get('message') if server.fault else None
    return ServerState(server.status, server.compute_host, fault)


def server_states(conn: connection.Connection,
                  experiment: str) -> dict[str, ServerState]:
    """The states of the servers of ``experiment`` that exist, by ID,
    from one listing of the servers named after it."""
    return {s.id: _state(s) for s in conn.compute.servers(
        name=f'^{re.escape(experiment)}-')}


def find_ids(conn: connection.Connection, kind: str, name: str) -> list[str]:
    """The IDs of the resources of ``kind`` named exactly ``name``."""
    if kind == 'server':
        return [s.id for s in conn.compute.servers(
            name=f'^{re.escape(name)}$', all_projects=True)
            if s.name == name]
    if kind == 'flavor':
        found = conn.compute.find_flavor(name, ignore_missing=True)
    else:
        found = conn.compute.find_keypair(name, ignore_missing=True)
    return [] if found is None else [found.id]


def delete(conn: connection.Connection, kind: str, resource_id: str) -> None:
    """Ask for the deletion; a resource already gone is no error."""
    remove = {'server': conn.compute.delete_server,
              'flavor': conn.compute.delete_flavor,
              'keypair': conn.compute.delete_keypair}[kind]
    try:
        remove(resource_id, ignore_missing=True)
    except os_exceptions.NotFoundException:
        pass


def migrations(conn: connection.Connection,
               server_ids: set[str]) -> list[record.MigrationRecord]:
    """nova's migration records of the servers ``server_ids``."""
    return [record.MigrationRecord(
        server_id=m.server_id, source=m.source_compute,
        destination=m.dest_compute, kind=m.migration_type or '',
        status=m.status, created_at=m.created_at, updated_at=m.updated_at)
        for m in conn.compute.migrations() if m.server_id in server_ids]
