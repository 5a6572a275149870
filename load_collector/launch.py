"""``cryptomine-collector``'s entry point: native threads, then the daemon.

The collector's threads are native, but importing oslo.messaging imports
oslo.service with its eventlet backend, and futurist and eventlet's
green sockets import eventlet, pyOpenSSL and cryptography only to find
out whether they are there: 11 MiB of RSS on every compute host for
code the collector never runs.  :func:`native_threads` must therefore
run before anything imports oslo.messaging, which is why this module
imports nothing of the collector until it has.
"""

import sys


def native_threads() -> None:
    """Select oslo.service's threading backend and make eventlet
    unimportable (``import eventlet`` raises ImportError, as where it is
    not installed).

    For a process of the collector's own: nothing in it may need
    eventlet afterwards.  RuntimeError if oslo.messaging is imported
    already.
    """
    if 'oslo_messaging' in sys.modules:
        raise RuntimeError('oslo.messaging was imported before the '
                           'collector chose native threads')
    sys.modules.setdefault('eventlet', None)
    from oslo_service import backend
    backend.init_backend(backend.BackendType.THREADING)


def main(argv=None) -> int:
    native_threads()
    from load_collector import cmd
    return cmd.main(argv)


if __name__ == '__main__':
    sys.exit(main())
