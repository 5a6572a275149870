"""How the controller reaches nova and placement (the re-planner's client).

Either ``cloud`` names a ``clouds.yaml`` entry, or the keystoneauth
options of this group (``auth_type``, ``auth_url``, ``username``, ...)
authenticate, as in nova's own ``[placement]`` and ``[neutron]`` groups.
"""

from oslo_config import cfg

from cryptomine_scheduler.conf import groups
from cryptomine_scheduler.placement import device_inventory

GROUP = 'nova_api'
#: Seconds an API call to nova or placement may take (keystoneauth's
#: ``timeout``, unset there by default).
DEFAULT_TIMEOUT = 60

nova_api_group = cfg.OptGroup(
    GROUP, title='nova and placement API client',
    help="""
Credentials and endpoints the controller uses to read compute hosts,
their GPUs and miners, servers and server groups from nova and
placement, and to live-migrate servers.  The user needs nova's admin
role (live migration, all projects' servers, compute services) and
placement's reader role.  Without them, the re-planner is off and which
hosts offer GPUs and miners comes from aggregates and load samples.
""")

nova_api_opts = [
    cfg.StrOpt('cloud',
               help="""
Name of a cloud in ``clouds.yaml`` (searched for by openstacksdk: the
current directory, ``~/.config/openstack``, ``/etc/openstack``, or the
file named by ``OS_CLIENT_CONFIG_FILE``).  When set, the keystoneauth
options of this group are ignored.

Possible values:

* ``envvars``: the ``OS_*`` environment variables.
* Any cloud name of ``clouds.yaml``.

Related options:

* ``auth_type``
"""),
    cfg.StrOpt('region_name',
               help="""
Region of the compute and placement endpoints in the service catalog.
Unset takes the catalog's only region (or the cloud's ``region_name``).
"""),
    cfg.StrOpt('interface', default='public',
               choices=[('public', 'the public endpoints'),
                        ('internal', 'the internal endpoints'),
                        ('admin', 'the admin endpoints')],
               help="""
Which endpoints of the service catalog to use for nova and placement.
Ignored when ``cloud`` is set (``clouds.yaml`` says it there).
"""),
    cfg.IntOpt('device_refresh_interval', default=60, min=0,
               help="""
Seconds between two readings of every host's GPUs and miners from
placement (their inventories and what nova allocated of them), which the
controller puts in the load snapshot for the filter, the weigher and the
re-planner; the same reading tells which compute hosts send no load data
(the controller warns and exports ``cryptomine_host_never_sampled``).  0
reads them only when the re-planner reads the cluster.

Related options:

* ``gpu_resource_classes``, ``asic_resource_classes``
"""),
    cfg.ListOpt('gpu_resource_classes',
                default=list(device_inventory.DEFAULT_GPU_CLASSES),
                help="""
Placement resource classes that count as GPUs, as shell-style patterns:
physical and virtual GPUs, and PCI devices nova reports to placement
(``[pci] report_in_placement``; class ``CUSTOM_PCI_<VENDOR>_<PRODUCT>``
unless the device spec names one).  A host with an inventory of any of
them is a GPU host, whatever its aggregates say.
"""),
    cfg.ListOpt('asic_resource_classes',
                default=list(device_inventory.DEFAULT_ASIC_CLASSES),
                help="""
Placement resource classes that count as ASIC miners, as shell-style
patterns (for example ``CUSTOM_ASIC_MINER``, the custom class an
operator gives the boards of a host through a provider config file).
"""),
]


# keystoneauth is imported where it is needed: the collector imports this
# package too, and keystoneauth would add about 6 MiB to its memory.

def register_opts(conf: cfg.ConfigOpts) -> None:
    from keystoneauth1 import loading as ks_loading
    groups.register(conf, nova_api_group, nova_api_opts)
    ks_loading.register_session_conf_options(conf, GROUP)
    ks_loading.register_auth_conf_options(conf, GROUP)
    # A nova API that accepts and never answers must not hang a round.
    conf.set_default('timeout', DEFAULT_TIMEOUT, group=GROUP)


def keystoneauth_opts() -> list[cfg.Opt]:
    """keystoneauth's session, auth and password plugin options (with
    keystoneauth's help), as the sample shows them."""
    from keystoneauth1 import loading as ks_loading
    session = ks_loading.get_session_conf_options()
    cfg.set_defaults(session, timeout=DEFAULT_TIMEOUT)
    return (session + ks_loading.get_auth_common_conf_options()
            + ks_loading.get_auth_plugin_conf_options('password'))


def list_opts():
    return [(nova_api_group, nova_api_opts + keystoneauth_opts())]
