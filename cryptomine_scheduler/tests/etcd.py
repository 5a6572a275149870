"""A private etcd server for tests, from Debian's etcd-server.

One member, its data in a temporary directory, client and peer URLs on
free ports of 127.0.0.1; stopped and removed at cleanup.
"""

import os
import shutil
import subprocess
import tempfile

import fixtures
import requests

from cryptomine_scheduler.tests import local_ports
from cryptomine_scheduler.tests import waiting

ETCD = '/usr/bin/etcd'


class EtcdUnavailable(RuntimeError):
    """etcd is not installed on this machine."""


class EtcdServer(fixtures.Fixture):
    """Starts etcd; ``url`` is its tooz URL (the etcd3gw driver, over
    etcd's gRPC gateway), with ``lock_timeout`` seconds of lease."""

    def __init__(self, lock_timeout: int = 30):
        super().__init__()
        self.lock_timeout = lock_timeout

    def _setUp(self):
        if not os.access(ETCD, os.X_OK):
            raise EtcdUnavailable('etcd-server is not installed (apt-get '
                                  'install -y etcd-server)')
        self.base = tempfile.mkdtemp(prefix='cryptomine-etcd-')
        self.addCleanup(shutil.rmtree, self.base, True)
        self.port = local_ports.free_port()
        client = f'http://127.0.0.1:{self.port}'
        peer = f'http://127.0.0.1:{local_ports.free_port()}'
        log = open(os.path.join(self.base, 'etcd.log'), 'ab')
        self.server = subprocess.Popen(
            [ETCD, '--name', 'test', '--data-dir',
             os.path.join(self.base, 'data'),
             '--listen-client-urls', client,
             '--advertise-client-urls', client,
             '--listen-peer-urls', peer,
             '--initial-advertise-peer-urls', peer,
             '--initial-cluster', f'test={peer}',
             '--unsafe-no-fsync'],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.addCleanup(self._stop)
        waiting.wait_for(lambda: self._healthy(client),
                         timeout=waiting.PATIENCE, interval=0.1,
                         seen=self.log)
        self.url = (f'etcd3+http://127.0.0.1:{self.port}'
                    f'?lock_timeout={self.lock_timeout}')

    def _healthy(self, client: str) -> bool:
        if self.server.poll() is not None:
            raise RuntimeError(f'etcd exited: {self.log()}')
        try:
            return requests.get(f'{client}/health', timeout=2).ok
        except requests.ConnectionError:
            return False

    def log(self) -> str:
        with open(os.path.join(self.base, 'etcd.log')) as handle:
            return handle.read()[-2000:]

    def _stop(self) -> None:
        self.server.terminate()
        try:
            self.server.wait(30)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
