"""Options of ``cryptomine-collector``."""

import socket

from oslo_config import cfg

from cryptomine_scheduler.conf import groups

collector_group = cfg.OptGroup(
    'collector', title='cryptomine collector',
    help='Sampling on a compute host.')

collector_opts = [
    cfg.StrOpt('host', default=socket.gethostname(),
               sample_default='<hostname>',
               help="""
Name of this compute host exactly as nova knows it.  Defaults to the
machine's host name, which is also nova-compute's default for
``[DEFAULT] host``; set both to the same value if you changed nova's.
"""),
    cfg.FloatOpt('interval', default=10.0, min=0.01,
                 help="""
Seconds between two samples.

Related options:

* ``jitter``
"""),
    cfg.FloatOpt('jitter', default=0.1, min=0.0, max=0.5,
                 help="""
Random spread of the interval, as a fraction of it, so that many
collectors do not publish in lockstep.
"""),
    cfg.ListOpt('sources', default=['host', 'instances'],
                help="""
Sample sources to load, by entry point name in the
``cryptomine.collector.sources`` namespace.  ``host`` is required.
"""),
    cfg.StrOpt('instance_cmdline_regex',
               default=r'(^|/)(qemu-system-[a-z0-9_]+|qemu-kvm|kvm)$',
               help="""
Regular expression matched against the first word of a process's command
line to recognise a guest.  The instance UUID is read from the ``-uuid``
argument.
"""),
    cfg.IntOpt('buffer_size', default=8640, min=1,
               help="""
Samples kept while the message bus is unreachable (8640 is a day at the
default interval).  When full, the oldest are dropped and counted.
"""),
    cfg.IntOpt('publish_retry', default=1, min=0,
               help="""
Connection retries for one publish before the sample stays buffered for
the next cycle.  Never unlimited: an unreachable broker must not block
sampling.
"""),
    cfg.FloatOpt('shutdown_flush_timeout', default=10.0, min=0.0,
                 help="""
Seconds spent on SIGTERM trying to publish what is still buffered.
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    groups.register(conf, collector_group, collector_opts)


def list_opts():
    return [(collector_group, collector_opts)]
