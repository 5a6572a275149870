"""A private PostgreSQL cluster for tests, from Debian's postgresql.

Each cluster is made by ``initdb`` in a temporary directory, listens on
a free port of 127.0.0.1 (and a Unix socket in its own directory),
trusts local connections and is stopped and removed at cleanup.
PostgreSQL refuses to run as root: run as root, the cluster belongs to
the ``postgres`` system user that Debian's package creates, in a
directory of the system's temporary directory.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile

import fixtures

from cryptomine_scheduler.tests import local_ports

BIN_GLOB = '/usr/lib/postgresql/*/bin'
SYSTEM_USER = 'postgres'
DATABASE = 'cryptomine'
# Read on import, before a test nests temporary directories that only
# the current user may enter.
TEMP_ROOT = tempfile.gettempdir()


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed on this machine."""


def _bindir() -> str:
    found = sorted(glob.glob(os.path.join(BIN_GLOB, 'initdb')),
                   key=lambda path: int(path.split('/')[-3]))
    if not found:
        raise PostgresUnavailable(
            'postgresql is not installed (apt-get install -y '
            '--no-install-recommends postgresql)')
    return os.path.dirname(found[-1])


def _owner() -> pwd.struct_passwd | None:
    """Whom the server runs as: None for the current user."""
    if os.getuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError as exc:
        raise PostgresUnavailable(
            f'running as root needs the {SYSTEM_USER!r} user of Debian\'s '
            'postgresql package') from exc


class PostgresCluster(fixtures.Fixture):
    """Starts a cluster with one database; ``url`` is its SQLAlchemy
    URL (psycopg 3)."""

    def _setUp(self):
        self.bindir = _bindir()
        self.owner = _owner()
        self.base = tempfile.mkdtemp(prefix='cryptomine-postgres-',
                                     dir=TEMP_ROOT)
        self.addCleanup(shutil.rmtree, self.base, True)
        self.data = os.path.join(self.base, 'data')
        if self.owner is not None:
            os.chown(self.base, self.owner.pw_uid, self.owner.pw_gid)
        self.port = local_ports.free_port()
        self._run('initdb', '-D', self.data, '-U', SYSTEM_USER,
                  '--auth=trust', '--encoding=UTF8', '--no-sync')
        # Durability is the database's business, not the tests': no
        # fsync keeps a cluster per test cheap.
        self._run('pg_ctl', '-D', self.data, '-w', '-t', '120',
                  '-l', os.path.join(self.base, 'server.log'), '-o',
                  f'-h 127.0.0.1 -p {self.port} -k {self.base} '
                  '-c fsync=off -c full_page_writes=off '
                  '-c synchronous_commit=off -c max_connections=200',
                  'start')
        self.addCleanup(self._run, 'pg_ctl', '-D', self.data, '-w',
                        '-m', 'immediate', 'stop')
        self._run('createdb', '-h', '127.0.0.1', '-p', str(self.port),
                  '-U', SYSTEM_USER, DATABASE)
        self.url = (f'postgresql+psycopg://{SYSTEM_USER}@127.0.0.1:'
                    f'{self.port}/{DATABASE}')

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [os.path.join(self.bindir, program), *args],
            capture_output=True, text=True, timeout=180,
            user=self.owner and self.owner.pw_uid,
            group=self.owner and self.owner.pw_gid,
            extra_groups=[] if self.owner else None, cwd=self.base)
        if result.returncode != 0:
            raise RuntimeError(f'{program} failed: {result.stdout}'
                               f'{result.stderr}')
