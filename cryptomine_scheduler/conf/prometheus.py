"""Options of the controller's Prometheus endpoint."""

from oslo_config import cfg

from cryptomine_scheduler.conf import groups

prometheus_group = cfg.OptGroup(
    'prometheus', title='Prometheus metrics',
    help='The HTTP endpoint from which Prometheus scrapes the controller.')

prometheus_opts = [
    cfg.PortOpt('metrics_port', default=0,
                help="""
TCP port of the controller's Prometheus endpoint, which serves the
metrics at ``http://<metrics_host>:<metrics_port>/metrics``.  0 disables
the endpoint.

Related options:

* ``metrics_host``
"""),
    cfg.HostAddressOpt('metrics_host', default='127.0.0.1',
                       help="""
Address the Prometheus endpoint listens on.  The metrics name every
compute host and are served without authentication: keep the loopback
default, or listen on a management network only.

Possible values:

* ``127.0.0.1`` (local scrapes only), ``::1``
* The controller's address on the management network.

Related options:

* ``metrics_port``
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    groups.register(conf, prometheus_group, prometheus_opts)


def list_opts():
    return [(prometheus_group, prometheus_opts)]
