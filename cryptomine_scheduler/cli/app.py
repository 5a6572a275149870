"""``cryptomine``: see the fleet's load, plan, and rebalance.

A cliff application; its commands are the entry points of the
``cryptomine.cli`` namespace.  It reaches cryptomine-api through
keystoneauth as the OpenStack clients do: a cloud of ``clouds.yaml``
(``--os-cloud``, ``$OS_CLOUD``) or the ``--os-*`` options and
``$OS_*`` variables, the endpoint of the service catalog or an override.
Exit codes: see :mod:`cryptomine_scheduler.cli.errors`.

``cryptomine --help`` loads every command: their modules import only
cliff at the top, and what a command runs on (numpy, matplotlib, the
simulator) when it runs.
"""

import argparse
import itertools
import logging
import sys

from cliff import app
from cliff import commandmanager
from openstack import config as os_config

from cryptomine_scheduler import version as package_version

#: The API's type in keystone's service catalog (as
#: :data:`cryptomine_scheduler.cli.client.SERVICE_TYPE`, which needs
#: numpy to import).
SERVICE_TYPE = 'load-placement'
# Shown from -vv on: keystoneauth's requests, oslo.service's choice of
# backend, matplotlib's font cache notes and the deprecation warnings of
# libraries.
QUIET_LOGGERS = ('keystoneauth', 'openstack', 'urllib3', 'oslo_service',
                 'stevedore', 'matplotlib', 'py.warnings')


DESCRIPTION = "See the fleet's load, plan, and rebalance."


class ClientManager:
    """What commands reach as ``self.app.client_manager``, as in
    OpenStackClient: ``cryptomine`` connects on first use."""

    def __init__(self, loader: os_config.OpenStackConfig,
                 options: argparse.Namespace):
        self._loader = loader
        self._options = options
        self._api = None

    @property
    def cryptomine(self):
        """The :class:`~cryptomine_scheduler.cli.client.Api`."""
        if self._api is None:
            from cryptomine_scheduler.cli import client
            self._api = client.connect(self._loader, self._options)
        return self._api


class CryptomineApp(app.App):

    NAME = 'cryptomine'  # also when run as python -m

    def __init__(self, stdin=None, stdout=None, stderr=None):
        self._loader = os_config.OpenStackConfig()
        self._argv: list[str] = []
        # Deferred: "cryptomine host list --help" is "cryptomine help
        # host list", not the top-level help.
        super().__init__(
            description=DESCRIPTION,
            version=package_version.version_string(),
            command_manager=commandmanager.CommandManager('cryptomine.cli'),
            stdin=stdin, stdout=stdout, stderr=stderr, deferred_help=True)
        self.client_manager: ClientManager | None = None
        self._failure: BaseException | None = None

    def run(self, argv):
        # Again, with the options of the authentication type that the
        # line, the environment or clouds.yaml names.
        self._argv = list(argv)
        self.parser = self.build_option_parser(
            DESCRIPTION, package_version.version_string())
        return super().run(argv)

    def build_option_parser(self, description, version,
                            argparse_kwargs=None):
        parser = super().build_option_parser(description, version,
                                             argparse_kwargs)
        self._loader.register_argparse_arguments(
            parser, list(self._argv), service_keys=[SERVICE_TYPE])
        return parser

    def configure_logging(self):
        super().configure_logging()
        logging.captureWarnings(True)
        if self.options.verbose_level < 2:
            for name in QUIET_LOGGERS:
                logging.getLogger(name).setLevel(logging.CRITICAL)

    def initialize_app(self, argv):
        self.client_manager = ClientManager(self._loader, self.options)

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


def main(argv: list[str] | None = None) -> int:
    return CryptomineApp().run(sys.argv[1:] if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
