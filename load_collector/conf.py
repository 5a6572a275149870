"""Options of ``cryptomine-collector``."""

import socket

from oslo_config import cfg

from cryptomine_scheduler.conf import groups
from load_collector import cpu_set
from load_collector import ipmi_conf
from load_collector import redfish_conf

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
    cfg.FloatOpt('interval', default=10.0, min=0.01, mutable=True,
                 help="""
Seconds between two samples.  A change takes effect on SIGHUP.

Related options:

* ``jitter``
"""),
    cfg.FloatOpt('jitter', default=0.1, min=0.0, max=0.5, mutable=True,
                 help="""
Random spread of the interval, as a fraction of it, so that many
collectors do not publish in lockstep.  A change takes effect on SIGHUP.
"""),
    cfg.ListOpt('sources',
                default=['host', 'instances', 'sensors', 'gpu', 'asic'],
                help="""
Sample sources to load, by entry point name in the
``cryptomine.collector.sources`` namespace.  ``host`` is required.  A
source with nothing to read on this host (no NVIDIA driver, no miners
configured, no sensors) disables itself with one log line.
"""),
    cfg.StrOpt('instance_cmdline_regex',
               default=r'(^|/)(qemu-system-[a-z0-9_]+|qemu-kvm|kvm)$',
               help="""
Regular expression matched against the first word of a process's command
line to recognise a guest.  The instance UUID is read from the ``-uuid``
argument.
"""),
    cfg.Opt('guest_cpu_set', type=cpu_set.CpuSetType(), default='',
            help="""
The host CPUs that nova-compute runs guests on, in nova's CPU-set
syntax.  The host's CPU percentage is measured over these CPUs only,
each guest's is a share of their capacity, and every sample reports how
many of them are online (``cpus``), so that the figures scale like
placement's VCPU inventory.  Empty: read from nova's configuration
(``nova_config_files``): the union of ``[compute] cpu_shared_set`` and
``cpu_dedicated_set``, else ``[DEFAULT] vcpu_pin_set``, else every CPU.
CPUs of the set that are offline are left out, with one log line.

Possible values:

* Empty (the default): as nova's configuration says
* CPU numbers, ranges ``A-B`` and exclusions ``^N`` or ``^A-B``,
  separated by commas, e.g. ``4-31,^8,40``

Related options:

* ``nova_config_files``
"""),
    cfg.ListOpt('nova_config_files', default=['/etc/nova/nova.conf'],
                help="""
nova's configuration files as nova-compute reads them, later ones
overriding earlier ones, from which the guests' CPU set is read when
``guest_cpu_set`` is empty.  A file that cannot be read is skipped with
a warning; nova-compute under devstack reads
``/etc/nova/nova-cpu.conf``.

Related options:

* ``guest_cpu_set``
"""),
    cfg.ListOpt('miners', default=[],
                item_type=cfg.types.String(),
                help="""
ASIC miners to poll through the cgminer/bfgminer/sgminer JSON API, as
``ADDRESS[:PORT][=INSTANCE_UUID]`` (port 4028 by default; the UUID names
the tenant instance the miner is rented with).

Possible values:

* ``10.20.0.11,10.20.0.12:4029=6f1c0a5e-3b7e-4c1e-9d59-0f2f6a4e8b11``

Related options:

* ``miner_timeout``
"""),
    cfg.FloatOpt('miner_timeout', default=2.0, min=0.1, max=30.0,
                 help="""
Seconds to wait for one miner API reply; a miner slower than this is
reported unavailable for the cycle.
"""),
    cfg.IntOpt('buffer_size', default=8640, min=1,
               help="""
Samples kept while the message bus is unreachable or refuses them (8640
is a day at the default interval).  When full, the oldest are dropped.
Every sample carries the collector's counts of dropped and buffered
samples, which the controller shows per host.

Related options:

* ``publish_retry``
"""),
    cfg.IntOpt('publish_retry', default=1, min=1,
               help="""
Connection retries of one publish before the sample goes back to the
buffer and is tried again a second later.  At least one: a broker that
refuses a sample (a length limit on the sample queue) closes the
channel, and only a reconnection lets the next publish through.  Samples
are published by a thread of their own, in order, so sampling never
waits for the message bus; bounded so that a shutdown can give up after
``shutdown_flush_timeout``.

Related options:

* ``buffer_size``
* ``shutdown_flush_timeout``
"""),
    cfg.FloatOpt('shutdown_flush_timeout', default=10.0, min=0.0,
                 mutable=True,
                 help="""
Seconds spent on SIGTERM trying to publish what is still buffered.
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    groups.register(conf, collector_group, collector_opts)
    groups.register(conf, redfish_conf.redfish_group,
                    redfish_conf.redfish_opts)
    groups.register(conf, ipmi_conf.ipmi_group, ipmi_conf.ipmi_opts)


def list_opts():
    return [(collector_group, collector_opts), *redfish_conf.list_opts(),
            *ipmi_conf.list_opts()]
