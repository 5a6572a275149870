"""A miner that speaks the cgminer JSON API over real TCP, for tests.

The API: a client connects to port 4028, sends ``{"command": "summary"}``
and reads a JSON reply until the miner closes the connection, cgminer
ending it with a NUL byte.  Every reply has a ``STATUS`` list (``S``
success, ``I`` information, ``W`` warning, ``E`` error, ``F`` fatal) and
a section named after the command.  Since API 3.1, report commands
joined by ``+`` ask for all of them at once; the reply holds each one's
reply under its name, in a one-element list as cgminer's ``api.c`` sends
it, ``{"summary": [reply], "devs": [reply], "stats": [reply], "id": 1}``
(the API-README's example shows each reply bare, without the list).

The canned replies below copy the layout of real firmwares, trimmed:

``cgminer``
    cgminer 4.x on a GPU rig: ``MHS 5s``/``MHS av`` numbers, one ``DEVS``
    record per GPU with ``Temperature``, ``Fan Speed`` (rpm) and
    ``Status``, and ``STATS`` records without sensors.
``antminer-s9``
    Bitmain bmminer 2.x: ``GHS 5s`` as a string, ``GHS av`` a number,
    ``devs`` failing (no devices), and in ``STATS`` a version record then
    a record of ``fanN``/``tempN``/``temp2_N``/``chain_acnN``/
    ``chain_acsN`` fields for eight connectors of which three are fitted.
``antminer-s19``
    The same layout with every ``STATS`` value a string, Antminer's
    ``temp_chipN``/``temp_pcbN`` joined as ``"56-56-72-72"``, a failed
    chip (``x``) on the third chain and ``chain_power``.
``strings``
    A small vendor's firmware: every number a string, ``KHS 5s`` only,
    no ``Hardware Errors``, ``stats`` unknown, combined commands
    rejected as a whole, and no NUL at the end.

Modes, settable at any time through :attr:`FakeMiner.mode`: None (answer),
``slow`` (answer after :attr:`FakeMiner.delay` seconds, unless the client
hangs up first), ``garbage`` (not
JSON), ``error`` (``STATUS`` ``E`` to every command), ``glitch`` (the
firmware bug that writes ``}{`` for ``},{`` between list items),
``single`` (a firmware older than API 3.1: a joined command is one
invalid command) and ``bare`` (joined replies without their lists, as
the API-README shows them).
:meth:`FakeMiner.stop` closes the port (connection refused) and
:meth:`FakeMiner.start` opens the same port again.
"""

import concurrent.futures
import contextlib
import dataclasses
import json
import select
import socket
import socketserver
import threading
import time

import fixtures

WHEN = 1700000000
HOST = '127.0.0.1'
GARBAGE = b'HTTP/1.1 400 Bad Request\r\n\r\n<html>bad request</html>\0'
#: Threads a fake answers on at once (a collector opens at most three
#: connections to a miner in a cycle).
ANSWERING_THREADS = 8
MODES = (None, 'slow', 'garbage', 'error', 'glitch', 'single', 'bare')


def status(code: int, msg: str, state: str = 'S') -> list[dict]:
    """A ``STATUS`` section."""
    return [{'STATUS': state, 'When': WHEN, 'Code': code, 'Msg': msg,
             'Description': 'cgminer 4.11.1'}]


def error(msg: str, code: int = 14) -> dict:
    """A reply reporting an error, by default cgminer's unknown command."""
    return {'STATUS': status(code, msg, 'E'), 'id': 1}


@dataclasses.dataclass(frozen=True)
class Flavour:
    """How one firmware answers."""

    replies: dict[str, dict]
    combined: bool = True
    nul: bool = True


def _gpu(index: int, state: str, celsius: float, rpm: int,
         mhs: float) -> dict:
    return {'GPU': index, 'Enabled': 'Y', 'Status': state,
            'Temperature': celsius, 'Fan Speed': rpm,
            'Fan Percent': 55, 'GPU Clock': 1150,
            'Memory Clock': 1500, 'GPU Voltage': 1.2, 'MHS av': mhs,
            'MHS 5s': mhs, 'Accepted': 1700, 'Rejected': 4,
            'Hardware Errors': 1}


