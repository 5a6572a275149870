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
RPC topic on which the controller serves reads only: the load snapshot,
a host's history and the collectors' counters (what nova-scheduler's
filter and weigher ask for).

Related options:

* ``operator_topic``
"""),
    cfg.StrOpt('operator_topic', default='cryptomine_operator',
               help="""
RPC topic on which the controller serves cryptomine-api: the reads, and
creating, carrying out and aborting plans.  Give only the API's bus user
the right to publish to it (see the security guide).

Related options:

* ``controller_topic``
"""),
    cfg.StrOpt('peer_topic', default='cryptomine_controller_peers',
               help="""
RPC topic (a fanout) on which the controllers cast to one another each
batch of samples they stored, when they share the ingest, and each
placement they learnt from nova's notifications.  Give only the
controllers' bus user the right to publish to it: what arrives there
goes into the summaries and the snapshots unchecked.

Related options:

* ``[controller] share_ingest``
* ``[nova_notifications] enabled``
"""),
    cfg.StrOpt('master_secret', secret=True,
               help="""
Master secret from which every host's signing key is derived
(HMAC-SHA256 of the host name).  It belongs on controllers only, identical
on all of them: they derive each host's key to verify its samples.  A
collector uses it only when ``host_key`` is unset, a fallback that lets
whoever reads this file sign samples for every host.  Generate one with
``openssl rand -hex 32``.

Possible values:

* A string of at least 16 characters.

Related options:

* ``host_key``
"""),
    cfg.StrOpt('host_key', secret=True,
               help="""
Signing key of this compute host, for its collector: what
``cryptomine-host-key HOST`` prints on a controller, for the name set in
``[collector] host``.  With it, a compute host carries no master secret
and can sign samples for itself only.  When set, the collector ignores
``master_secret``.

Possible values:

* 64 hexadecimal digits.

Related options:

* ``master_secret``
* ``[collector] host``
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    groups.register(conf, messaging_group, messaging_opts)


def list_opts():
    return [(messaging_group, messaging_opts)]
