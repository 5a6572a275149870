"""Configurations for tests."""

from oslo_config import cfg

from cryptomine_scheduler import conf as cm_conf
from load_collector import cmd as collector_cmd
from load_collector import conf as collector_opts


def register_all_opts(conf: cfg.ConfigOpts) -> None:
    """The controller's and the collector's options, as one file holding
    both (an all-in-one node) is read."""
    cm_conf.register_opts(conf)
    collector_opts.register_opts(conf)


def collector_conf(**overrides) -> cfg.ConfigOpts:
    """The collector's options, defaults but for ``[collector]``
    ``overrides``."""
    conf = cfg.ConfigOpts()
    collector_cmd.register_opts(conf)
    conf([])
    for name, value in overrides.items():
        conf.set_override(name, value, 'collector')
    return conf
