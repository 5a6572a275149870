"""Options of the controller's re-planner."""

from oslo_config import cfg

from cryptomine_scheduler.conf import groups
from cryptomine_scheduler.replan import maintenance_windows

replan_group = cfg.OptGroup(
    'replan', title='cryptomine re-planner',
    help="""
Periodic re-planning of the VM placement and its live migrations.  The
load model (risk factor, thresholds, weights) is the ``[cryptomine]``
group's, as in nova.conf.
""")

replan_opts = [
    cfg.IntOpt('interval', default=600, min=0,
               help="""
Seconds between re-plans (the first one an interval after the controller
starts; only with ``[nova_api]`` configured).  0 disables the periodic
re-plan; operators can still plan and rebalance on demand (``cryptomine
plan create``, ``cryptomine rebalance``).

Related options:

* ``dry_run``, ``max_moves``, ``max_moves_per_day``
"""),
    cfg.BoolOpt('dry_run', default=False,
                help="""
Periodic re-plans are computed and recorded but not carried out.  Turn it
on to review the recorded plans first (``cryptomine plan list``);
on-demand plans choose for themselves.
"""),
    cfg.IntOpt('max_moves_per_day', default=100, min=0,
               help="""
Migrations the periodic re-plans may start in any 24 hours, counted from
the plans recorded in the database (so over every controller and across
restarts); a round plans at most what is left.  Operators' plans and
rebalances are not limited by it, but count.

Possible values:

* 0: no daily limit (``max_moves`` a round only)
* a positive number: for example a tenth of the cloud's instances
"""),
    cfg.StrOpt('coordination_url',
               help="""
tooz backend URL through which controllers agree that only one of them
plans at a time, e.g. ``etcd3+http://10.0.0.10:2379``,
``redis://10.0.0.10:6379`` or ``zookeeper://10.0.0.10:2181``;
``file:///var/lib/cryptomine/coordination`` for controllers on one host.
Unset: a lock inside this controller only, which is enough when it is the
only one.
"""),
    cfg.IntOpt('max_moves', default=10, min=0,
               help='Instances one round may move, at most.'),
    cfg.FloatOpt('min_gain', default=0.07, min=0.0,
                 help="""
Objective gain each move must bring, net of its migration cost, or
nothing moves.  The objective is the sum over hosts of the squared
deviation of their predicted utilisation (0-1) from the fleet's mean,
weighted per resource by ``[cryptomine] cpu_weight`` and
``memory_weight``; moving a host from 20 points above the mean to 10
gains about 0.03.  The default moves only for large imbalances: replayed
on a PlanetLab day it makes 74 migrations for 1,052 VMs (764 at 0.002)
for an overload time of 7.0 % (6.6 %) against nova's 18 %.  Loads are
those expected over ``cooldown``: a rise the history says will pass
does not count.
"""),
    cfg.FloatOpt('migration_cost_per_gb', default=0.0005, min=0.0,
                 help="""
Objective cost of moving one GiB of guest memory (in the units of
``min_gain``): large guests must gain more to be moved.  A guest whose
recorded live migrations took longer than those of guests of its memory
size (it dirties memory fast) counts its GiB that many times over.
"""),
    cfg.FloatOpt('planning_budget', default=1.0, min=0.0,
                 help="""
Seconds the planner may search for a round's plan.  It plans greedily
first, then with wider beams while each finds a plan better by at least
``min_gain``; when the budget runs out it returns the best plan found so
far.

Possible values:

* 0: nothing is searched, no move is planned
* a positive number of seconds

Related options:

* ``max_moves``, ``min_gain``
"""),
    cfg.IntOpt('cooldown', default=3600, min=0,
               help="""
Seconds after its last move (succeeded or failed) before an instance may
move again; also the horizon over which a move must pay for itself (the
share of a recent rise in load expected to last that long counts).
"""),
    cfg.BoolOpt('vgpu_live_migration', default=False,
                help="""
Live-migrate instances of vGPU flavors (``resources:VGPU``).  nova can
only where both hosts run libvirt 8.6 and QEMU 8.1 or later, which its
API does not tell; off, they stay where they are (or move cold, with
``allow_cold_migration``).
"""),
    cfg.BoolOpt('reserve_accelerator_hosts', default=True,
                help="""
Never move an instance that asks for no accelerator onto a GPU or ASIC
host (one that offers no plain CPU), so that CPU tenants do not strand
the devices mining guests rent.  Instances already on such hosts may
still move off them.
"""),
    cfg.BoolOpt('allow_cold_migration', default=False,
                help="""
Move instances that cannot live-migrate (PCI passthrough) by cold
migration, which stops them for the copy.  Off: they stay where they are.
A flavor's ``cryptomine:migration`` extra spec overrides it for its
instances: ``cold`` (moved cold), ``live`` (moved live: devices nova's
``[pci]`` configuration marks live-migratable) or ``never``.

Related options:

* ``cold_migration_windows``
"""),
    cfg.ListOpt('cold_migration_windows', default=[],
                item_type=maintenance_windows.parse,
                help="""
When cold migrations may stop guests, as windows ``DAYS HH:MM-HH:MM`` in
UTC (``DAYS``: ``*``, a day or a range such as ``Mon-Fri``; a range of
times that ends before it starts runs past midnight), comma separated:
for example ``Mon-Fri 01:00-05:00, Sat 22:00-02:00``.  Outside them a
round moves no instance cold.  Empty: at any time.
"""),
    cfg.IntOpt('cold_migration_downtime', default=120, min=0,
               help="""
Seconds a cold-migrated guest is expected to be stopped, until this
deployment has recorded three cold migrations in the last week; from
then on their median is used instead.  The planner weighs that share of
the ``cooldown`` (the horizon a move must pay for itself in) as work the
guest loses, so a cold move is made only when what it recovers (a
throttled GPU's, a sagging or dead miner's hashrate; a hot host's
relief) outweighs it.

Related options:

* ``allow_cold_migration``, ``cooldown``
"""),
    cfg.IntOpt('cold_downtime_per_tenant', default=0, min=0,
               help="""
Seconds of cold migration (the guest is stopped throughout) each tenant
may be given in any 24 hours, counted from the recorded plans of every
controller.  A tenant whose day is spent has no guest moved cold until
it frees up; a round may take it past the budget by the cold moves it
plans at once (at most ``max_moves``).  0: no budget.

Related options:

* ``allow_cold_migration``, ``cold_migration_windows``
"""),
    cfg.IntOpt('max_moves_per_tenant', default=20, min=0,
               help="""
Migrations (live or cold) of each tenant's instances in any 24 hours, at
most, counted from the recorded plans of every controller, so that no
tenant bears the churn of the fleet's balance.  A tenant whose day is
spent has no instance moved until it frees up; a round may take it past
the budget by the moves it plans at once (at most ``max_moves``).  0:
no budget.

Related options:

* ``max_moves_per_day`` (the whole fleet), ``cooldown`` (each instance)
"""),
    cfg.IntOpt('max_parallel', default=2, min=1,
               help='Migrations running at once, at most.'),
    cfg.IntOpt('max_parallel_per_host', default=1, min=1,
               help="""
Migrations at once into or out of one host, at most.
"""),
    cfg.IntOpt('migration_timeout', default=1800, min=10,
               help="""
Seconds a migration may take before it is aborted through nova's API (a
live migration; a cold one is watched on), at the least: a guest gets
``migration_timeout_per_gib`` for each GiB of its memory when that is
longer.  Its hosts stay busy until nova reports it ended, or for twice
the timeout if nova never does.

Related options:

* ``migration_timeout_per_gib``
"""),
    cfg.IntOpt('migration_timeout_per_gib', default=800, min=0,
               help="""
Seconds each GiB of a guest's memory gives its migration before it is
aborted, when longer than ``migration_timeout``.  The default is nova's
own ``[libvirt] live_migration_completion_timeout``, so that nova's
``live_migration_timeout_action`` (abort or force-complete) acts first;
set both alike.  0: ``migration_timeout`` for every guest.
"""),
    cfg.FloatOpt('migration_poll_interval', default=2.0, min=0.01,
                 help="""
Seconds between two looks at a running migration's progress.
"""),
    cfg.IntOpt('max_failures', default=2, min=1,
               help="""
Failed migrations after which a round starts no further move.
"""),
    cfg.IntOpt('max_failures_per_instance', default=2, min=1,
               help="""
Failed migrations of one instance in any 24 hours after which it is not
planned again until fewer than that many are under a day old: nova
refused them (an SR-IOV port, an image property, a destination its
scheduler turned down) or they failed in nova, counted from the
recorded plans of every controller.  Migrations aborted at
``migration_timeout`` do not count (the guest's copy factor prices
them), nor those an operator aborted, a controller left when it
stopped, or nova's API could not take (no answer, a server error).

Related options:

* ``max_failures`` (a round), ``cooldown`` (after any move)
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    groups.register(conf, replan_group, replan_opts)


def list_opts():
    return [(replan_group, replan_opts)]
