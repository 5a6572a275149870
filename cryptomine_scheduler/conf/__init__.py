"""Configuration options of the controller and of the shared message bus.

Each module registers one group; :func:`register_opts` registers them all,
and oslo.messaging's own too (its RPC client reads the tracing and metrics
groups from any private ``ConfigOpts`` and fails if they are missing).
:func:`list_opts` feeds ``oslo-config-generator``.
"""

from oslo_config import cfg
from oslo_messaging import opts as messaging_lib_opts
from oslo_messaging._metrics import client as messaging_metrics
from oslo_messaging._tracing import client as messaging_tracing

from cryptomine_scheduler.conf import default
from cryptomine_scheduler.conf import messaging

_SHARED = (default, messaging)
# cryptomine's exchange and queue durability on RabbitMQ: an exchange of
# its own never clashes with nova's ``openstack`` exchange (declared
# non-durable) on a shared vhost, so its queues can be durable.
EXCHANGE = 'cryptomine'
DURABLE_QUEUES = True


def register_shared_opts(conf: cfg.ConfigOpts) -> None:
    """What collectors and controllers both read: oslo.messaging's own
    options, ``[DEFAULT]`` and ``[messaging]``."""
    for group, opts in messaging_lib_opts.list_opts():
        conf.register_opts(opts, group=group)
    conf.register_opts(messaging_tracing.oslo_messaging_tracing,
                       group='oslo_messaging_tracing')
    conf.register_opts(messaging_metrics.oslo_messaging_metrics,
                       group='oslo_messaging_metrics')
    for module in _SHARED:
        module.register_opts(conf)
    # Samples queued while no controller consumes survive a broker
    # restart.  Collectors, controllers and nova's plugin must agree.
    conf.set_default('control_exchange', EXCHANGE)
    conf.set_default('amqp_durable_queues', DURABLE_QUEUES,
                     group='oslo_messaging_rabbit')


def bus_conf(source: cfg.ConfigOpts, exchange: str,
             durable: bool) -> cfg.ConfigOpts:
    """Messaging options for a bus whose exchange and queue durability
    are not ``source``'s: its transport URL and RabbitMQ settings (TLS,
    heartbeats) in a configuration of their own, so that ``source``'s own
    bus keeps its settings (a mismatch in durability makes RabbitMQ refuse
    to declare the exchange)."""
    conf = cfg.ConfigOpts()
    register_shared_opts(conf)
    conf([], default_config_files=[], default_config_dirs=[])
    conf.set_override('transport_url', source.transport_url)
    try:
        rabbit = source.oslo_messaging_rabbit
    except cfg.NoSuchOptError:  # nova made no RabbitMQ transport yet
        rabbit = {}
    for name in rabbit:
        conf.set_override(name, rabbit[name], 'oslo_messaging_rabbit')
    conf.set_override('control_exchange', exchange)
    conf.set_override('amqp_durable_queues', durable,
                      'oslo_messaging_rabbit')
    return conf


def prefetch_batches(conf: cfg.ConfigOpts) -> None:
    """Bound what RabbitMQ hands a sample consumer ahead of its
    acknowledgements to ``[controller] prefetch_batches`` batches, where
    ``rabbit_qos_prefetch_count`` is not set."""
    batches = conf.controller.prefetch_batches
    if batches and not conf.oslo_messaging_rabbit.rabbit_qos_prefetch_count:
        conf.set_default('rabbit_qos_prefetch_count',
                         batches * conf.controller.batch_size,
                         group='oslo_messaging_rabbit')


def set_library_defaults() -> None:
    """oslo-config-generator's hook: the sample shows our defaults of
    oslo.messaging's options (only the generator calls it: it changes
    the library's options for the whole process)."""
    from oslo_messaging import transport
    from oslo_messaging._drivers import amqp
    cfg.set_defaults(amqp.amqp_opts, amqp_durable_queues=DURABLE_QUEUES)
    cfg.set_defaults(transport._transport_opts, control_exchange=EXCHANGE)


def _controller_modules() -> tuple:
    """The modules of the controller's own groups, imported here rather
    than with the package: a collector, which registers only the shared
    options, does without them."""
    from cryptomine_scheduler.conf import api
    from cryptomine_scheduler.conf import burst
    from cryptomine_scheduler.conf import controller
    from cryptomine_scheduler.conf import database
    from cryptomine_scheduler.conf import load_model
    from cryptomine_scheduler.conf import nova_api
    from cryptomine_scheduler.conf import nova_notifications
    from cryptomine_scheduler.conf import prometheus
    from cryptomine_scheduler.conf import replan
    return (database, controller, replan, load_model, nova_api,
            nova_notifications, prometheus, api, burst)


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Every option of the controller."""
    register_shared_opts(conf)
    for module in _controller_modules():
        module.register_opts(conf)


def list_opts():
    return [item for module in _SHARED + _controller_modules()
            for item in module.list_opts()]
