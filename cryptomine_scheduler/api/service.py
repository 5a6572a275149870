"""Setting the API up from its configuration: options, logging, the
controller's RPC client, and serving it without a web server."""

import socketserver
from wsgiref import simple_server

import oslo_messaging
from oslo_config import cfg
from oslo_log import log as logging

from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler import rpcapi
from cryptomine_scheduler.api import app as app_mod
from cryptomine_scheduler.api import controller as controller_mod
from cryptomine_scheduler.conf import api as api_conf

PROG = 'cryptomine-api'


def load_conf(argv: list[str] | None) -> cfg.ConfigOpts:
    """cryptomine.conf as ``--config-file`` names it, or from
    oslo.config's usual places; logging set up from it."""
    conf = cfg.ConfigOpts()
    cm_conf.register_shared_opts(conf)
    api_conf.register_opts(conf)
    logging.register_options(conf)
    conf(argv, project='cryptomine', prog=PROG)
    logging.setup(conf, 'cryptomine')
    return conf


class Application:
    """The WSGI application and the message bus transport it holds."""

    def __init__(self, conf: cfg.ConfigOpts,
                 transport: oslo_messaging.Transport | None = None):
        self._own_transport = transport is None
        self.transport = transport or oslo_messaging.get_rpc_transport(
            conf, allowed_remote_exmods=rpcapi.REMOTE_EXCEPTION_MODULES)
        client = rpcapi.ControllerClient(
            self.transport, conf.messaging.operator_topic,
            timeout=conf.api.rpc_timeout)
        self.wsgi = app_mod.build(conf, controller_mod.Controller(
            client, conf.api.rpc_timeout, conf.api.planning_timeout))

    def close(self) -> None:
        if self._own_transport:
            self.transport.cleanup()


class _QuietHandler(simple_server.WSGIRequestHandler):
    """Requests logged through oslo.log rather than on stderr."""

    def log_message(self, format, *args):
        logging.getLogger(__name__).debug(format, *args)


class Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    """A thread per request, for tests and single-node setups; in
    production the API runs under uwsgi or mod_wsgi."""

    daemon_threads = True


def make_server(host: str, port: int, wsgi) -> Server:
    """A server of ``wsgi`` on ``host``:``port`` (0: any free port)."""
    server = simple_server.make_server(host, port, wsgi, server_class=Server,
                                       handler_class=_QuietHandler)
    return server
