"""The chassis' inlet temperature and power, read from the host's BMC
over IPMI.

For BMCs without Redfish (the ``redfish`` source reads those, and their
GPUs too).  A thread of its own reads the BMC every ``[ipmi] interval``
seconds (:class:`~load_collector.sources.ipmi_bmc.IpmiBmc`); a cycle only
takes the newest read, so a slow or dead BMC never holds it up.  A read
older than two intervals and the session's timeout is reported without
readings.  The readings go to the sample's sensors where no source
listed before this one gave them
(:func:`~load_collector.sources.chassis.fill`).
"""

import dataclasses
import time

from oslo_log import log as logging

from load_collector import sources
from load_collector.sources import chassis
from load_collector.sources import ipmi_bmc
from load_collector.sources import polling

LOG = logging.getLogger(__name__)
#: About how long pyghmi waits for a BMC that stopped answering.
SESSION_TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True)
class _Snapshot:
    reading: chassis.ChassisReading
    taken_at: float  # time.monotonic()


class _Poller(polling.BmcPoller):
    """Reads the BMC every ``interval`` seconds until stopped; the newest
    read is :attr:`snapshot`."""

    errors = ipmi_bmc.GARBAGE

    def __init__(self, conf):
        opts = conf.ipmi
        super().__init__('ipmi', f'BMC {opts.address}:{opts.port}',
                         opts.interval, LOG)
        self._login = (opts.address, opts.port, opts.username,
                       opts.password, opts.inlet_sensor,
                       tuple(opts.power_sensors))
        self._bmc: ipmi_bmc.IpmiBmc | None = None
        self.snapshot: _Snapshot | None = None

    def read(self) -> chassis.ChassisReading:
        if self._bmc is None:
            self._bmc = ipmi_bmc.IpmiBmc(*self._login)
            LOG.info('BMC %s: inlet temperature from %s, chassis power '
                     'from %s, power cap from %s', self._login[0],
                     self._bmc.inlet_sensor or 'no sensor',
                     'DCMI' if self._bmc.dcmi_power
                     else ' + '.join(self._bmc.power_sensors) or 'no sensor',
                     'DCMI' if self._bmc.dcmi_cap else 'nowhere')
        return self._bmc.read()

    def disconnect(self) -> None:
        if self._bmc is not None:
            self._bmc.close()
            self._bmc = None

    def poll(self) -> None:
        reading = self.guarded_read(chassis.ChassisReading())
        self.snapshot = _Snapshot(reading, time.monotonic())


class IpmiSource(sources.Source):
    """Adds the BMC's chassis readings to :attr:`SampleDraft.sensors`."""

    def __init__(self, conf):
        super().__init__(conf)
        opts = conf.ipmi
        if not opts.address:
            raise sources.SourceUnavailable('no BMC configured ([ipmi] '
                                            'address)')
        self._max_age = 2 * opts.interval + SESSION_TIMEOUT
        self._poller = _Poller(conf)
        self._poller.start()
        LOG.info('Reading the BMC %s over IPMI every %g s', opts.address,
                 opts.interval)

    def close(self) -> None:
        """Stop reading the BMC (a read in flight ends on its own)."""
        self._poller.stop()

    def collect(self, draft: sources.SampleDraft) -> None:
        snapshot = self._poller.snapshot
        if (snapshot is not None
                and time.monotonic() - snapshot.taken_at <= self._max_age):
            chassis.fill(draft, snapshot.reading)
