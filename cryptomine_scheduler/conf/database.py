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
    cfg.BoolOpt('auto_upgrade', default=True,
                help="""
Whether the controller brings the database schema to the one its release
uses when it starts.  Set it to false where the deployment upgrades the
schema in a step of its own (``cryptomine-manage db sync``, after a
backup): a controller then refuses to start, saying so, while the schema
is older.

Whatever its value, a controller refuses a schema that a newer release
upgraded.

Related options:

* ``connection``
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    groups.register(conf, database_group, database_opts)


def list_opts():
    return [(database_group, database_opts)]
