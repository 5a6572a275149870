"""``cryptomine-manage``: operator tasks on the controller node.

``cryptomine-manage db sync`` brings the load history database's schema
(``[database] connection``) to the one this release uses, as a
controller does when it starts unless ``[database] auto_upgrade`` is
off; ``cryptomine-manage db version`` prints the revision the schema is
at and exits 1 when it is not this release's.

``cryptomine-manage dead-letters list`` shows the messages the controller
parked after the database failed to store them ``[controller]
max_store_attempts`` times (they stay parked); ``cryptomine-manage
dead-letters replay`` puts them back on the sample queue, where the
controllers store them (or park them again).  Both talk to RabbitMQ with
the ``[DEFAULT] transport_url`` of cryptomine.conf.
"""

import json
import sys

import kombu
import sqlalchemy as sa
from alembic import util as alembic_util
from amqp import exceptions as amqp_exceptions
from oslo_config import cfg

from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler import version
from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.ingest import bus as ingest_bus
from cryptomine_scheduler.telemetry import signing


def amqp_url(transport_url: str) -> str:
    """kombu's name for the broker oslo.messaging calls ``rabbit``."""
    scheme, sep, rest = transport_url.partition('://')
    if scheme != 'rabbit' or not sep:
        raise SystemExit(f'dead letters live on RabbitMQ; [DEFAULT] '
                         f'transport_url names {scheme!r}')
    return f'amqp://{rest}'


def describe(body) -> str:
    """One line about a parked message: id, sample, why it was parked."""
    try:
        message = json.loads(json.loads(body)['oslo.message'])
        payload = message.get('payload') or {'sample': {}}
        sample = signing.opened(payload) or {}
        return (f'{message.get("message_id")}  {message.get("event_type")}  '
                f'host={sample.get("host")!r} seq={sample.get("seq")}  '
                f'{message.get(ingest_bus.DEAD_LETTER_REASON)}')
    except (ValueError, TypeError, KeyError, AttributeError):
        return f'(unreadable) {str(body)[:120]!r}'


def dead_letters(conf: cfg.ConfigOpts, replay: bool, limit: int) -> int:
    parked = f'{conf.controller.dead_letter_topic}.info'
    samples = ingest_bus.listener_pool(conf)
    with kombu.Connection(amqp_url(conf.transport_url),
                          transport_options={'confirm_publish': True}
                          ) as connection:
        channel = connection.channel()
        producer = kombu.Producer(channel)
        queue = kombu.Queue(parked, channel=channel, no_declare=True)
        seen = 0
        while seen < limit:
            try:
                message = queue.get(no_ack=False)
            except amqp_exceptions.NotFound:
                message = None  # nothing was ever parked
            if message is None:
                break
            seen += 1
            print(describe(message.body))
            if replay:
                producer.publish(message.body, routing_key=samples,
                                 exchange='',
                                 content_type=message.content_type,
                                 content_encoding=message.content_encoding,
                                 delivery_mode=2)
                message.ack()
        # Messages listed but not replayed go back when the channel closes.
        channel.close()
    action = 'replayed onto ' + samples if replay else 'parked in ' + parked
    print(f'{seen} message(s) {action}', file=sys.stderr)
    return 0


def db_sync(conf: cfg.ConfigOpts, revision: str) -> int:
    """Upgrade the schema to ``revision`` (``head``: this release's)."""
    engine = store_mod.create_engine(conf.database.connection)
    try:
        store_mod.upgrade(engine, revision)
        print(f'database schema at revision '
              f'{store_mod.schema_revision(engine)}')
    except (store_mod.SchemaMismatch, alembic_util.CommandError) as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def db_version(conf: cfg.ConfigOpts) -> int:
    """Print the schema's revision; 1 when it is not this release's."""
    engine = store_mod.create_engine(conf.database.connection)
    try:
        print(store_mod.schema_revision(engine) or 'none')
        store_mod.check_schema(engine)
    except store_mod.SchemaMismatch as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def main(argv=None) -> int:
    conf = cfg.ConfigOpts()
    cm_conf.register_opts(conf)

    def add_commands(subparsers):
        parser = subparsers.add_parser(
            'dead-letters', help='show or replay the parked messages')
        parser.add_argument('action', choices=('list', 'replay'))
        parser.add_argument('--limit', type=int, default=1000,
                            help='at most this many messages (default '
                                 '1000)')
        parser = subparsers.add_parser(
            'db', help="the load history database's schema")
        parser.add_argument('action', choices=('sync', 'version'))
        parser.add_argument('--revision', default='head',
                            help='sync up to this revision (default: '
                                 "this release's)")

    conf.register_cli_opt(cfg.SubCommandOpt(
        'command', handler=add_commands, title='commands'))
    conf(argv, project='cryptomine', prog='cryptomine-manage',
         version=version.version_string())
    command = conf.command
    if command.name == 'db':
        try:
            if command.action == 'sync':
                return db_sync(conf, command.revision)
            return db_version(conf)
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            print(f'cannot use the database ([database] connection): '
                  f'{str(exc).splitlines()[0]}', file=sys.stderr)
            return 1
    return dead_letters(conf, command.action == 'replay', command.limit)


if __name__ == '__main__':
    sys.exit(main())
