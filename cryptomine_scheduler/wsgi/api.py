"""``cryptomine-api`` under uwsgi or mod_wsgi, configured from the file
that ``$CRYPTOMINE_API_CONFIG_FILE`` names, else from cryptomine.conf in
oslo.config's usual places (``/etc/cryptomine/``)."""

import os

from cryptomine_scheduler.api import service

CONFIG_ENV = 'CRYPTOMINE_API_CONFIG_FILE'

application = service.Application(service.load_conf(
    ['--config-file', os.environ[CONFIG_ENV]]
    if os.environ.get(CONFIG_ENV) else [])).wsgi
