"""``cryptomine``: see the fleet's load, plan, and rebalance.

A cliff application; its commands are the entry points of the
``cryptomine.cli`` namespace.  It reads the services' cryptomine.conf
(``--config-file``) for the transport URL and the controller's topic and
talks to the controller over RPC.  Exit codes: see
:mod:`cryptomine_scheduler.cli.errors`.

``cryptomine --help`` loads every command: their modules import only
cliff at the top, and what a command runs on (oslo.messaging, numpy,
matplotlib, the simulator) when it runs.
"""

import itertools
import logging
import os
import sys

from cliff import app
from cliff import commandmanager

from cryptomine_scheduler import version as package_version

CONFIG_ENV = 'CRYPTOMINE_CONFIG_FILE'
DEFAULT_TIMEOUT = 30.0
# Shown from -vv on: reconnect messages that the command's error sums up,
# oslo.service's choice of backend, matplotlib's font cache notes and the
# deprecation warnings of libraries (oslo_log names oslo_messaging's
# loggers oslo.messaging).
QUIET_LOGGERS = ('oslo.messaging', 'oslo_messaging', 'oslo_service', 'kombu',
                 'amqp', 'stevedore', 'matplotlib', 'py.warnings')


class ClientManager:
    """What commands reach as ``self.app.client_manager``, as in
    OpenStackClient: ``cryptomine`` connects on first use."""

    def __init__(self, config_files: list[str], timeout: float):
        self._config_files = config_files or (
            [os.environ[CONFIG_ENV]] if os.environ.get(CONFIG_ENV) else [])
        self._timeout = timeout
        self._controller = None

    @property
    def cryptomine(self):
        """The :class:`~cryptomine_scheduler.cli.client.Controller`."""
        if self._controller is None:
            from cryptomine_scheduler.cli import client
            self._controller = client.connect(
                self._config_files, self._timeout,
                hint=f'--config-file or ${CONFIG_ENV}')
        return self._controller

    def close(self) -> None:
        if self._controller is not None:
            self._controller.close()
            self._controller = None


class CryptomineApp(app.App):

    NAME = 'cryptomine'  # also when run as python -m

    def __init__(self, stdin=None, stdout=None, stderr=None):
        # Deferred: "cryptomine host list --help" is "cryptomine help
        # host list", not the top-level help.
        super().__init__(
            description="See the fleet's load, plan, and rebalance.",
            version=package_version.version_string(),
            command_manager=commandmanager.CommandManager('cryptomine.cli'),
            stdin=stdin, stdout=stdout, stderr=stderr, deferred_help=True)
        self.client_manager: ClientManager | None = None
        self._failure: BaseException | None = None

    def build_option_parser(self, description, version,
                            argparse_kwargs=None):
        parser = super().build_option_parser(description, version,
                                             argparse_kwargs)
        parser.add_argument(
            '--config-file', action='append', default=[],
            dest='config_files', metavar='PATH',
            help='cryptomine.conf with [DEFAULT] transport_url and '
                 '[messaging] controller_topic; can be repeated (default: '
                 f'${CONFIG_ENV}, else /etc/cryptomine/'
                 'cryptomine.conf and the other oslo.config places)')
        parser.add_argument(
            '--timeout', type=float, default=DEFAULT_TIMEOUT,
            metavar='SECONDS',
            help='seconds to wait for the controller\'s reply (default '
                 f'{DEFAULT_TIMEOUT:g})')
        return parser

    def configure_logging(self):
        super().configure_logging()
        logging.captureWarnings(True)
        if self.options.verbose_level < 2:
            for name in QUIET_LOGGERS:
                logging.getLogger(name).setLevel(logging.CRITICAL)

    def initialize_app(self, argv):
        self.client_manager = ClientManager(self.options.config_files,
                                            self.options.timeout)

    def run_subcommand(self, argv):
        if argv[:1] == ['help']:
            # The options of "host list -f json --help" are the
            # command's, which cliff's help command would refuse.
            argv = list(itertools.takewhile(
                lambda arg: not arg.startswith('-'), argv))
        self._failure = None
        result = super().run_subcommand(argv)
        if self._failure is not None:
            return getattr(self._failure, 'exit_code', 1)
        return result

    def clean_up(self, cmd, result, err):
        self._failure = err
        self.client_manager.close()


def main(argv: list[str] | None = None) -> int:
    return CryptomineApp().run(sys.argv[1:] if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
