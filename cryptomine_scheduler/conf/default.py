"""Options of the ``[DEFAULT]`` group: identity and state of a service."""

import socket

from oslo_config import cfg

default_opts = [
    cfg.StrOpt('host', default=socket.gethostname(),
               sample_default='<hostname>',
               help="""
Name of this controller, used as its RPC server name.  Must be unique
among the controllers sharing a message bus.
"""),
    cfg.StrOpt('state_path', default='/var/lib/cryptomine',
               help="""
Directory for the state of cryptomine services (the default SQLite history
database lives here).

Related options:

* ``[database] connection``
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(default_opts)


def list_opts():
    return [('DEFAULT', default_opts)]
