"""``cryptomine-collector``: the per-compute-host sampling daemon."""

import signal
import sys
import threading

import oslo_messaging
from oslo_config import cfg
from oslo_log import log as logging
from stevedore import extension

from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler import signing
from load_collector import buffer as buffer_mod
from load_collector import conf as collector_conf
from load_collector import daemon
from load_collector import publisher as publisher_mod
from load_collector import sources as sources_mod

LOG = logging.getLogger(__name__)
SOURCE_NAMESPACE = 'cryptomine.collector.sources'


def load_sources(conf: cfg.ConfigOpts) -> list[sources_mod.Source]:
    """Instantiate the configured sources; skip those unavailable here."""
    manager = extension.ExtensionManager(SOURCE_NAMESPACE)
    loaded = []
    for name in conf.collector.sources:
        if name not in manager.names():
            raise SystemExit(f'Unknown collector source {name!r}; '
                             f'available: {sorted(manager.names())}')
        try:
            loaded.append(manager[name].plugin(conf))
        except sources_mod.SourceUnavailable as exc:
            LOG.info('Source %s disabled on this host: %s', name, exc)
    return loaded


def signing_key(conf: cfg.ConfigOpts) -> bytes:
    """This host's key: ``[messaging] host_key``, else derived from
    ``master_secret`` with a warning."""
    if conf.messaging.host_key:
        try:
            return signing.parse_host_key(conf.messaging.host_key)
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
    host = conf.collector.host
    try:
        secret = signing.check_master_secret(conf.messaging.master_secret)
    except ValueError:
        raise SystemExit(
            f'[messaging] host_key must be set to the signing key of host '
            f'{host!r} (on a controller, "cryptomine-host-key {host}" '
            f'prints it), or master_secret ({signing.MIN_SECRET_LENGTH}+ '
            f'characters, as on the controllers)') from None
    LOG.warning('Signing with a key derived from [messaging] '
                'master_secret: whoever reads this configuration can sign '
                'samples for every host.  Unless a controller shares it, '
                'set [messaging] host_key instead (on a controller, '
                '"cryptomine-host-key %s" prints it) and remove '
                'master_secret.', host)
    return signing.derive_host_key(secret, host)


def build_collector(conf: cfg.ConfigOpts, transport) -> daemon.Collector:
    """Assemble a collector from the configuration."""
    key = signing_key(conf)
    host = conf.collector.host
    publisher = publisher_mod.SamplePublisher(
        transport, conf.messaging.sample_topic,
        f'cryptomine-collector.{host}', conf.collector.publish_retry)
    return daemon.Collector(
        host, load_sources(conf), publisher, key,
        buffer_mod.ReplayBuffer(conf.collector.buffer_size))


def register_opts(conf: cfg.ConfigOpts) -> None:
    cm_conf.register_shared_opts(conf)
    collector_conf.register_opts(conf)


CLI_OPTS = [
    cfg.IntOpt('cycles', min=1,
               help='Sample this many times, publish, and exit (default: '
                    'run until SIGTERM).'),
]


def main(argv=None) -> int:
    conf = cfg.ConfigOpts()
    register_opts(conf)
    conf.register_cli_opts(CLI_OPTS)
    logging.register_options(conf)
    conf(argv, project='cryptomine', prog='cryptomine-collector')
    logging.setup(conf, 'cryptomine')
    transport = oslo_messaging.get_notification_transport(conf)
    collector = build_collector(conf, transport)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    LOG.info('Collector for host %s starting, first seq %d',
             collector.host, collector.stats.first_seq)
    try:
        collector.run(stop, conf.collector.interval, conf.collector.jitter,
                      conf.cycles)
    finally:
        flushed = collector.shutdown(conf.collector.shutdown_flush_timeout)
        transport.cleanup()
    return 0 if flushed else 1


if __name__ == '__main__':
    sys.exit(main())