_S9_FANS = {f'fan{n}': {3: 5760, 6: 5640}.get(n, 0) for n in range(1, 9)}
_S9_TEMPS = {f'temp{n}': {6: 61, 7: 63, 8: 60}.get(n, 0)
             for n in range(1, 9)}
_S9_CHIP_TEMPS = {f'temp2_{n}': {6: 76, 7: 79, 8: 74}.get(n, 0)
                  for n in range(1, 9)}
_S9_CHAINS = {f'chain_acn{n}': 63 if n in (6, 7, 8) else 0
              for n in range(1, 9)}
_S9_CHAIN_STATES = {
    f'chain_acs{n}': ' ' + ' '.join(['oooooooo'] * 7) + ' ooooooo'
    if n in (6, 7, 8) else '' for n in range(1, 9)}
_S19_CHAIN = ' '.join(['oooooooooo'] * 7) + ' oooooo'

FLAVOURS = {
    'cgminer': Flavour({
        'summary': {'STATUS': status(11, 'Summary'), 'SUMMARY': [{
            'Elapsed': 86400, 'MHS av': 13987.25, 'MHS 5s': 14020.5,
            'MHS 1m': 14001.0, 'Found Blocks': 0, 'Getworks': 2880,
            'Accepted': 5120, 'Rejected': 12, 'Hardware Errors': 3,
            'Utility': 3.55, 'Discarded': 120, 'Stale': 1,
            'Get Failures': 0, 'Local Work': 90000, 'Remote Failures': 0,
            'Network Blocks': 144, 'Total MH': 1208448000.0,
            'Difficulty Accepted': 5120.0, 'Best Share': 81234,
            'Device Hardware%': 0.0586, 'Device Rejected%': 0.2339,
            'Pool Rejected%': 0.2339, 'Pool Stale%': 0.0195,
            'Last getwork': WHEN}], 'id': 1},
        'devs': {'STATUS': status(9, '3 GPU(s)'), 'DEVS': [
            _gpu(0, 'Alive', 66.0, 3200, 4700.5),
            _gpu(1, 'Alive', 71.5, 3350, 9320.0),
            _gpu(2, 'Dead', 0.0, 0, 0.0)], 'id': 1},
        'stats': {'STATUS': status(70, 'CGMiner stats'), 'STATS': [
            {'STATS': n, 'ID': f'GPU{n}', 'Elapsed': 86400, 'Calls': 0,
             'Wait': 0.0, 'Max': 0.0, 'Min': 99999999.0}
            for n in range(3)] + [
            {'STATS': 3, 'ID': 'POOL0', 'Elapsed': 86400, 'Calls': 0,
             'Wait': 0.0, 'Max': 0.0, 'Min': 99999999.0,
             'Pool Calls': 0, 'Pool Attempts': 0, 'Pool Wait': 0.0}],
            'id': 1},
    }),
    'antminer-s9': Flavour({
        'summary': {'STATUS': status(11, 'Summary'), 'SUMMARY': [{
            'Elapsed': 93221, 'GHS 5s': '13532.42', 'GHS av': 13501.10,
            'Found Blocks': 0, 'Getworks': 6180, 'Accepted': 24512,
            'Rejected': 31, 'Hardware Errors': 1547, 'Utility': 15.78,
            'Discarded': 151234, 'Stale': 0, 'Get Failures': 0,
            'Local Work': 2034511, 'Remote Failures': 0,
            'Network Blocks': 155, 'Total MH': 1.2585e12,
            'Device Hardware%': 0.0021, 'Device Rejected%': 0.1263,
            'Pool Rejected%': 0.1263, 'Pool Stale%': 0.0,
            'Last getwork': 0}], 'id': 1},
        'devs': error('No ASCs', 9),
        'stats': {'STATUS': status(70, 'BMMiner stats'), 'STATS': [
            {'BMMiner': '2.0.0', 'Miner': '16.8.1.3',
             'CompileTime': 'Fri Nov 17 20:57:08 CST 2017',
             'Type': 'Antminer S9'},
            {'STATS': 0, 'ID': 'BC50', 'Elapsed': 93221, 'Calls': 0,
             'Wait': 0.0, 'Max': 0.0, 'Min': 99999999.0,
             'GHS 5s': '13532.42', 'GHS av': 13501.10, 'miner_count': 3,
             'frequency': '650', 'fan_num': 2, **_S9_FANS,
             'temp_num': 3, **_S9_TEMPS, **_S9_CHIP_TEMPS,
             'temp_max': 63, 'Device Hardware%': 0.0021,
             'no_matching_work': 12, **_S9_CHAINS, **_S9_CHAIN_STATES,
             **{f'chain_rate{n}': {6: '4510.12', 7: '4498.77',
                                   8: '4523.53'}.get(n, '')
                for n in range(1, 9)}}], 'id': 1},
    }),
    'antminer-s19': Flavour({
        'summary': {'STATUS': status(11, 'Summary'), 'SUMMARY': [{
            'Elapsed': '35012', 'GHS 5s': '95103.45', 'GHS av': '94937.35',
            'Accepted': '8012', 'Rejected': '4', 'Hardware Errors': '22',
            'Utility': '13.73', 'Pool Rejected%': '0.0499'}], 'id': 1},
        'devs': {'STATUS': status(9, '0 ASC(s)'), 'DEVS': [], 'id': 1},
        'stats': {'STATUS': status(70, 'BMMiner stats'), 'STATS': [
            {'BMMiner': '1.0.0', 'Miner': 'uart_trans.1.3',
             'CompileTime': 'Mon Jun 7 18:56:22 CST 2021',
             'Type': 'Antminer S19'},
            {'STATS': '0', 'ID': 'BTM_SOC0', 'Elapsed': '35012',
             'GHS 5s': '95103.45', 'GHS av': '94937.35',
             'miner_count': '3', 'fan_num': '4', 'fan1': '5880',
             'fan2': '5880', 'fan3': '5760', 'fan4': '5820',
             'temp_num': '3', 'temp1': '0', 'temp2': '0', 'temp3': '0',
             'temp_pcb1': '41-40-57-57', 'temp_pcb2': '42-41-58-58',
             'temp_pcb3': '40-40-56-56', 'temp_chip1': '56-56-72-72',
             'temp_chip2': '57-57-74-73', 'temp_chip3': '55-55-71-70',
             'chain_acn1': '76', 'chain_acn2': '76', 'chain_acn3': '76',
             'chain_acs1': _S19_CHAIN, 'chain_acs2': _S19_CHAIN,
             'chain_acs3': _S19_CHAIN[:-1] + 'x',
             'chain_rate1': '31701.15', 'chain_rate2': '31754.02',
             'chain_rate3': '31648.28', 'chain_power': '3254.12'}],
            'id': 1},
    }),
    'strings': Flavour({
        'summary': {'STATUS': status(11, 'Summary'), 'SUMMARY': [{
            'Elapsed': '5000', 'KHS 5s': '2500000.0', 'Accepted': '42',
            'Rejected': '0', 'Power': '1380'}], 'id': 1},
        'devs': {'STATUS': status(9, '2 ASC(s)'), 'DEVS': [
            {'ASC': '0', 'Status': 'Alive', 'Temperature': '71.25'},
            {'ASC': '1', 'Status': 'Alive', 'Temperature': '0'}],
            'id': 1},
    }, combined=False, nul=False),
}


