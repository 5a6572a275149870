"""Options of the controller's listener of nova's notifications."""

from oslo_config import cfg

from cryptomine_scheduler.conf import groups

nova_notifications_group = cfg.OptGroup(
    'nova_notifications', title="nova's versioned notifications",
    help="""
Where the controller learns every placement nova makes, whichever
scheduler worker made it, so that the guests still warming up count
against their hosts in every worker.  nova must send versioned
notifications to ``topic``: in nova.conf, ``[notifications]
notification_format = versioned`` (or ``both``) and
``versioned_notifications_topics = versioned_notifications,<topic>``.
""")

nova_notifications_opts = [
    cfg.BoolOpt('enabled', default=False,
                help="""
Listen to nova's notifications.  Without them each nova-scheduler worker
knows only its own placements (see ``[cryptomine] pending_boot_timeout``
in nova.conf).
"""),
    cfg.StrOpt('transport_url', secret=True,
               help="""
The message bus nova notifies on; by default ``[DEFAULT]
transport_url``.
"""),
    cfg.StrOpt('topic', default='cryptomine_notifications',
               help="""
Topic of nova's versioned notifications that the controller consumes:
one of nova's ``versioned_notifications_topics``, kept for the
controller (a consumer takes the messages of its topic from the others).
"""),
    cfg.StrOpt('exchange', default='nova',
               help="nova's ``control_exchange``."),
    cfg.BoolOpt('durable_queues', default=False,
                help="""
nova's ``[oslo_messaging_rabbit] amqp_durable_queues``: RabbitMQ refuses
a consumer that declares nova's exchange with another durability.
"""),
    cfg.FloatOpt('warmup', default=120.0, min=0.0,
                 help="""
Seconds a new guest keeps counting against its host after its first
sample: its expected load (learned from the flavor's guests, else the
flavor's ``cryptomine:expected_load_percent``, else nova.conf's
``[cryptomine] default_expected_load_percent``) less what it is measured
to use, so that a miner still ramping up is not taken for an idle guest.
"""),
    cfg.FloatOpt('max_age', default=900.0, min=1.0,
                 help="""
Seconds after which a placement stops counting even if its guest was
never sampled (its host's collector down); the database keeps the
placements as long, for a controller that restarts.
"""),
    cfg.IntOpt('learn_guests', default=50, min=1,
               help="""
How many of the latest warm guests of a flavor (and of a flavor and
image) make its learned expected load: the mean of their loads, as a
share of their vCPUs, when their warm-up ended.  The learned load is
used before the flavor's ``cryptomine:expected_load_percent``.
"""),
    cfg.IntOpt('learn_min_guests', default=3, min=1,
               help="""
How many warm guests of a flavor (or of a flavor and image) must have
been measured before their load is used for the next guests.
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    groups.register(conf, nova_notifications_group, nova_notifications_opts)


def list_opts():
    return [(nova_notifications_group, nova_notifications_opts)]
