"""The load history database."""

from oslo_config import cfg

from cryptomine_scheduler.conf import groups

database_group = cfg.OptGroup('database', title='Load history database')

database_opts = [
    cfg.StrOpt('connection', secret=True,
               default='sqlite:///$state_path/cryptomine.sqlite',
               help="""
SQLAlchemy URL of the load history database.  SQLite (the default, in WAL
mode) suits one controller; use PostgreSQL or MySQL when several
controllers share the history.

Possible values:

* ``sqlite:////var/lib/cryptomine/cryptomine.sqlite``
* ``postgresql+psycopg://user:password@host/cryptomine``
* ``mysql+pymysql://user:password@host/cryptomine``

Related options:

* ``[DEFAULT] state_path``
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    groups.register(conf, database_group, database_opts)


def list_opts():
    return [(database_group, database_opts)]
