"""A GPU server's BMC: sushy-tools' static Redfish emulator serving a
mock-up that the test writes.

:func:`gpu_server` builds the mock-up's documents (Redfish 2020.4+:
processors of type GPU with their EnvironmentMetrics, temperature
sensors and PCIe devices; the chassis' EnvironmentMetrics and
ThermalSubsystem; or the deprecated Thermal and Power resources, as
older BMCs have them); :class:`StaticBmc` writes them as
``<path>/index.json`` files and serves them with ``sushy-static``.  A
document given as a str is written as it is (garbage answers).
"""

import dataclasses
import datetime
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time

import fixtures
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

V1 = '/redfish/v1'


@dataclasses.dataclass(frozen=True)
class Gpu:
    """One GPU of the mock-up, in PCIe slot ``slot``."""

    slot: int
    bus: int
    temperature_c: float = 65.0
    caution_c: float = 87.0
    power_w: float = 450.0
    power_limit_w: float = 700.0
    model: str = 'NVIDIA H200'

    @property
    def address(self) -> str:
        return f'00000000:{self.bus:02X}:00.0'


def _link(path: str) -> dict:
    return {'@odata.id': f'{V1}/{path}'}


def _members(*paths: str) -> dict:
    return {'Members': [_link(p) for p in paths],
            'Members@odata.count': len(paths)}


def _processor(gpu: Gpu) -> str:
    return f'Systems/1/Processors/GPU{gpu.slot}'


def _gpu_documents(gpu: Gpu, legacy: bool) -> dict[str, object]:
    processor = _processor(gpu)
    device = f'Chassis/1/PCIeDevices/GPU{gpu.slot}'
    sensor = f'Chassis/1/Sensors/GPU{gpu.slot}_Temp'
    documents = {
        processor: {
            'Id': f'GPU{gpu.slot}', 'Name': 'GPU', 'ProcessorType': 'GPU',
            'Model': gpu.model, 'Links': {'PCIeDevice': _link(device)}},
        device: {
            'Id': f'GPU{gpu.slot}', 'Name': gpu.model,
            'Slot': {'Location': {'PartLocation': {
                'ServiceLabel': f'PCIe Slot {gpu.slot}',
                'LocationType': 'Slot', 'LocationOrdinalValue': gpu.slot}}},
            'PCIeFunctions': _link(f'{device}/PCIeFunctions')},
        f'{device}/PCIeFunctions': _members(f'{device}/PCIeFunctions/0'),
        f'{device}/PCIeFunctions/0': {
            'Id': '0', 'Name': 'Function 0', 'FunctionId': 0,
            'DeviceClass': 'DisplayController', 'SegmentNumber': '0x0000',
            'BusNumber': f'0x{gpu.bus:02x}', 'DeviceNumber': '0x00',
            'FunctionNumber': '0x0'},
    }
    if legacy:
        return documents
    documents[processor]['EnvironmentMetrics'] = _link(
        f'{processor}/EnvironmentMetrics')
    documents.update({
        f'{processor}/EnvironmentMetrics': {
            'Id': 'EnvironmentMetrics', 'Name': 'GPU environment',
            'TemperatureCelsius': {'Reading': gpu.temperature_c,
                                   'DataSourceUri': f'{V1}/{sensor}'},
            'PowerWatts': {'Reading': gpu.power_w},
            'PowerLimitWatts': {'SetPoint': gpu.power_limit_w,
                                'AllowableMax': gpu.power_limit_w}},
        sensor: {
            'Id': f'GPU{gpu.slot}_Temp', 'Name': 'GPU temperature',
            'ReadingType': 'Temperature', 'Reading': gpu.temperature_c,
            'Thresholds': {'UpperCaution': {'Reading': gpu.caution_c},
                           'UpperCritical': {'Reading': gpu.caution_c + 5}}},
    })
    return documents


def _legacy_chassis(gpus: list[Gpu], inlet_c: float, chassis_power_w: float,
                    power_cap_w: float | None) -> dict[str, object]:
    """The deprecated Thermal and Power resources: the GPUs' temperatures
    name their processor in RelatedItem; no GPU power; a cap of None is
    capping off."""
    return {
        'Chassis/1/Thermal': {
            'Id': 'Thermal', 'Name': 'Thermal',
            'Temperatures': [
                {'MemberId': 'inlet', 'Name': 'Inlet Temp',
                 'PhysicalContext': 'Intake', 'ReadingCelsius': inlet_c},
                *({'MemberId': f'gpu{g.slot}', 'Name': f'GPU{g.slot} Temp',
                   'PhysicalContext': 'GPU',
                   'ReadingCelsius': g.temperature_c,
                   'UpperThresholdNonCritical': g.caution_c,
                   'RelatedItem': [_link(_processor(g))]} for g in gpus)]},
        'Chassis/1/Power': {
            'Id': 'Power', 'Name': 'Power',
            'PowerControl': [{'MemberId': '0', 'Name': 'Server Power',
                              'PowerConsumedWatts': chassis_power_w,
                              'PowerLimit': {
                                  'LimitInWatts': power_cap_w,
                                  'LimitException': 'LogEventOnly'}}]},
    }


