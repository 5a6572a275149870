"""Options of ``cryptomine-controller``."""

from oslo_config import cfg

from cryptomine_scheduler.conf import groups
from cryptomine_scheduler.planning import heap

controller_group = cfg.OptGroup(
    'controller', title='cryptomine controller',
    help='Ingest, validation, history retention and summaries.')

controller_opts = [
    cfg.StrOpt('listener_pool',
               help="""
Queue the controller consumes samples from.  Controllers using the same
queue share the sample stream (each sample goes to one of them).  Unset
means ``<[messaging] sample_topic>.info``, the queue collectors declare
when they publish: samples sent before any controller started wait there.
With several controllers, either keep this queue for all of them and set
``share_ingest`` (each stores its share and sends it to the others'
summaries), or keep it for one of them and give each other a pool of its
own (``cryptomine_samples.<its host>``): each then receives every sample,
stores and summarises all of them, while the shared database keeps the
first copy.  Either way every controller serves nova the same snapshot.
A controller with a pool of its own should keep running: its queue fills
while it is down (and is read when it is back).

Related options:

* ``[messaging] sample_topic``, ``share_ingest``
"""),
    cfg.BoolOpt('share_ingest', default=False,
                help="""
Share the ingest with the other controllers of the same database: each
consumes its share of one sample queue (the same ``listener_pool``),
validates and stores it, and casts the batch it stored to every
controller on ``[messaging] peer_topic``, which adds it to their
summaries.  Ingest capacity then grows with controllers, where pools of
their own make each controller store and summarise the whole stream.
Set it on every controller or on none.  Samples a controller misses
while it is down come back from the database when it starts.

Related options:

* ``listener_pool``, ``[messaging] peer_topic``
"""),
    cfg.IntOpt('ingest_workers', default=0, min=0, max=64,
               help="""
Processes that consume, validate and store samples beside the controller
process, which then keeps the summaries and answers RPC.  0 consumes in
the controller process, where one core (Python's GIL) limits ingest to
about 3,000 samples/s over RabbitMQ; add a worker per spare core
beyond that.  Workers need a real message bus, not ``fake://``.
"""),
    cfg.IntOpt('malloc_retain_mb', default=heap.DEFAULT_RETAIN_MB, min=0,
               max=4096,
               help="""
MiB of freed memory the controller process (not the ingest workers)
keeps in its heap for reuse instead of handing back to the kernel at
once (glibc's malloc trim threshold; blocks up to this size, 32 MiB at
most, then come from the heap, not ``mmap``).  The re-planner makes and
frees numpy temporaries of hundreds of KiB thousands of times a round;
keeping them halves a 1,000-host round's planning time, for up to this
much more resident memory.  0 keeps glibc's defaults.  Without glibc,
ignored.
"""),
    cfg.IntOpt('batch_size', default=200, min=1, max=10000,
               help="""
Samples handed to the store in one transaction, at most.  Larger batches
raise ingest throughput at the cost of latency.

Related options:

* ``batch_timeout``
"""),
    cfg.IntOpt('batch_timeout', default=1, min=1, max=60,
               help="""
Seconds to wait for a batch to fill before storing what has arrived.
"""),
    cfg.BoolOpt('batch_consumer', default=True,
                help="""
On RabbitMQ, consume the sample queue with the controller's batch
consumer: the rabbit driver's own connection, queue and wire format
(every ``[oslo_messaging_rabbit]`` option applies), but a batch drained
under one hold of the connection and acknowledged at once.  It costs a
third to a half of the CPU per sample of oslo.messaging's batch
notification listener, which ``false`` uses (as on other transports).

Related options:

* ``batch_size``, ``batch_timeout``
"""),
    cfg.IntOpt('prefetch_batches', default=2, min=0, max=100,
               help="""
Batches of samples RabbitMQ may hand each consumer of the sample queue
ahead of its acknowledgements: ``[oslo_messaging_rabbit]
rabbit_qos_prefetch_count`` becomes ``prefetch_batches * batch_size``
where it is not set.  Bounded, the ingest workers share the queue evenly
(unbounded, the first to connect takes most of it) and a backlog waits
in the broker rather than in the controller's memory.  0: leave
oslo.messaging's setting (unlimited).

Related options:

* ``batch_size``, ``ingest_workers``
"""),
    cfg.FloatOpt('max_clock_skew', default=60.0, min=0.0,
                 help="""
Seconds a sample's timestamp may lie in the future of the controller's
clock before the sample is rejected as ``clock_skew``.
"""),
    cfg.IntOpt('max_sample_bytes', default=512 * 1024, min=1024,
               max=64 * 1024 * 1024,
               help="""
Largest sample accepted, in bytes of its JSON text (the bytes its
signature covers, a little less than the message on the bus).  A sample
listing ``max_instances_per_sample`` guests, ``max_gpus_per_sample`` GPUs
and ``max_miners_per_sample`` miners is about 210 KiB; the default
leaves room for long names.  Larger samples are rejected as
``too_large``.

Related options:

* ``max_instances_per_sample``
* ``max_gpus_per_sample``
* ``max_miners_per_sample``
"""),
    cfg.IntOpt('max_instances_per_sample', default=512, min=1, max=65536,
               help="""
Most guests one sample may list.  Hosts run tens of guests, a dense one
a few hundred; a sample listing more is rejected as ``too_large``.
Raise ``max_sample_bytes`` with it (about 80 bytes a guest).
"""),
    cfg.IntOpt('max_gpus_per_sample', default=32, min=1, max=1024,
               help="""
Most GPUs one sample may list.  Servers and mining rigs carry 8 to 16
GPUs; a sample listing more than this is rejected as ``too_large``.
"""),
    cfg.IntOpt('max_miners_per_sample', default=512, min=1, max=65536,
               help="""
Most network-attached miners (ASICs) one sample may list.  A collector
polls the miners of a rack or a container, a few hundred at most; a
sample listing more is rejected as ``too_large``.  Raise
``max_sample_bytes`` with it (about 350 bytes a miner).
"""),
    cfg.FloatOpt('host_sample_rate', default=1.0, min=0.001,
                 help="""
Samples a second that one host may send, sustained (a token bucket of
``host_sample_burst`` tokens refilling at this rate); samples beyond it
are rejected as ``too_frequent``.  Keep it above 1 / ``[collector]
interval``: the default is ten times what a collector sends at its
default interval (10 s).  The bucket refills while a host cannot send,
so a collector replaying its buffer after an outage stays within the
limit.  Each ingest process keeps its own buckets: with N processes
(``ingest_workers``), a host may send up to N times this rate.

Related options:

* ``host_sample_burst``
"""),
    cfg.IntOpt('host_sample_burst', default=10000, min=1,
               help="""
Samples one host may send at once.  Keep it above the samples one host
can have that are not too old (``raw_retention`` / ``[collector]
interval``: 8640 at the defaults, also the collector's default
``buffer_size``), so that a collector's replay of its buffer after an
outage is never rejected.

Related options:

* ``host_sample_rate``
* ``raw_retention``
"""),
    cfg.IntOpt('raw_retention', default=86400, min=600,
               help="""
Seconds raw samples are kept.  Older samples are purged once rolled up
into 5-minute rollups, and incoming samples older than this are rejected
as ``too_old``.

Related options:

* ``rollup_retention``
"""),
    cfg.IntOpt('rollup_retention', default=30 * 86400, min=3600,
               help="""
Seconds the 5-minute rollups are kept.
"""),
    cfg.IntOpt('maintenance_interval', default=300, min=1,
               help="""
Seconds between two rollup and purge runs.
"""),
    cfg.IntOpt('summary_window', default=600, min=10,
               help="""
Seconds of history that the in-memory summaries (mean, p95, standard
deviation, trend) cover.

Related options:

* ``ewma_half_life``
"""),
    cfg.FloatOpt('ewma_half_life', default=60.0, min=1.0,
                 help="""
Half-life in seconds of the exponentially weighted moving average: a
sample this old weighs half as much as a new one.
"""),
    cfg.FloatOpt('hashrate_baseline_half_life', default=1800.0, min=60.0,
                 help="""
Half-life in seconds of each miner's hashrate baseline, against which its
current hashrate is compared (``asic_hashrate_ratio``): long enough that a
failing hash board shows as a drop rather than becoming the new normal.
"""),
    cfg.IntOpt('rejection_log_interval', default=60, min=1,
               help="""
Seconds between two warnings about rejected samples; rejections in between
are counted and summarised in the next warning.
"""),
    cfg.IntOpt('max_store_attempts', default=5, min=1, max=100,
               help="""
Times a batch is tried when the database fails (down, locked, disk full)
before its messages are parked on ``dead_letter_topic``.  A sample the
database refuses while it works is rejected alone (``unstorable``), never
retried.

Related options:

* ``store_retry_delay``
* ``dead_letter_topic``
"""),
    cfg.FloatOpt('store_retry_delay', default=1.0, min=0.0, max=60.0,
                 help="""
Seconds the listener holds a batch the database failed to store before
requeueing it; the pause doubles with each attempt, up to
``store_retry_max_delay``.
"""),
    cfg.FloatOpt('store_retry_max_delay', default=30.0, min=0.0,
                 max=600.0,
                 help="""
Longest pause between two attempts to store a batch.
"""),
    cfg.StrOpt('dead_letter_topic', default='cryptomine_samples_dead',
               help="""
Notification topic on which messages are parked after
``max_store_attempts`` failed attempts; they wait in the queue
``<dead_letter_topic>.info`` until ``cryptomine-dead-letters replay``
puts them back on the sample queue.
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    groups.register(conf, controller_group, controller_opts)


def list_opts():
    return [(controller_group, controller_opts)]