def reply_bytes(flavour: str, command: str, mode: str | None = None
                ) -> bytes:
    """What a miner of ``flavour`` in ``mode`` sends back to ``command``."""
    if mode == 'garbage':
        return GARBAGE
    replies = FLAVOURS[flavour]
    names = command.split('+')
    if mode == 'error':
        body = error(f"Access denied to '{command}' command", 45)
    elif len(names) == 1:
        body = replies.replies.get(command) or error('Invalid command')
    elif replies.combined and mode != 'single':
        body = {name: replies.replies.get(name) or error('Invalid command')
                for name in names}
        if mode != 'bare':
            body = {name: [reply] for name, reply in body.items()}
        body['id'] = 1
    else:
        body = error('Invalid command')
    text = json.dumps(body, separators=(',', ':'))
    if mode == 'glitch':
        text = text.replace('},{', '}{')
    return text.encode() + (b'\0' if replies.nul else b'')


def _read_command(sock: socket.socket) -> str | None:
    """The command of a JSON request, or None if none arrived."""
    data = b''
    while True:
        try:
            chunk = sock.recv(4096)
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
        try:
            return str(json.loads(data.rstrip(b'\0'))['command'])
        except ValueError:
            continue
        except (KeyError, TypeError):
            return None


class InFlight:
    """The most connections open at once, over the fake miners sharing
    this object."""

    def __init__(self):
        self.peak = 0
        self._open = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def connection(self):
        with self._lock:
            self._open += 1
            self.peak = max(self.peak, self._open)
        try:
            yield
        finally:
            with self._lock:
                self._open -= 1


