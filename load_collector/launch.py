"""``cryptomine-collector``'s entry point: native threads, then the daemon.

The collector's threads are native, but importing oslo.messaging imports
oslo.service with its eventlet backend, and futurist and eventlet's
green sockets import eventlet, pyOpenSSL and cryptography only to find
out whether they are there; kombu imports PyYAML and msgpack to offer
serialisers that oslo.messaging, sending JSON, never uses: 12 MiB of RSS
on every compute host for code the collector never runs.
:func:`native_threads` must therefore run before anything imports
oslo.messaging, which is why this module imports nothing of the
collector until it has.
"""

import sys

#: Imported by the collector's libraries only to see whether they are
#: installed; each of them copes with their absence.
UNUSED = ('eventlet', 'yaml', 'msgpack')


def native_threads() -> None:
    """Select oslo.service's threading backend and make the
    :data:`UNUSED` packages unimportable (importing one raises
    ImportError, as where it is not installed).

    For a process of the collector's own: nothing in it may need them
    afterwards.  RuntimeError if oslo.messaging is imported already.
    """
    if 'oslo_messaging' in sys.modules:
        raise RuntimeError('oslo.messaging was imported before the '
                           'collector chose native threads')
    for name in UNUSED:
        sys.modules.setdefault(name, None)
    from oslo_service import backend
    backend.init_backend(backend.BackendType.THREADING)


def main(argv=None) -> int:
    native_threads()
    from load_collector import cmd
    return cmd.main(argv)


if __name__ == '__main__':
    sys.exit(main())
