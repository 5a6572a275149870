"""OpenStackClient plugin: ``openstack cryptomine host list`` and the
other commands of ``cryptomine`` (entry points ``openstack.cryptomine.v1``).

The commands talk to the controller over the message bus, not through
keystone, so they need no cloud credentials: ``--cryptomine-config-file``
(or ``$CRYPTOMINE_CONFIG_FILE``) names the cryptomine.conf with the
transport URL.
"""

import os

from cryptomine_scheduler.cli import app

API_NAME = 'cryptomine'
API_VERSION_OPTION = 'os_cryptomine_api_version'
DEFAULT_API_VERSION = '1'
API_VERSIONS = {'1': 'cryptomine_scheduler.cli.client.Controller'}


def make_client(instance):
    """The controller client, from the options below (OSC keeps them in
    the cloud configuration without their ``os_`` prefix)."""
    # Not at the top: openstack imports every plugin for each command.
    from cryptomine_scheduler.cli import client

    config = instance.get_configuration()
    path = config.get('cryptomine_config_file')
    return client.connect(
        [path] if path else [],
        config.get('cryptomine_timeout') or app.DEFAULT_TIMEOUT,
        hint=f'--cryptomine-config-file or ${app.CONFIG_ENV}')


def build_option_parser(parser):
    parser.add_argument(
        '--os-cryptomine-api-version', metavar='<version>',
        default=os.environ.get('OS_CRYPTOMINE_API_VERSION'),
        help=f'cryptomine API version, default={DEFAULT_API_VERSION} '
             '(Env: OS_CRYPTOMINE_API_VERSION)')
    parser.add_argument(
        '--cryptomine-config-file', metavar='<path>',
        default=os.environ.get(app.CONFIG_ENV),
        help='cryptomine.conf with the transport URL of the controller '
             f'(Env: {app.CONFIG_ENV})')
    parser.add_argument(
        '--cryptomine-timeout', type=float, metavar='<seconds>',
        help='seconds to wait for the controller\'s reply (default '
             f'{app.DEFAULT_TIMEOUT:g})')
    return parser
