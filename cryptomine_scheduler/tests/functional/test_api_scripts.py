"""How cryptomine-api starts: the console script serving by itself, and
the module a web server loads, each from its configuration file."""

import os
import subprocess
import sys

import fixtures
import requests
from oslotest import base

from cryptomine_scheduler.tests import waiting
from cryptomine_scheduler.tests.functional import test_cli

CONSOLE_SCRIPT = os.path.join(os.path.dirname(sys.executable),
                              'cryptomine-api')
WSGI_APP = """
import webob
from cryptomine_scheduler.wsgi import api
print(webob.Request.blank('/v1/').get_response(api.application).json[
    'version']['id'])
"""


class TestStart(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.port = test_cli.free_port()
        self.config = self.useFixture(fixtures.TempDir()).join('api.conf')
        with open(self.config, 'w') as handle:
            handle.write(f'[DEFAULT]\ntransport_url = fake:/\n'
                         f'[api]\nauth_strategy = noauth\n'
                         f'bind_port = {self.port}\n')

    def test_console_script_serves(self):
        process = subprocess.Popen(
            [CONSOLE_SCRIPT, '--config-file', self.config],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.addCleanup(process.wait, 30)
        self.addCleanup(process.terminate)

        def versions():
            try:
                return requests.get(f'http://127.0.0.1:{self.port}/',
                                    timeout=5).json()
            except requests.ConnectionError:
                return None
        found = waiting.wait_for(versions, waiting.PATIENCE)
        self.assertEqual(['v1'], [v['id'] for v in found['versions']])

    def test_web_server_module_reads_the_named_file(self):
        done = subprocess.run(
            [sys.executable, '-c', WSGI_APP], capture_output=True, text=True,
            timeout=waiting.PATIENCE,
            env={**os.environ, 'CRYPTOMINE_API_CONFIG_FILE': self.config})
        self.assertEqual((0, 'v1'), (done.returncode,
                                     done.stdout.splitlines()[-1]),
                         done.stderr)
