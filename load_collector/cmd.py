"""``cryptomine-collector``: the per-compute-host sampling daemon."""

import importlib.metadata
import json
import sys
import threading
import time

import oslo_messaging
from oslo_config import cfg
from oslo_log import log as logging
from stevedore import named

from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler.control import supervisor
from cryptomine_scheduler.telemetry import signing
from load_collector import buffer as buffer_mod
from load_collector import conf as collector_conf
from load_collector import cpu_set
from load_collector import daemon
from load_collector import publisher as publisher_mod
from load_collector import sources as sources_mod

LOG = logging.getLogger(__name__)
SOURCE_NAMESPACE = 'cryptomine.collector.sources'


def _unknown_sources(names: list[str]) -> None:
    available = sorted({entry.name for entry in importlib.metadata.
                        entry_points(group=SOURCE_NAMESPACE)})
    raise SystemExit(f'Unknown collector source(s) {sorted(names)}; '
                     f'available: {available}')


def check_sources(conf: cfg.ConfigOpts) -> named.NamedExtensionManager:
    """The configured source plugins, only they imported; SystemExit
    when one is unknown."""
    return named.NamedExtensionManager(
        SOURCE_NAMESPACE, conf.collector.sources,
        on_missing_entrypoints_callback=_unknown_sources)


def load_sources(conf: cfg.ConfigOpts) -> list[sources_mod.Source]:
    """Instantiate the configured sources; skip those unavailable here."""
    manager = check_sources(conf)
    loaded = []
    for name in conf.collector.sources:
        try:
            loaded.append(manager[name].plugin(conf))
        except sources_mod.SourceUnavailable as exc:
            LOG.info('Source %s disabled on this host: %s', name, exc)
    return loaded


def signing_key(conf: cfg.ConfigOpts, warn: bool = True) -> bytes:
    """This host's key: ``[messaging] host_key``, else derived from
    ``master_secret`` (with a warning unless ``warn`` is false)."""
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
    if warn:
        LOG.warning('Signing with a key derived from [messaging] '
                    'master_secret: whoever reads this configuration can '
                    'sign samples for every host.  Unless a controller '
                    'shares it, set [messaging] host_key instead (on a '
                    'controller, "cryptomine-host-key %s" prints it) and '
                    'remove master_secret.', host)
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


#: Seconds between the two samples of ``--print``: CPU and miners' rates
#: are counted between two readings.
PRINT_PAUSE = 2.0


def register_opts(conf: cfg.ConfigOpts) -> None:
    cm_conf.register_shared_opts(conf)
    collector_conf.register_opts(conf)


CLI_OPTS = [
    cfg.IntOpt('cycles', min=1,
               help='Sample this many times, publish, and exit (default: '
                    'run until SIGTERM).'),
    cfg.BoolOpt('print', default=False,
                help='Sample this host as configured, print the sample '
                     'as JSON, publish nothing, and exit: what each '
                     'source reads here (its rates over '
                     f'{PRINT_PAUSE:g} s).'),
]


class CollectorService(supervisor.ReloadingService):
    """The collector, run by :func:`supervisor.run_alone`.

    SIGHUP applies a new ``[collector] interval`` or ``jitter`` from the
    next cycle on; SIGTERM finishes the cycle in hand and publishes what
    is buffered (``shutdown_flush_timeout``).

    The sampling thread reads the interval and jitter from
    :attr:`_timing`, never from the configuration: oslo.config empties
    its cache of option values before it re-reads the files, so a thread
    reading an option meanwhile caches the old value for good, and the
    collector would go on sampling at the old interval.
    """

    name = 'cryptomine-collector'

    def __init__(self, worker_id: int, conf: cfg.ConfigOpts):
        super().__init__(worker_id, conf)
        self._transport = oslo_messaging.get_notification_transport(conf)
        self._collector = build_collector(conf, self._transport)
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._timing = self._read_timing()

    def run(self) -> None:
        LOG.info('Collector for host %s starting, first seq %d',
                 self._collector.host, self._collector.first_seq)
        try:
            self._collector.run(self._stop, self._pause)
        finally:
            self._stopped.set()

    def _read_timing(self) -> tuple[float, float]:
        return self.conf.collector.interval, self.conf.collector.jitter

    def reload(self) -> None:
        super().reload()
        self._timing = self._read_timing()

    def _pause(self) -> float:
        return daemon.jittered(*self._timing)

    def terminate(self) -> None:
        self._stop.set()
        self._stopped.wait()
        flushed = self._collector.shutdown(
            self.conf.collector.shutdown_flush_timeout)
        self._transport.cleanup()
        if not flushed:
            raise SystemExit(1)


def run_cycles(conf: cfg.ConfigOpts, cycles: int) -> int:
    """Sample ``cycles`` times in this process, publish, and exit."""
    transport = oslo_messaging.get_notification_transport(conf)
    collector = build_collector(conf, transport)
    pause = conf.collector.interval
    try:
        collector.run(threading.Event(), lambda: pause, cycles)
    finally:
        flushed = collector.shutdown(conf.collector.shutdown_flush_timeout)
        transport.cleanup()
    return 0 if flushed else 1


def print_sample(conf: cfg.ConfigOpts) -> int:
    """Sample twice :data:`PRINT_PAUSE` apart; print the second sample's
    wire form as JSON on standard output."""
    transport = oslo_messaging.get_notification_transport(
        conf, url='fake:/')  # never used: nothing is published
    collector = build_collector(conf, transport)
    try:
        collector.sample()
        time.sleep(PRINT_PAUSE)
        wire = collector.sample().to_wire()
    finally:
        transport.cleanup()
    print(json.dumps(wire, indent=2, sort_keys=True))
    return 0


def main(argv=None) -> int:
    conf = cfg.ConfigOpts()
    register_opts(conf)
    conf.register_cli_opts(CLI_OPTS)
    supervisor.parse_args(conf, argv, 'cryptomine-collector')
    if conf.print:  # standard output is the sample's
        conf.set_override('use_stderr', True)
        logging.setup(conf, 'cryptomine')
    # Configuration errors end here, not in a worker restarted forever.
    signing_key(conf, warn=False)
    check_sources(conf)
    if 'host' in conf.collector.sources:
        try:
            cpu_set.guest_cpus(conf)
        except cpu_set.CpuSetError as exc:
            sys.exit(f'cryptomine-collector: {exc}')
    if conf.print:
        return print_sample(conf)
    if conf.cycles:
        return run_cycles(conf, conf.cycles)
    supervisor.run_alone(conf, CollectorService)
    return 0


if __name__ == '__main__':
    sys.exit(main())
