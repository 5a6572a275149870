"""Options of the nova scheduler plugin, read from ``nova.conf``.

Each threshold, the missing-data and overload policies and the weight
multiplier can be overridden per host aggregate with the metadata key
named in its help.
"""

from oslo_config import cfg

from cryptomine_scheduler.conf import groups

scheduler_group = cfg.OptGroup(
    'cryptomine', title='cryptomine load-aware scheduling',
    help='LoadAwareFilter and LoadAwareWeigher, in nova-scheduler.')

MISSING_PASS = 'pass'
MISSING_REJECT = 'reject'
OVERLOAD_SOFT = 'soft'
OVERLOAD_HARD = 'hard'

#: The load model, shared with the controller's re-planner (which reads
#: them from the same group of its own configuration file).
load_model_opts = [
    cfg.FloatOpt('stale_after', default=60.0, min=1.0,
                 help="""
A host whose newest sample is older than this many seconds has stale data
and is treated by ``missing_data_policy``.  Set it to a few collector
intervals.
"""),
    cfg.FloatOpt('risk_factor', default=1.0, min=0.0, max=5.0,
                 help="""
``k`` in the predicted load ``max(ewma, mean) + k * stddev``: how many
standard deviations of headroom a host must keep for its load to vary.
"""),
    cfg.FloatOpt('max_cpu_percent', default=90.0, min=0.0, max=100.0,
                 help="""
Highest predicted CPU load (% of the host) that passes.  Aggregate
metadata key: ``cryptomine_max_cpu_percent``.
"""),
    cfg.FloatOpt('max_mem_percent', default=90.0, min=0.0, max=100.0,
                 help="""
Highest predicted memory use (% of the host) that passes.  Aggregate
metadata key: ``cryptomine_max_mem_percent``.
"""),
    cfg.FloatOpt('min_gpu_thermal_headroom_c', default=5.0, min=0.0,
                 help="""
Least predicted distance (degC) of the hottest GPU from its slowdown
temperature that passes.  Aggregate metadata key:
``cryptomine_min_gpu_thermal_headroom_c``.
"""),
    cfg.FloatOpt('min_gpu_power_headroom_percent', default=2.0, min=0.0,
                 max=100.0,
                 help="""
Least predicted power headroom (% of the enforced limit) of the most
loaded GPU that passes.  Aggregate metadata key:
``cryptomine_min_gpu_power_headroom_percent``.
"""),
    cfg.FloatOpt('max_asic_errors_per_min', default=30.0, min=0.0,
                 help="""
Highest mean rate of ASIC hardware errors (per minute, all miners of the
host) that passes.  Aggregate metadata key:
``cryptomine_max_asic_errors_per_min``.
"""),
    cfg.FloatOpt('max_inlet_temperature_c', default=40.0, min=0.0,
                 help="""
Highest predicted inlet (intake) air temperature of a GPU or ASIC host's
chassis, as its BMC reads it, that passes (degC): the hot-aisle guard.
Air that hot leaves the devices no cooling margin: GPU servers are
specified to about 35 degC of inlet, most ASIC miners to 40.  A host
whose collector reads no BMC is not checked.  Aggregate metadata key:
``cryptomine_max_inlet_temperature_c``.
"""),
    cfg.FloatOpt('max_chassis_power_w', default=0.0, min=0.0,
                 help="""
The power budget of a GPU or ASIC host's chassis, as its BMC reads it
(W): the share of its rack's circuit or PDU that it may draw, or its
power supplies' rating.  A host whose predicted draw (``max(ewma, mean)
+ k * stddev``) is over it is refused, and for a GPU guest so is one
that would go over it once the guest works a free GPU to its power
limit: the free GPUs' limit less their draw is added.  The re-planner
moves no GPU guest onto a host without that room.  0 sets no budget; a
host whose collector reads no BMC is not checked.  A power cap that the
host's BMC holds the chassis to (read over Redfish or IPMI's DCMI) is
its budget where the cap is lower, this option 0 included: past the cap
the BMC slows the GPUs down.  Aggregate metadata key:
``cryptomine_max_chassis_power_w`` (a rack's aggregate, say; the lowest
of several applies, and 0 there lifts the budget).
"""),
    cfg.FloatOpt('min_asic_hashrate_ratio', default=0.5, min=0.0, max=1.0,
                 help="""
Lowest hashrate of a host's miners, as a share of each miner's own
baseline (its long-term average), that passes for a flavor asking for
an ASIC: a board whose hashrate sagged is sick.  Aggregate metadata key:
``cryptomine_min_asic_hashrate_ratio``.
"""),
    cfg.FloatOpt('cpu_weight', default=1.0, min=0.0,
                 help='Weight of the predicted CPU load in the score.'),
    cfg.FloatOpt('memory_weight', default=1.0, min=0.0,
                 help='Weight of the predicted memory use in the score.'),
    cfg.FloatOpt('gpu_thermal_weight', default=1.0, min=0.0,
                 help="""
Weight of the GPUs' thermal pressure in the score: (30 - busy) / 70,
between 0 and 1, where ``busy`` is the free GPUs' thermal headroom (degC)
less the 40 degC a mining guest adds.
"""),
    cfg.FloatOpt('gpu_power_weight', default=0.5, min=0.0,
                 help="""
Weight of the GPUs' power pressure (1 - headroom / limit) in the score.
"""),
    cfg.FloatOpt('gpu_utilization_weight', default=0.5, min=0.0,
                 help="""
Weight of the host's mean GPU utilisation in a GPU flavor's score: busy
GPUs heat the box the new guest's GPU shares.
"""),
    cfg.FloatOpt('free_devices_weight', default=1.0, min=0.0,
                 help="""
Weight of the share of the host's GPUs (for a GPU flavor) or miners (for
an ASIC flavor) in use, in the score: the host with more free devices of
the kind asked for is preferred.
"""),
    cfg.FloatOpt('asic_hashrate_weight', default=1.0, min=0.0,
                 help="""
Weight of the miners' hashrate sag (1 - hashrate / baseline) in an ASIC
flavor's score.
"""),
    cfg.FloatOpt('asic_efficiency_weight', default=0.5, min=0.0,
                 help="""
Weight of the miners' inefficiency (1 - hashrate per watt / 100 GH/s per
W) in an ASIC flavor's score.
"""),
    cfg.FloatOpt('default_expected_load_percent', default=100.0, min=0.0,
                 max=100.0,
                 help="""
Expected CPU use of a new guest, as % of its vCPUs, when its flavor has
no ``cryptomine:expected_load_percent`` extra spec.  Miners use all they
get, hence 100.
"""),
]

