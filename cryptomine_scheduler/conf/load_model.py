"""The ``[cryptomine]`` load model options, as the controller reads them.

The re-planner predicts load as the filter and weigher do; its
configuration file takes the same ``[cryptomine]`` options as nova.conf
(keep them equal), without the scheduler's client options.
"""

from oslo_config import cfg

from cryptomine_scheduler.conf import groups
from cryptomine_scheduler.conf import scheduler


def register_opts(conf: cfg.ConfigOpts) -> None:
    groups.register(conf, scheduler.scheduler_group,
                    scheduler.load_model_opts)


def list_opts():
    return [(scheduler.scheduler_group, scheduler.load_model_opts)]
