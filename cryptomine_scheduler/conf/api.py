"""Options of ``cryptomine-api``, the operators' REST API."""

from oslo_config import cfg

from cryptomine_scheduler.conf import groups

api_group = cfg.OptGroup(
    'api', title='cryptomine REST API',
    help='The keystone-authenticated API that operators and the '
         '``cryptomine`` command line use.')

api_opts = [
    cfg.StrOpt('auth_strategy', default='keystone',
               choices=[('keystone', 'keystonemiddleware checks every '
                         "request's token ([keystone_authtoken])"),
                        ('noauth', 'no authentication: every request is '
                         "an administrator's; single-node tests only")],
               help="""
How the API authenticates its callers.

Related options:

* ``[keystone_authtoken]``
* ``[oslo_policy]``
"""),
    cfg.HostAddressOpt('bind_host', default='127.0.0.1',
                       help="""
Address ``cryptomine-api`` listens on when it serves the API itself
(under uwsgi or mod_wsgi the web server's own setting applies).

Possible values:

* ``127.0.0.1``, ``::1`` (behind a local proxy)
* The controller's address on the management network.

Related options:

* ``bind_port``
"""),
    cfg.PortOpt('bind_port', default=9787,
                help="""
TCP port ``cryptomine-api`` listens on when it serves the API itself.

Related options:

* ``bind_host``
"""),
    cfg.FloatOpt('rpc_timeout', default=30.0, min=1.0,
                 help="""
Seconds the API waits for the controller's reply to a read over the
message bus; a controller that does not answer in time is reported as
``504 Gateway Timeout``.

Related options:

* ``planning_timeout``
"""),
    cfg.FloatOpt('planning_timeout', default=300.0, min=1.0,
                 help="""
Seconds the API waits for the controller to compute a plan: it reads the
whole cloud from nova and placement first.

Related options:

* ``rpc_timeout``
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    groups.register(conf, api_group, api_opts)


def list_opts():
    return [(api_group, api_opts)]
