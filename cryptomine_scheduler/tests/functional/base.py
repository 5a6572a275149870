"""Controllers and collectors as real processes on a private RabbitMQ."""

import os
import re
import signal
import subprocess
import sys

import fixtures
import oslo_messaging
from oslo_config import cfg
from oslotest import base
from testtools import content

from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler import rpc
from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.tests import rabbit
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting

CONTROLLER = 'cryptomine_scheduler.cmd.controller'
COLLECTOR = 'load_collector.launch'  # as cryptomine-collector starts it
WAIT = waiting.PATIENCE


class PipelineTestCase(base.BaseTestCase):
    """Starts a broker; helpers start services as subprocesses."""

    #: [controller] ingest_workers of the controllers started.
    INGEST_WORKERS = 0

    def setUp(self):
        super().setUp()
        self.broker = self.useFixture(rabbit.RabbitBroker())
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.db_url = self.database_url()
        self.common = self._write('common.conf', f"""
[DEFAULT]
transport_url = {self.broker.url}
state_path = {self.dir}
host = controller-1
[database]
connection = {self.db_url}
[messaging]
master_secret = {samples.SECRET}
[oslo_messaging_rabbit]
# Queue durability is left at cryptomine's default: the broker restart
# test checks that the defaults lose nothing.
rabbit_retry_interval = 1
[controller]
batch_timeout = 1
ingest_workers = {self.INGEST_WORKERS}
[collector]
publish_retry = 1
shutdown_flush_timeout = 60
sources = host,instances
""")

    def database_url(self) -> str:
        """The history database of the controllers started."""
        return f'sqlite:///{self.dir}/cryptomine.sqlite'

    def _write(self, name: str, text: str) -> str:
        path = os.path.join(self.dir, name)
        with open(path, 'w') as handle:
            handle.write(text)
        return path

    def _spawn(self, module: str, name: str, *args: str):
        log = open(os.path.join(self.dir, f'{name}.log'), 'ab')
        process = subprocess.Popen(
            [sys.executable, '-m', module, '--config-file', self.common,
             *args], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.addCleanup(self._attach_log, name)
        self.addCleanup(self._kill, process)
        return process

    def _attach_log(self, name):
        # Shown by the test runner when the test fails.
        self.addDetail(f'{name}.log', content.text_content(self.log(name)))

    @staticmethod
    def _kill(process):
        """SIGKILL a service's whole process group (its supervising
        master made one of its own)."""
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:  # --cycles runs unsupervised
                process.kill()
            process.wait()

    def log(self, name: str) -> str:
        with open(os.path.join(self.dir, f'{name}.log')) as handle:
            return handle.read()

    def start_controller(self, name='controller'):
        process = self._spawn(CONTROLLER, name)
        # Ready once it answers RPC.
        waiting.wait_for(lambda: self._answers(), timeout=WAIT, interval=0.5,
                         seen=lambda: self.log(name)[-2000:])
        return process

    def _answers(self):
        try:
            return self.client(timeout=2).get_ingest_stats()
        except oslo_messaging.MessagingTimeout:
            return None

    def collector_conf(self, host: str, interval: float) -> str:
        """(Re)write the configuration file of ``host``'s collector."""
        return self._write(f'{host}.conf', f"""
[collector]
host = {host}
interval = {interval}
""")

    def start_collector(self, host: str, cycles: int | None,
                        interval=0.05):
        """Start a collector; ``cycles=None`` runs it until SIGTERM."""
        args = ['--config-file', self.collector_conf(host, interval)]
        if cycles is not None:
            args += ['--cycles', str(cycles)]
        return self._spawn(COLLECTOR, host, *args)

    def client(self, timeout=10) -> rpc.ControllerClient:
        if not hasattr(self, '_transport'):
            conf = cfg.ConfigOpts()
            cm_conf.register_opts(conf)
            conf(['--config-file', self.common])
            self._transport = oslo_messaging.get_rpc_transport(
                conf,
                allowed_remote_exmods=rpc.REMOTE_EXCEPTION_MODULES)
            self.addCleanup(self._transport.cleanup)
        return rpc.ControllerClient(self._transport, 'cryptomine_controller',
                                    timeout=timeout)

    def stored_seqs(self) -> dict[str, list[int]]:
        store = store_mod.HistoryStore(store_mod.create_engine(self.db_url))
        try:
            return store.stored_seqs()
        finally:
            store.close()

    def wait_stored(self, total: int, timeout: float = WAIT):
        return waiting.wait_for(
            lambda: sum(map(len, self.stored_seqs().values())) >= total,
            timeout=timeout, interval=0.5,
            seen=lambda: self.stored_summary(total))

    def stored_summary(self, expected: int) -> str:
        """How many samples each host has stored, against ``expected``."""
        seqs = self.stored_seqs()
        counts = {host: len(got) for host, got in sorted(seqs.items())}
        return (f'{sum(counts.values())} of {expected} samples stored '
                f'({counts})')

    def wait_logged(self, name: str, pattern: str,
                    timeout: float = WAIT) -> re.Match:
        """The first match of ``pattern`` in process ``name``'s log."""
        return waiting.wait_for(
            lambda: re.search(pattern, self.log(name)), timeout=timeout,
            interval=0.2,
            seen=lambda: f'{name}.log ends with {self.log(name)[-2000:]!r}')

    def assert_contiguous(self, seqs: dict[str, list[int]], hosts,
                          cycles: int):
        """Every host has ``cycles`` consecutive sequence numbers."""
        self.assertEqual(set(hosts), set(seqs))
        for host in hosts:
            got = seqs[host]
            self.assertEqual(list(range(got[0], got[0] + cycles)), got,
                             f'{host}: missing or duplicate samples')