def gpu_server(gpus: list[Gpu], inlet_c: float = 24.0,
               chassis_power_w: float = 3200.0, legacy: bool = False,
               power_cap_w: float | None = None,
               cap_mode: str = 'Automatic') -> dict[str, object]:
    """The documents of a GPU server's Redfish service, by path below
    ``/redfish/v1`` ('' for the service root); ``legacy``: with the
    Thermal and Power resources that Redfish 2020.4 deprecated instead of
    the EnvironmentMetrics, ThermalSubsystem and Sensors.  The chassis
    is capped at ``power_cap_w`` (the power limit's ``ControlMode``
    ``cap_mode``), or not at all."""
    documents = {
        '': {'Id': 'RootService', 'Name': 'Root Service',
             'RedfishVersion': '1.15.0', 'Systems': _link('Systems'),
             'Chassis': _link('Chassis')},
        'Systems': _members('Systems/1'),
        'Systems/1': {'Id': '1', 'Name': 'GPU server',
                      'Processors': _link('Systems/1/Processors')},
        'Systems/1/Processors': _members(
            'Systems/1/Processors/CPU0',
            *(f'Systems/1/Processors/GPU{g.slot}' for g in gpus)),
        'Systems/1/Processors/CPU0': {'Id': 'CPU0', 'Name': 'CPU',
                                      'ProcessorType': 'CPU'},
        'Chassis': _members('Chassis/1'),
        'Chassis/1': {
            'Id': '1', 'Name': 'GPU server chassis',
            'ChassisType': 'RackMount',
            'EnvironmentMetrics': _link('Chassis/1/EnvironmentMetrics'),
            'ThermalSubsystem': _link('Chassis/1/ThermalSubsystem')},
        'Chassis/1/EnvironmentMetrics': {
            'Id': 'EnvironmentMetrics', 'Name': 'Chassis environment',
            'PowerWatts': {'Reading': chassis_power_w},
            **({} if power_cap_w is None else {'PowerLimitWatts': {
                'SetPoint': power_cap_w, 'ControlMode': cap_mode}})},
        'Chassis/1/ThermalSubsystem': {
            'Id': 'ThermalSubsystem', 'Name': 'Thermal subsystem',
            'ThermalMetrics': _link(
                'Chassis/1/ThermalSubsystem/ThermalMetrics')},
        'Chassis/1/ThermalSubsystem/ThermalMetrics': {
            'Id': 'ThermalMetrics', 'Name': 'Chassis temperatures',
            'TemperatureSummaryCelsius': {'Intake': {'Reading': inlet_c}}},
    }
    for gpu in gpus:
        documents.update(_gpu_documents(gpu, legacy))
    if legacy:
        chassis = documents['Chassis/1']
        for path in ('Chassis/1/EnvironmentMetrics',
                     'Chassis/1/ThermalSubsystem',
                     'Chassis/1/ThermalSubsystem/ThermalMetrics'):
            del documents[path]
        del chassis['EnvironmentMetrics'], chassis['ThermalSubsystem']
        chassis.update(Thermal=_link('Chassis/1/Thermal'),
                       Power=_link('Chassis/1/Power'))
        documents.update(_legacy_chassis(gpus, inlet_c, chassis_power_w,
                                         power_cap_w))
    return documents


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def self_signed(folder: str) -> tuple[str, str]:
    """Write a certificate for 127.0.0.1 and its key; return their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME,
                                         'bmc.test')])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(
            ipaddress.ip_address('127.0.0.1'))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                       critical=True)
        .sign(key, hashes.SHA256()))
    cert_path = os.path.join(folder, 'bmc.pem')
    key_path = os.path.join(folder, 'bmc.key')
    with open(cert_path, 'wb') as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, 'wb') as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


class StaticBmc(fixtures.Fixture):
    """``sushy-static`` serving ``documents`` on 127.0.0.1; :attr:`url`.

    With ``tls``, over HTTPS with a self-signed certificate, at
    :attr:`certificate`.
    """

    def __init__(self, documents: dict[str, object], tls: bool = False):
        super().__init__()
        self.documents = documents
        self.tls = tls

    def write(self, path: str, document: object) -> None:
        """Write (or replace) the document served at ``path``."""
        folder = os.path.join(self.root, path)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, 'index.json'), 'w') as f:
            f.write(document if isinstance(document, str)
                    else json.dumps(document))

    def _setUp(self):
        self.root = self.useFixture(fixtures.TempDir()).path
        for path, document in self.documents.items():
            self.write(path, document)
        port = free_port()
        tls = []
        if self.tls:
            self.certificate, key = self_signed(
                self.useFixture(fixtures.TempDir()).path)
            tls = ['--ssl-certificate', self.certificate, '--ssl-key', key]
        self.url = f'{"https" if self.tls else "http"}://127.0.0.1:{port}'
        process = subprocess.Popen(
            [sys.executable, '-m', 'sushy_tools.static.main',
             '--interface', '127.0.0.1', '--port', str(port),
             '--mockup-files', self.root, *tls],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(process.wait)
        self.addCleanup(process.kill)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(('127.0.0.1', port), 1).close()
                return
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError('sushy-static did not start') from None
                time.sleep(0.05)
