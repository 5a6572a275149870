"""The resumable record of an experiment: what it created, and when.

Every resource is written into the record (``creating``, with its name
and no ID yet) before it is created, then again with its ID; a resource
is marked ``deleted`` once gone.  Each save replaces the file
atomically (a temporary file, flushed to disk, renamed over it), so a
run killed at any point leaves a record that names everything it may
have created: ``cryptomine experiment cleanup`` deletes what is left,
looking a resource without an ID up by its name.
"""

import dataclasses
import enum
import json
import os
import tempfile

from cryptomine_scheduler.experiment import setup as setup_mod


class Kind(enum.Enum):
    FLAVOR = 'flavor'
    KEYPAIR = 'keypair'
    SERVER = 'server'


class State(enum.Enum):
    CREATING = 'creating'
    CREATED = 'created'
    DELETED = 'deleted'


@dataclasses.dataclass(frozen=True)
class Resource:
    """A resource of the cloud; a server also has its trace VM's index
    and name, its flavor's memory and, once known, the host it booted on
    and its status."""

    kind: Kind
    name: str
    state: State = State.CREATING
    id: str | None = None
    trace_index: int | None = None
    instance: str | None = None
    memory_mb: float = 0.0
    host: str | None = None
    status: str | None = None
    fault: str | None = None

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), 'kind': self.kind.value,
                'state': self.state.value}

    @classmethod
    def from_dict(cls, data: dict) -> 'Resource':
        return cls(**{**data, 'kind': Kind(data['kind']),
                      'state': State(data['state'])})


@dataclasses.dataclass(frozen=True)
class MigrationRecord:
    """One of nova's migration records."""

    server_id: str
    source: str
    destination: str
    kind: str
    status: str
    created_at: str
    updated_at: str | None


@dataclasses.dataclass
class Record:
    """An experiment: its name (the prefix of what it creates), set-up,
    resources in creation order, and the Unix times its players start
    (``start_at``) and it ended (``ended_at``, None while running), and
    nova's migration records of its servers, read before teardown (None
    if the run did not get that far)."""

    name: str
    setup: setup_mod.Setup
    resources: list[Resource] = dataclasses.field(default_factory=list)
    start_at: float | None = None
    ended_at: float | None = None
    migrations: list[MigrationRecord] | None = None

    def servers(self) -> list[Resource]:
        return [r for r in self.resources if r.kind is Kind.SERVER]

    def placement(self) -> dict[str, str]:
        """The host each trace VM's server booted on, by the VM's name
        (servers that booted ACTIVE only)."""
        return {s.instance: s.host for s in self.servers()
                if s.instance and s.host and s.status == 'ACTIVE'}

    def left(self) -> list[Resource]:
        """What may still exist in the cloud."""
        return [r for r in self.resources if r.state is not State.DELETED]

    def update(self, old: Resource, new: Resource) -> None:
        self.resources[self.resources.index(old)] = new

    def to_dict(self) -> dict:
        return {'name': self.name, 'setup': self.setup.to_dict(),
                'resources': [r.to_dict() for r in self.resources],
                'start_at': self.start_at, 'ended_at': self.ended_at,
                'migrations': (None if self.migrations is None else
                               [dataclasses.asdict(m)
                                for m in self.migrations])}

    @classmethod
    def from_dict(cls, data: dict) -> 'Record':
        return cls(name=data['name'],
                   setup=setup_mod.Setup.from_dict(data['setup']),
                   resources=[Resource.from_dict(r)
                              for r in data['resources']],
                   start_at=data['start_at'], ended_at=data['ended_at'],
                   migrations=(None if data['migrations'] is None else
                               [MigrationRecord(**m)
                                for m in data['migrations']]))


def save(record: Record, path: str) -> None:
    """Write ``record`` to ``path`` atomically."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix='.record-')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(record.to_dict(), f, indent=1)
            f.write('\n')
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def load(path: str) -> Record:
    with open(path, encoding='utf-8') as f:
        return Record.from_dict(json.load(f))
