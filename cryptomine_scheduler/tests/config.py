"""Configurations for tests."""

from oslo_config import cfg

from load_collector import cmd as collector_cmd


def collector_conf(**overrides) -> cfg.ConfigOpts:
    """The collector's options, defaults but for ``[collector]``
    ``overrides``."""
    conf = cfg.ConfigOpts()
    collector_cmd.register_opts(conf)
    conf([])
    for name, value in overrides.items():
        conf.set_override(name, value, 'collector')
    return conf
