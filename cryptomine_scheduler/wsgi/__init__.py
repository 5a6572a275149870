"""Modules that web servers load: each builds its ``application`` when
imported (``uwsgi --module cryptomine_scheduler.wsgi.api:application``)."""
