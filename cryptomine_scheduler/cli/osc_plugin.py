"""OpenStackClient plugin: ``openstack cryptomine host list`` and the
other commands of ``cryptomine`` (entry points ``openstack.cryptomine.v1``).

The commands reach cryptomine-api with OpenStackClient's session (its
cloud, credentials and TLS options) at the endpoint of the service
catalog's ``load-placement`` service, or at ``--os-cryptomine-endpoint``.
"""

import os

from cryptomine_scheduler.cli import app

API_NAME = 'cryptomine'
API_VERSION_OPTION = 'os_cryptomine_api_version'
DEFAULT_API_VERSION = '1'
API_VERSIONS = {'1': 'cryptomine_scheduler.cli.client.Api'}
ENDPOINT_ENV = 'OS_CRYPTOMINE_ENDPOINT'


def make_client(instance):
    """The API client on OpenStackClient's session (``instance`` is its
    client manager, which keeps the options below in the cloud
    configuration without their ``os_`` prefix)."""
    # Not at the top: openstack imports every plugin for each command.
    from keystoneauth1 import adapter

    from cryptomine_scheduler.cli import client

    endpoint = (instance.get_configuration().get('cryptomine_endpoint')
                or instance.get_endpoint_for_service_type(
                    app.SERVICE_TYPE, region_name=instance.region_name,
                    interface=instance.interface))
    return client.Api(adapter.Adapter(
        session=instance.session, service_type=app.SERVICE_TYPE,
        region_name=instance.region_name, interface=instance.interface,
        endpoint_override=endpoint))


def build_option_parser(parser):
    parser.add_argument(
        '--os-cryptomine-api-version', metavar='<version>',
        default=os.environ.get('OS_CRYPTOMINE_API_VERSION'),
        help=f'cryptomine API version, default={DEFAULT_API_VERSION} '
             '(Env: OS_CRYPTOMINE_API_VERSION)')
    parser.add_argument(
        '--os-cryptomine-endpoint', metavar='<url>',
        default=os.environ.get(ENDPOINT_ENV),
        help='cryptomine-api\'s URL, instead of the service catalog\'s '
             f'{app.SERVICE_TYPE} endpoint (Env: {ENDPOINT_ENV})')
    return parser
