"""Topics and keys shared by the collector and the controller."""

from oslo_config import cfg

from cryptomine_scheduler.conf import groups

messaging_group = cfg.OptGroup(
    'messaging', title='cryptomine message bus',
    help='Topics and signing keys used between collectors and controllers.')

messaging_opts = [
    cfg.StrOpt('sample_topic', default='cryptomine_samples',
               help="""
Notification topic on which collectors publish load samples and the
controller listens.

Related options:

* ``[controller] listener_pool``
"""),
    cfg.StrOpt('controller_topic', default='cryptomine_controller',
               help="""
RPC topic of the controller (snapshot and history queries).
"""),
    cfg.StrOpt('master_secret', secret=True,
               help="""
Shared master secret from which every host's signing key is derived
(HMAC-SHA256 of the host name).  Required on collectors and controllers,
identical everywhere.  Generate one with ``openssl rand -hex 32``.

Possible values:

* A string of at least 16 characters.
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    groups.register(conf, messaging_group, messaging_opts)


def list_opts():
    return [(messaging_group, messaging_opts)]
