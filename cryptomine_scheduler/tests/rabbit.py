"""A private RabbitMQ broker for tests, from Debian's rabbitmq-server.

Each broker gets its own node name, ports, epmd and data directory under
a temporary directory, listens on 127.0.0.1 only, and can be stopped and
started again with its durable queues intact.
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import fixtures

SBIN_GLOB = '/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin'


#: Seconds a broker may take to start, and starts on fresh ports tried
#: before a test gives up (another process may take a port between its
#: choice and the broker's bind).
START_TIMEOUT = 120.0
FIRST_STARTS = 3


class RabbitUnavailable(RuntimeError):
    """RabbitMQ is not installed on this machine."""


class BrokerDidNotStart(RuntimeError):
    """The broker did not accept connections within START_TIMEOUT."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _sbin() -> str:
    found = sorted(glob.glob(SBIN_GLOB))
    if not found or not shutil.which('epmd'):
        raise RabbitUnavailable(
            'rabbitmq-server is not installed (apt-get install -y '
            '--no-install-recommends rabbitmq-server)')
    return found[-1]


def _stop_pid(pid: int, timeout: float = 30.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


class RabbitBroker(fixtures.Fixture):
    """Starts a broker; ``url`` is its oslo.messaging transport URL."""

    def _setUp(self):
        self.sbin = _sbin()
        self.base = tempfile.mkdtemp(prefix='cryptomine-rabbit-')
        self.addCleanup(shutil.rmtree, self.base, True)
        self.epmd_port = _free_port()
        self.env = {
            **os.environ,
            'HOME': self.base,
            'RABBITMQ_MNESIA_BASE': os.path.join(self.base, 'mnesia'),
            'RABBITMQ_LOG_BASE': os.path.join(self.base, 'log'),
            'RABBITMQ_PID_FILE': os.path.join(self.base, 'rabbit.pid'),
            # A crash dump goes with the broker's files, not into the
            # checkout the tests run in.
            'ERL_CRASH_DUMP': os.path.join(self.base, 'erl_crash.dump'),
            'RABBITMQ_NODE_IP_ADDRESS': '127.0.0.1',
            'ERL_EPMD_PORT': str(self.epmd_port),
            'ERL_EPMD_ADDRESS': '127.0.0.1',
            # Erlang distribution on loopback too, not on every address.
            'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS':
                '-kernel inet_dist_use_interface {127,0,0,1}',
        }
        self.epmd = subprocess.Popen(
            ['epmd', '-address', '127.0.0.1', '-port', str(self.epmd_port)],
            env=self.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.addCleanup(self._stop_epmd)
        self.server = None
        for attempt in range(1, FIRST_STARTS + 1):
            self._new_ports()
            try:
                self.start()
                break
            except BrokerDidNotStart:
                self.stop()
                if attempt == FIRST_STARTS:
                    raise
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.env['RABBITMQ_PID_FILE'])
        self.addCleanup(self.stop)

    def _new_ports(self) -> None:
        """The broker's own ports and node name, chosen afresh."""
        self.port = _free_port()
        self.node = f'rabbit{self.port}@localhost'
        self.url = f'rabbit://guest:guest@127.0.0.1:{self.port}/'
        self.env.update({'RABBITMQ_NODENAME': self.node,
                         'RABBITMQ_NODE_PORT': str(self.port),
                         'RABBITMQ_DIST_PORT': str(_free_port())})

    def _stop_epmd(self):
        self.epmd.terminate()
        self.epmd.wait(10)

    def _ctl(self, *args, timeout=90):
        return subprocess.run(
            [os.path.join(self.sbin, 'rabbitmqctl'), '-n', self.node, *args],
            env=self.env, capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        """Start the broker and wait until it accepts connections; raise
        :class:`BrokerDidNotStart` if it exits first or takes longer than
        START_TIMEOUT."""
        out = os.path.join(self.base, 'server.out')
        with open(out, 'ab') as log:
            self.server = subprocess.Popen(
                [os.path.join(self.sbin, 'rabbitmq-server')], env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=self.base)  # where Mnesia writes its core dumps
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            # Short waits, so that a broker that exited (its port taken)
            # is seen; on a busy machine the pid file may also exist and
            # be empty still, which rabbitmqctl reports at once.
            try:
                result = self._ctl('wait', '--timeout', '10',
                                   self.env['RABBITMQ_PID_FILE'], timeout=40)
            except subprocess.TimeoutExpired as exc:
                result = subprocess.CompletedProcess(exc.cmd, -1, '',
                                                     'rabbitmqctl hung')
            if result.returncode == 0:
                return
            if self.server.poll() is not None or (
                    time.monotonic() > deadline):
                with open(out, errors='replace') as log:
                    said = log.read()[-2000:]
                raise BrokerDidNotStart(
                    f'RabbitMQ did not start: {result.stderr}; it said: '
                    f'{said}')
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the broker (its data directory stays for a restart)."""
        if self.server is None:
            return
        try:
            with open(self.env['RABBITMQ_PID_FILE']) as pidfile:
                _stop_pid(int(pidfile.read().strip()))
        except (OSError, ValueError):
            pass  # it never wrote its pid: the session kill below does it
        try:
            # Anything of the broker's session still alive goes too.
            os.killpg(self.server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.server.wait(30)
        self.server = None

    def add_user(self, name: str, password: str,
                 permissions: tuple[str, str, str],
                 topics: dict[str, tuple[str, str]] | None = None) -> str:
        """Add a user with ``permissions`` (configure, write and read
        patterns of exchange and queue names) on the default vhost and,
        for each exchange of ``topics``, the write and read patterns of
        its routing keys; return the user's transport URL."""
        commands = [('add_user', name, password),
                    ('set_permissions', name, *permissions)]
        commands += [('set_topic_permissions', name, exchange, *patterns)
                     for exchange, patterns in (topics or {}).items()]
        for command in commands:
            result = self._ctl(*command)
            if result.returncode != 0:
                raise RuntimeError(f'rabbitmqctl {command[0]} failed: '
                                   f'{result.stderr}')
        return f'rabbit://{name}:{password}@127.0.0.1:{self.port}/'

    def queue_depths(self) -> dict[str, int]:
        """Return the messages waiting in each queue."""
        result = self._ctl('list_queues', '-q', 'name', 'messages')
        depths = {}
        for line in result.stdout.splitlines():
            name, _, count = line.rpartition('\t')
            if count.isdigit():
                depths[name] = int(count)
        return depths
