"""``cryptomine-api`` under uwsgi or mod_wsgi, configured from
cryptomine.conf in oslo.config's usual places (``/etc/cryptomine/``)."""

from cryptomine_scheduler.api import service

application = service.Application(service.load_conf([])).wsgi