scheduler_opts = [
    cfg.StrOpt('controller_transport_url', secret=True,
               help="""
Message bus of the cryptomine controller.  Unset means nova's own
``[DEFAULT] transport_url``.
"""),
    cfg.StrOpt('controller_exchange', default='cryptomine',
               help="""
RabbitMQ exchange of the cryptomine controller; must equal the
controller's ``[DEFAULT] control_exchange``.  nova's own messaging keeps
its settings: the plugin talks to the controller on a connection of its
own.

Related options:

* ``controller_durable_queues``
"""),
    cfg.BoolOpt('controller_durable_queues', default=True,
                help="""
Whether the controller declares its exchange and queues durable; must
equal the controller's ``[oslo_messaging_rabbit] amqp_durable_queues``
(RabbitMQ refuses a connection that declares them otherwise).  nova's own
``amqp_durable_queues`` is left as it is.
"""),
    cfg.StrOpt('controller_topic', default='cryptomine_controller',
               help="""
RPC topic of the cryptomine controller; must equal the controller's
``[messaging] controller_topic``.
"""),
    cfg.FloatOpt('rpc_timeout', default=2.0, min=0.1,
                 help="""
Seconds to wait for the controller's snapshot.  Only the first scheduling
request after start waits; later refreshes run in the background.
"""),
    cfg.FloatOpt('snapshot_ttl', default=5.0, min=0.1,
                 help="""
Seconds a load snapshot is used before a background refresh is started.

Related options:

* ``snapshot_max_age``
"""),
    cfg.FloatOpt('snapshot_max_age', default=60.0, min=1.0,
                 help="""
Seconds the last good snapshot keeps being used while the controller is
unreachable.  After that every host counts as having no data and
``missing_data_policy`` applies.
"""),
    cfg.StrOpt('missing_data_policy', default=MISSING_PASS,
               choices=[(MISSING_PASS, 'let the host pass, with a warning'),
                        (MISSING_REJECT, 'reject the host')],
               help="""
What the filter does with a host that has no fresh load data (stale, never
sampled, or the controller unreachable).  Aggregate metadata key:
``cryptomine_missing_data_policy``.
"""),
    cfg.StrOpt('overload_policy', default=OVERLOAD_SOFT,
               choices=[(OVERLOAD_SOFT, 'weigh overloaded hosts down'),
                        (OVERLOAD_HARD, 'filter overloaded hosts out')],
               help="""
What the filter does with a host whose predicted CPU or memory load, with
the guest being placed, is over ``max_cpu_percent`` or
``max_mem_percent``.  ``soft`` lets it pass and the weigher ranks it below
every host within the thresholds, the least overloaded first, so a burst
that placement can hold is placed rather than refused with NoValidHost.
``hard`` rejects it.  The accelerator kind and the hardware-safety limits
(GPU thermal and power headroom, ASIC error rate) always reject.
Aggregate metadata key: ``cryptomine_overload_policy`` (``hard`` wins
over ``soft`` when a host is in several aggregates).

Related options:

* ``max_cpu_percent``, ``max_mem_percent``
"""),
    cfg.FloatOpt('burst_min_margin', min=-1.0, max=1.0,
                 help="""
Least margin, as a share of what the flavor earns an hour (its
``cryptomine:price_per_hour`` extra spec), that a rented burst host
(aggregate ``cryptomine:tier = burst``, costing its
``cryptomine:cost_per_hour``) must leave for the filter to pass it: 0
refuses placements that lose money, 0.2 those earning less than 20 %.
Unset, or a flavor without a price: burst hosts are only weighed last.
"""),
    cfg.FloatOpt('accelerator_penalty', default=0.1, min=0.0, max=1.0,
                 help="""
Score taken from a host with GPUs or ASICs when the guest asks for no
accelerator (or for ``cpu``), in units of pressure (the weighted mean of
the guest's resources' predicted load, 1 = 100 %): a CPU-only guest goes
to a host with an accelerator only when that host's pressure is this
much lower than the best host's without one, so accelerators are not
stranded behind CPU guests.

Possible values:

* 0: accelerator hosts are weighed like any other
* 1: a CPU-only guest goes to an accelerator host only when every host
  without one is at its thresholds
"""),
    cfg.FloatOpt('weight_multiplier', default=1.0,
                 help="""
Multiplier of the load-aware weight; a negative value prefers loaded
hosts (stacking).  Aggregate metadata key:
``cryptomine_weight_multiplier``.
"""),
    cfg.FloatOpt('pending_boot_timeout', default=300.0, min=1.0,
                 help="""
Seconds a boot placed by this scheduler counts against its host when the
snapshot does not show the guest running there yet.

Related options:

* ``pending_boot_handover``
"""),
    cfg.FloatOpt('pending_boot_handover', default=10.0, min=0.0,
                 help="""
When the controller learns placements from nova's notifications (its
``[nova_notifications] enabled``): seconds this scheduler counts a boot
it placed itself, the time for the controller to learn it; a host then
counts the larger of this scheduler's boots and the controller's
placements (every worker's), never both.  Longer than the time from a
placement to nova-compute's ``instance.create.start`` plus
``snapshot_ttl``.
"""),
] + load_model_opts


def register_opts(conf: cfg.ConfigOpts) -> None:
    groups.register(conf, scheduler_group, scheduler_opts)


def list_opts():
    return [(scheduler_group, scheduler_opts)]