def _hung_up(sock: socket.socket, fake: 'FakeMiner') -> bool:
    """Hold the reply for ``fake.delay`` seconds; True if the client hung
    up (or the fake stopped) first."""
    deadline = time.monotonic() + fake.delay
    while time.monotonic() < deadline and not fake.stopping.is_set():
        readable, _, _ = select.select([sock], [], [], 0.05)
        if readable and not sock.recv(1, socket.MSG_PEEK):
            return True
    return fake.stopping.is_set()


class _Handler(socketserver.BaseRequestHandler):

    def handle(self):
        fake = self.server.fake
        fake.count_connection()
        with fake.in_flight.connection():
            self._answer(fake)

    def _answer(self, fake: 'FakeMiner') -> None:
        self.request.settimeout(5.0)
        command = _read_command(self.request)
        if command is None:
            return
        fake.commands.append(command)
        mode = fake.mode
        if mode == 'slow' and _hung_up(self.request, fake):
            return
        try:
            self.request.sendall(reply_bytes(fake.flavour, command, mode))
        except OSError:
            return  # the client gave up first


class _Server(socketserver.TCPServer):
    """Answers each connection on a thread of a pool kept for the fake's
    life.  A miner is a device on the network: polling it starts no
    thread on the collector's host, whereas a thread per connection
    would, and each new thread's ID would cost the collector's instance
    source a look."""

    allow_reuse_address = True

    def __init__(self, address, handler):
        super().__init__(address, handler)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            ANSWERING_THREADS, thread_name_prefix='fake-miner')

    def process_request(self, request, client_address):
        self._pool.submit(self._answer, request, client_address)

    def _answer(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def server_close(self):
        super().server_close()
        # Connections already accepted are answered, as before the stop.
        self._pool.shutdown(wait=False)

    def handle_error(self, request, client_address):
        """Keep tests quiet about clients that hang up."""


class FakeMiner(fixtures.Fixture):
    """A cgminer API server on 127.0.0.1, on an ephemeral port.

    :attr:`connections` counts the connections accepted and
    :attr:`commands` lists the commands received, in order.
    """

    def __init__(self, flavour: str = 'antminer-s9',
                 mode: str | None = None, delay: float = 10.0,
                 in_flight: InFlight | None = None):
        super().__init__()
        if flavour not in FLAVOURS or mode not in MODES:
            raise ValueError(f'unknown flavour {flavour!r} or mode {mode!r}')
        self.flavour = flavour
        self.mode = mode
        self.delay = delay
        self.in_flight = in_flight or InFlight()

    def _setUp(self):
        self.port = 0
        self.connections = 0
        self.commands: list[str] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = None
        self.start()
        self.addCleanup(self.stop)

    @property
    def entry(self) -> str:
        """This miner as a ``[collector] miners`` entry."""
        return f'{HOST}:{self.port}'

    def count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def start(self) -> None:
        """Listen (again) on this miner's port."""
        self.stopping.clear()
        self._server = _Server((HOST, self.port), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the port: connections are refused until start()."""
        if self._server is None:
            return
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = None
