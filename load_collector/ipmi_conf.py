"""Options of the collector's ``ipmi`` source: the host's BMC over IPMI."""

from oslo_config import cfg

ipmi_group = cfg.OptGroup(
    'ipmi', title='BMC over IPMI',
    help="""
The host's baseboard management controller, read out of band over IPMI
2.0 (RMCP+) by the ``ipmi`` source of ``[collector] sources``: the
chassis' inlet temperature and power, for BMCs without Redfish.  Where
both sources are listed, the first one's readings are kept.
""")

ipmi_opts = [
    cfg.HostAddressOpt('address',
                       help="""
Address or name of the BMC's LAN interface.  Unset, the ``ipmi`` source
disables itself.
"""),
    cfg.PortOpt('port', default=623,
                help="""
UDP port of the BMC's RMCP+ service.
"""),
    cfg.StrOpt('username',
               help="""
IPMI user of the BMC; one with the User privilege can read sensors.

Related options:

* ``password``
"""),
    cfg.StrOpt('password', secret=True,
               help="""
Password of the IPMI user ``username``.
"""),
    cfg.FloatOpt('interval', default=30.0, min=1.0,
                 help="""
Seconds between two reads of the BMC.  The reads run in a thread of
their own: a sample carries the newest read, and a BMC that is slow or
down never delays the collector's cycle.  Readings older than two
intervals and the IPMI session's timeout (about 30 s) are reported
absent.
"""),
    cfg.StrOpt('inlet_sensor',
               help="""
Name of the inlet (intake) temperature sensor, as ``ipmitool sdr list``
shows it.  Unset, the sensor on the "air inlet" entity is used, else one
on the "external environment" entity or named for the inlet, intake or
ambient air.

Possible values:

* ``Inlet Temp``
"""),
    cfg.ListOpt('power_sensors', default=[],
                help="""
Names of the watt sensors whose sum is the chassis power, as ``ipmitool
sdr list`` shows them.  Empty, the DCMI power reading is used where the
BMC answers it, else the system's watt sensor, else the sum of the
power supplies' ones.

Possible values:

* ``PSU1 Input Power,PSU2 Input Power``
"""),
]


def list_opts():
    return [(ipmi_group, ipmi_opts)]
