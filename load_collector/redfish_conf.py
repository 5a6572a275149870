"""Options of the collector's ``redfish`` source: the host's BMC."""

from oslo_config import cfg

redfish_group = cfg.OptGroup(
    'redfish', title='BMC over Redfish',
    help="""
The host's baseboard management controller, read out of band by the
``redfish`` source of ``[collector] sources``: per-GPU temperature and
power (GPUs passed through to guests included) and the chassis' inlet
temperature and power.
""")

redfish_opts = [
    cfg.URIOpt('url', schemes=['https', 'http'],
               help="""
Base URL of the BMC's Redfish service, without ``/redfish/v1``.  Unset,
the ``redfish`` source disables itself.

Possible values:

* ``https://10.20.1.17``
"""),
    cfg.StrOpt('username',
               help="""
Redfish account of the BMC; a read-only one is enough.

Related options:

* ``password``
"""),
    cfg.StrOpt('password', secret=True,
               help="""
Password of the Redfish account ``username``.
"""),
    cfg.BoolOpt('verify_tls', default=True,
                help="""
Whether to verify the BMC's TLS certificate.  Many BMCs come with a
self-signed one: give its CA in ``ca_file`` rather than turning this off.

Related options:

* ``ca_file``
"""),
    cfg.StrOpt('ca_file',
               help="""
CA bundle to verify the BMC's certificate against, instead of the
system's.  Ignored when ``verify_tls`` is false.
"""),
    cfg.FloatOpt('interval', default=30.0, min=1.0,
                 help="""
Seconds between two reads of the BMC.  The reads run in a thread of
their own: a sample carries the newest read, and a BMC that is slow or
down never delays the collector's cycle.  Readings older than two
intervals and ``timeout`` are reported absent.

Related options:

* ``timeout``
"""),
    cfg.FloatOpt('timeout', default=5.0, min=0.1, max=60.0,
                 help="""
Seconds to wait for the BMC to accept a connection, and for each part of
one of its answers; a BMC slower than this is reported unreadable until
its next read.
"""),
]


def list_opts():
    return [(redfish_group, redfish_opts)]
