"""Configuration options of the controller and of the shared message bus.

Each module registers one group; :func:`register_opts` registers them all
and :func:`list_opts` feeds ``oslo-config-generator``.
"""

from oslo_config import cfg

from cryptomine_scheduler.conf import controller
from cryptomine_scheduler.conf import database
from cryptomine_scheduler.conf import messaging
from cryptomine_scheduler.conf import default

_MODULES = (default, messaging, database, controller)


def register_opts(conf: cfg.ConfigOpts) -> None:
    for module in _MODULES:
        module.register_opts(conf)


def list_opts():
    return [item for module in _MODULES for item in module.list_opts()]
