"""Registering option groups on more than one ``ConfigOpts``.

oslo.config keeps overrides inside the ``OptGroup`` object, so a
module-level group registered on two ``ConfigOpts`` (the services in one
process, or tests) would share overrides.  Each registration therefore
gets a fresh copy of the group.
"""

from oslo_config import cfg


def register(conf: cfg.ConfigOpts, group: cfg.OptGroup, opts) -> None:
    conf.register_group(cfg.OptGroup(group.name, title=group.title,
                                     help=group.help))
    conf.register_opts(opts, group=group.name)
