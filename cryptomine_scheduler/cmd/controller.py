"""``cryptomine-controller``: ingest samples, keep history, serve loads."""

import signal
import sys
import threading

import oslo_messaging
from oslo_config import cfg
from oslo_log import log as logging

from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler import rpc
from cryptomine_scheduler import service

LOG = logging.getLogger(__name__)


def main(argv=None) -> int:
    conf = cfg.ConfigOpts()
    cm_conf.register_opts(conf)
    logging.register_options(conf)
    conf(argv, project='cryptomine', prog='cryptomine-controller')
    logging.setup(conf, 'cryptomine')
    notification_transport = oslo_messaging.get_notification_transport(conf)
    rpc_transport = oslo_messaging.get_rpc_transport(
        conf, allowed_remote_exmods=rpc.REMOTE_EXCEPTION_MODULES)
    try:
        controller = service.ControllerService(
            conf, notification_transport, rpc_transport)
    except ValueError as exc:
        LOG.error('Cannot start: %s', exc)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller.start()
    LOG.info('Controller %s listening on topic %s (pool %s)', conf.host,
             conf.messaging.sample_topic, controller.listener_pool)
    stop.wait()
    LOG.info('Controller stopping')
    controller.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
