"""What the command line imports, each check in a fresh interpreter as
the console script starts.

Help loads every command: it must not import what the commands run on.
A client machine installs the ``[cli]`` extra only: no command may need
the ``[controller]`` or ``[simulator]`` extras (but ``simulate`` and
``host show --plot``).
"""

import json
import subprocess
import sys

from oslotest import base

from cryptomine_scheduler.tests.unit import test_light_imports

CONTROLLER_EXTRA = ('sqlalchemy', 'alembic', 'openstack', 'keystoneauth1',
                    'tooz', 'prometheus_client', 'scipy')
#: Of the [simulator] extra: its PyYAML comes with cliff and oslo.config.
SIMULATOR_EXTRA = ('matplotlib',)
HELP = test_light_imports.REPORT + """
baseline = set(sys.modules)
from cryptomine_scheduler.cli import app

for argv in (['--help'], ['host', 'show', '--help'], ['plan', 'create', '-h'],
             ['help', 'rebalance']):
    try:
        app.main(argv)
    except SystemExit:  # cliff's help of the application exits
        pass
report(baseline)
"""
# What the commands but simulate import to reach the controller and show
# its answers.
COMMANDS = test_light_imports.REPORT + """
import os
import tempfile

baseline = set(sys.modules)
from cryptomine_scheduler.cli import client
from cryptomine_scheduler.cli import host_views  # noqa: F401
from cryptomine_scheduler.cli import hosts  # noqa: F401
from cryptomine_scheduler.cli import plans  # noqa: F401

path = os.path.join(tempfile.mkdtemp(), 'cryptomine.conf')
with open(path, 'w') as handle:
    handle.write('[DEFAULT]\\ntransport_url = rabbit://127.0.0.1:1/\\n')
client.connect([path], 1.0, hint='--config-file').close()
report(baseline)
"""


class TestImports(base.BaseTestCase):

    def imported(self, script: str, forbidden: tuple[str, ...]) -> dict:
        result = subprocess.run(
            [sys.executable, '-c', script, ','.join(forbidden)],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(0, result.returncode, result.stderr)
        return json.loads(result.stdout.splitlines()[-1])

    def test_help_imports_no_command_dependency(self):
        found = self.imported(HELP, ('oslo_messaging', 'numpy',
                                     *CONTROLLER_EXTRA, *SIMULATOR_EXTRA))
        self.assertEqual({'loaded': [], 'bound': []}, found)

    def test_commands_need_only_the_cli_extra(self):
        found = self.imported(COMMANDS, CONTROLLER_EXTRA + SIMULATOR_EXTRA)
        self.assertEqual({'loaded': [], 'bound': []}, found)
