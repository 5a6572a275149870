"""``cryptomine-api``: the operators' REST API, served by itself on
``[api] bind_host``:``bind_port`` (uwsgi and mod_wsgi load
:mod:`cryptomine_scheduler.wsgi.api` instead)."""

import sys

from oslo_log import log as logging

from cryptomine_scheduler.api import service

LOG = logging.getLogger(__name__)


def main(argv=None) -> int:
    conf = service.load_conf(argv)
    application = service.Application(conf)
    server = service.make_server(conf.api.bind_host, conf.api.bind_port,
                                 application.wsgi)
    LOG.info('cryptomine-api listening on http://%s:%d/',
             *server.server_address[:2])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        application.close()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
