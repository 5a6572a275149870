"""A server's BMC over IPMI: OpenIPMI's ``ipmi_sim`` serving sensors that
the test declares.

:class:`SimulatedBmc` writes the simulator's LAN configuration (one
channel on 127.0.0.1, one user), compiles the sensors' data records with
``sdrcomp`` into its state folder, and starts ``ipmi_sim`` with a command
file that adds each sensor, reading its raw value from a file it polls
(:meth:`SimulatedBmc.set_raw` rewrites one).  The test command installs
both programs (Debian's ``openipmi``).
"""

import dataclasses
import errno
import itertools
import os
import socket
import subprocess
import time

import fixtures

from cryptomine_scheduler.tests import local_ports

#: IPMI entity ids (IPMI 2.0, table 43-13).
AIR_INLET = 0x37
EXTERNAL_ENVIRONMENT = 0x27
PROCESSOR = 0x03
POWER_SUPPLY = 0x0a
SYSTEM_CHASSIS = 0x17
_KINDS = {  # kind: (sensor type, sdrcomp's type name, base unit)
    'temperature': (0x01, 'Temperature', 'degrees_C'),
    'power': (0x03, 'Current', 'Watts'),
}
USERNAME, PASSWORD = 'reader', 'secret'
#: Product ids, one per simulated BMC: pyghmi shares the sensor records
#: of BMCs of one product (and firmware) between its sessions.
_PRODUCTS = itertools.count(0x100)


@dataclasses.dataclass(frozen=True)
class Sensor:
    """A threshold sensor reading ``m * raw`` in its unit (an unsigned
    byte ``raw``): degrees C for a temperature, watts for power."""

    number: int
    name: str
    kind: str  # 'temperature' or 'power'
    entity: int
    raw: int
    m: int = 1


def _record(sensor: Sensor) -> str:
    """The sensor's full sensor record, in sdrcomp's language."""
    _, type_name, unit = _KINDS[sensor.kind]
    fields = {
        'sensor_owner_id': '0x20', 'sensor_owner_lun': 0,
        'channel_number': 0, 'sensor_number': sensor.number,
        'entity_id': sensor.entity, 'entity_instance': 1,
        'init_scanning': 'true', 'init_sensor_type': 'true',
        'default_sensor_scan_on': 'true', 'sensor_type': type_name,
        'event_reading_type_code': 1, 'analog_data_format': 'unsigned',
        'rate_unit': 'none', 'modifier_unit': 'none',
        'percentage': 'false', 'base_unit': unit,
        'modifier_unit_code': 'unspecified', 'linearization': 'linear',
        'm': sensor.m, 'tolerance': 0, 'b': 0, 'accuracy': 1,
        'accuracy_exp': 0, 'sensor_direction': 'input', 'r_exp': 0,
        'b_exp': 0, 'sensor_maximum': 255, 'sensor_minimum': 0,
        'id_string': f'"{sensor.name}"'}
    lines = ''.join(f'\t{key}\t{value}\n' for key, value in fields.items())
    return f'sdr type 1\n{lines}endsdr\n'


def _udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(('127.0.0.1', port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


class SimulatedBmc(fixtures.Fixture):
    """``ipmi_sim`` serving ``sensors`` on 127.0.0.1, at :attr:`port`
    (a free one unless given), for the user :data:`USERNAME`."""

    def __init__(self, sensors: list[Sensor], port: int | None = None):
        super().__init__()
        self.sensors = sensors
        self.port = port or local_ports.free_udp_port()

    def set_raw(self, sensor: Sensor, raw: int) -> None:
        """Make ``sensor`` read ``raw`` from the simulator's next poll."""
        path = os.path.join(self.root, f'sensor{sensor.number}.val')
        with open(path + '.new', 'w') as f:
            f.write(f'{raw}\n')
        os.replace(path + '.new', path)

    def _write(self, name: str, text: str) -> str:
        path = os.path.join(self.root, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def _setUp(self):
        self.root = self.useFixture(fixtures.TempDir()).path
        lan = self._write('lan.conf', (
            'name "bmc"\n'
            'set_working_mc 0x20\n'
            '  startlan 1\n'
            f'    addr 127.0.0.1 {self.port}\n'
            '    priv_limit admin\n'
            '    allowed_auths_callback none md5\n'
            '    allowed_auths_user none md5\n'
            '    allowed_auths_operator none md5\n'
            '    allowed_auths_admin none md5\n'
            '    guid a123456789abcdefa123456789abcdef\n'
            '  endlan\n'
            f'  user 2 true "{USERNAME}" "{PASSWORD}" user 10 none md5\n'))
        records = self._write('bmc.sdrs',
                              ''.join(map(_record, self.sensors)))
        state = os.path.join(self.root, 'state')
        folder = os.path.join(state, 'ipmi_sim', 'bmc')
        os.makedirs(folder)
        subprocess.run(['sdrcomp', '-o', os.path.join(folder, 'sdr.20.main'),
                        records], check=True, capture_output=True)
        commands = ['mc_setbmc 0x20',
                    'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 '
                    f'{next(_PRODUCTS):#x} persist_sdr']
        for sensor in self.sensors:
            self.set_raw(sensor, sensor.raw)
            path = os.path.join(self.root, f'sensor{sensor.number}.val')
            commands.append(
                f'sensor_add 0x20 0 {sensor.number} '
                f'{_KINDS[sensor.kind][0]:#04x} 0x01 poll 100 file "{path}"')
            commands.append(f'sensor_set_value 0x20 0 {sensor.number} '
                            f'{sensor.raw} 0')
        commands.append('mc_enable 0x20')
        emu = self._write('bmc.emu', '\n'.join(commands) + '\n')
        process = subprocess.Popen(
            ['ipmi_sim', '-c', lan, '-f', emu, '-s', state, '-n'],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.addCleanup(process.wait)
        self.addCleanup(process.kill)
        deadline = time.monotonic() + 60
        while _udp_port_free(self.port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('ipmi_sim did not start')
            time.sleep(0.05)
