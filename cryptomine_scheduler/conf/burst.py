"""Options of the controller's burst tier: releasing empty burst hosts
and recording which tier each instance runs on."""

from oslo_config import cfg

from cryptomine_scheduler.conf import groups

burst_group = cfg.OptGroup(
    'burst', title='cryptomine burst tier',
    help="""
Rented burst hosts (host aggregate property ``cryptomine:tier = burst``,
costing ``cryptomine:cost_per_hour``): the controller records which tier
each instance runs on, and marks a burst host that stayed empty
releasable (it disables its nova-compute service and sends the
notification ``cryptomine.burst.releasable``).  Needs ``[nova_api]``.
""")

burst_opts = [
    cfg.IntOpt('check_interval', default=300, min=0,
               help="""
Seconds between two looks at the cluster through nova's API (one
controller looks at a time, under ``[replan] coordination_url``).  Each
look reads every host and server, as a re-plan does, records the tier
every instance runs on (billing history, precise to this interval) and
finds the burst hosts to release.  0 disables both.

Related options:

* ``release_after``
"""),
    cfg.IntOpt('release_after', default=3600, min=0,
               help="""
Seconds a burst host must stay empty (no instance in nova, compute
service enabled) before it is marked releasable.  Rented capacity is
usually billed by the hour: keeping an empty host an hour lets the next
peak use it without waiting for a new one.  A host the operator enables
again counts from then.

Possible values:

* 0: release a burst host as soon as it is seen empty.
* A positive number of seconds.

Related options:

* ``check_interval``: a host is released at the first look after it has
  been empty this long.
"""),
    cfg.BoolOpt('release_empty_hosts', default=True,
                help="""
Mark empty burst hosts releasable (disable their compute service, send
the notification).  Off: the tier history is still recorded.
"""),
    cfg.ListOpt('notification_topics', default=['notifications'],
                help="""
Topics of ``cryptomine.burst.releasable``, on the controller's message
bus (``transport_url``, exchange ``control_exchange``), for the
operator's provisioning to consume.
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    groups.register(conf, burst_group, burst_opts)


def list_opts():
    return [(burst_group, burst_opts)]
