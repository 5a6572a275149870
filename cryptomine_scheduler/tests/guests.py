"""Processes that look like qemu guests to the collector."""

import subprocess
import sys
import uuid

import fixtures

BUSY = 'import time\nwhile True: pass'
IDLE = 'import time; time.sleep(3600)'


class FakeGuests(fixtures.Fixture):
    """Spawns Python processes whose command line reads like qemu's.

    ``argv[0]`` is ``qemu-system-x86_64`` (the interpreter runs anyway) and
    the nova instance UUID follows ``-uuid``, as libvirt writes it;
    ``args`` (devices, say) follow.
    """

    def __init__(self, count: int, code: str = IDLE,
                 args: tuple[str, ...] = ()):
        super().__init__()
        self.count = count
        self.code = code
        self.args = args

    def _setUp(self):
        self.uuids = [str(uuid.uuid4()) for _ in range(self.count)]
        self.processes = []
        for n, guest_uuid in enumerate(self.uuids):
            process = subprocess.Popen(
                ['qemu-system-x86_64', '-c', self.code, '-name',
                 f'guest=instance-{n:08x}', '-uuid', guest_uuid,
                 '-smp', '1', *self.args], executable=sys.executable)
            self.processes.append(process)
            self.addCleanup(self._kill, process)

    @staticmethod
    def _kill(process):
        process.kill()
        process.wait()
