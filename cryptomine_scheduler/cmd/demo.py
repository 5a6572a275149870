"""``cryptomine-demo``: the whole pipeline in one process, for a first look.

Runs a controller (SQLite history, in-process ``fake://`` transport) and a
collector sampling this machine for a short while, then prints the
per-host summary the controller built from the history it stored.
"""

import argparse
import logging as pylogging
import os
import secrets
import sys
import tempfile
import threading
import time

import oslo_messaging
from oslo_config import cfg
from oslo_log import log as logging

from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler import rpc
from cryptomine_scheduler.control import service
from cryptomine_scheduler.history.summaries import Stat
from cryptomine_scheduler.telemetry import sample as sample_mod
from cryptomine_scheduler.telemetry import signing
from load_collector import cmd as collector_cmd
from load_collector import conf as collector_conf
from load_collector import daemon

COLUMNS = (
    ('cpu %', sample_mod.HostMetric.CPU_PERCENT),
    ('mem %', sample_mod.HostMetric.MEM_PERCENT),
    ('load1', sample_mod.HostMetric.LOAD_1),
)
TRANSPORT_URL = 'fake:/'
STATS = (Stat.LAST, Stat.EWMA, Stat.MEAN, Stat.P95, Stat.STD, Stat.TREND)


def build_conf(state_dir: str, interval: float) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    cm_conf.register_opts(conf)
    collector_conf.register_opts(conf)
    logging.register_options(conf)
    # Nothing from the machine's cryptomine.conf (its database, metrics
    # port, transport): the demo is self-contained.
    conf([], project='cryptomine', prog='cryptomine-demo',
         default_config_files=[], default_config_dirs=[])
    conf.set_override('state_path', state_dir)
    secret = secrets.token_hex(32)
    conf.set_override('master_secret', secret, 'messaging')
    # The collector signs with its host key, as on a compute host.
    conf.set_override('host_key', signing.derive_host_key(
        secret, conf.collector.host).hex(), 'messaging')
    conf.set_override('interval', interval, 'collector')
    conf.set_override('batch_timeout', 1, 'controller')
    return conf


def format_report(snap, stored: dict[str, list[int]]) -> str:
    """Render the per-host summary table."""
    lines = []
    for host, view in sorted(snap.hosts.items()):
        lines.append(f'host {host}: {len(stored.get(host, []))} samples '
                     f'stored, newest {view.age:.1f}s ago, '
                     f'window {snap.window:.0f}s')
        lines.append('  metric  ' + ''.join(f'{s.name.lower():>9}'
                                            for s in STATS))
        for label, metric in COLUMNS:
            lines.append(f'  {label:<7} ' + ''.join(
                f'{view.metric(metric, s):9.2f}' for s in STATS))
    guests = [i for i in snap.instances.values()]
    lines.append(f'instances seen: {len(guests)} (qemu/kvm guests)')
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--duration', type=float, default=15.0,
                        help='seconds to sample (default 15)')
    parser.add_argument('--interval', type=float, default=1.0,
                        help='seconds between samples (default 1)')
    parser.add_argument('--verbose', action='store_true',
                        help='show the services\' INFO logs')
    parser.add_argument('--state-dir', default=None,
                        help='where to keep the SQLite history (default: '
                             'a new temporary directory)')
    args = parser.parse_args(argv)
    state_dir = args.state_dir or tempfile.mkdtemp(prefix='cryptomine-')
    os.makedirs(state_dir, exist_ok=True)
    conf = build_conf(state_dir, args.interval)
    logging.setup(conf, 'cryptomine')
    if not args.verbose:
        pylogging.getLogger().setLevel(pylogging.WARNING)
    notification_transport = oslo_messaging.get_notification_transport(
        conf, url=TRANSPORT_URL)
    rpc_transport = oslo_messaging.get_rpc_transport(conf, url=TRANSPORT_URL)
    controller = service.ControllerService(conf, notification_transport,
                                           rpc_transport)
    controller.start()
    collector = collector_cmd.build_collector(conf, notification_transport)
    stop = threading.Event()
    print(f'Sampling {collector.host} every {args.interval:g}s for '
          f'{args.duration:g}s; history in {conf.database.connection}')
    worker = threading.Thread(target=collector.run, args=(
        stop, lambda: daemon.jittered(args.interval, conf.collector.jitter)))
    worker.start()
    time.sleep(args.duration)
    stop.set()
    worker.join()
    collector.shutdown(timeout=5.0)
    # Let the listener store its last batch before reading back.
    deadline = time.monotonic() + 10
    while (controller.totals.stored < collector.stats.published
           and time.monotonic() < deadline):
        time.sleep(0.2)
    client = rpc.ControllerClient(rpc_transport,
                                  conf.messaging.controller_topic)
    print(format_report(client.get_load_snapshot(),
                        controller.store.stored_seqs()))
    print('ingest:', client.get_ingest_stats())
    controller.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
