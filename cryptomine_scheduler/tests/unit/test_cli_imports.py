"""What the command line imports, each check in a fresh interpreter as
the console script starts.

Help loads every command: it must not import what the commands run on.
A client machine installs the ``[cli]`` extra only: no command may need
the ``[controller]``, ``[api]`` or ``[simulator]`` extras (but
``simulate`` and ``host show --plot``), nor the message bus.
"""

import json
import subprocess
import sys

from oslotest import base

from cryptomine_scheduler.tests.unit import test_light_imports

# Not prometheus_client: openstacksdk imports it for its optional metrics
# where it is installed.
CONTROLLER_EXTRA = ('sqlalchemy', 'alembic', 'tooz', 'scipy')
API_EXTRA = ('keystonemiddleware', 'oslo_middleware', 'oslo_policy',
             'webob', 'jsonschema')
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
# What the commands but simulate import to reach the API and show its
# answers.
COMMANDS = test_light_imports.REPORT + """
baseline = set(sys.modules)
from keystoneauth1 import adapter
from keystoneauth1 import session

from cryptomine_scheduler.cli import client
from cryptomine_scheduler.cli import errors
from cryptomine_scheduler.cli import host_views  # noqa: F401
from cryptomine_scheduler.cli import hosts  # noqa: F401
from cryptomine_scheduler.cli import plans  # noqa: F401

api = client.Api(adapter.Adapter(session.Session(),
                                 endpoint_override='http://127.0.0.1:1'))
try:
    api.list_plans(1)
except errors.ControllerUnreachable:
    pass
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
                                     *CONTROLLER_EXTRA, *API_EXTRA,
                                     *SIMULATOR_EXTRA))
        self.assertEqual({'loaded': [], 'bound': []}, found)

    def test_commands_need_only_the_cli_extra(self):
        found = self.imported(COMMANDS, ('oslo_messaging', *CONTROLLER_EXTRA,
                                         *API_EXTRA, *SIMULATOR_EXTRA))
        self.assertEqual({'loaded': [], 'bound': []}, found)
