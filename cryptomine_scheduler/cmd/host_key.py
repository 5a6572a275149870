"""``cryptomine-host-key``: print the signing keys of compute hosts.

Run where ``[messaging] master_secret`` is configured (a controller), then
write each key as ``[messaging] host_key`` in that host's configuration.
"""

import sys

from oslo_config import cfg

from cryptomine_scheduler.conf import messaging
from cryptomine_scheduler.telemetry import signing

PROG = 'cryptomine-host-key'
CLI_OPTS = [
    cfg.MultiStrOpt('hosts', positional=True, required=False,
                    metavar='HOST',
                    help='Compute host, named as in its collector\'s '
                         '[collector] host (nova\'s name of the host).'),
]


def main(argv=None) -> int:
    conf = cfg.ConfigOpts()
    messaging.register_opts(conf)
    conf.register_cli_opts(CLI_OPTS)
    conf(argv, project='cryptomine', prog=PROG)
    if not conf.hosts:
        conf.print_usage(file=sys.stderr)
        print(f'{PROG}: name at least one HOST', file=sys.stderr)
        return 2
    try:
        secret = signing.check_master_secret(conf.messaging.master_secret)
    except ValueError as exc:
        print(f'{PROG}: {exc}; run it on a controller, or name the '
              f'controllers\' configuration with --config-file',
              file=sys.stderr)
        return 2
    keys = [(host, signing.derive_host_key(secret, host).hex())
            for host in conf.hosts]
    if len(keys) == 1:
        print(keys[0][1])
    else:
        for host, key in keys:
            print(host, key)
    return 0


if __name__ == '__main__':
    sys.exit(main())
