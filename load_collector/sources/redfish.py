"""GPUs and chassis read out of band from the host's BMC, over Redfish.

NVML does not see a GPU passed through whole to a guest (bound to
``vfio-pci``); the BMC does.  A thread of its own reads the BMC every
``[redfish] interval`` seconds (:class:`~load_collector.sources.bmc.Bmc`)
and maps each GPU's PCI address to the guest holding it
(:mod:`~load_collector.sources.vfio`); a cycle only takes the newest
read, so a slow or dead BMC never holds it up.  A read older than two
intervals and ``[redfish] timeout`` is reported without readings.

GPUs that the ``gpu`` source (listed before this one) read through NVML
are left to it.  The others get the index :data:`INDEX_BASE` plus their
rank in PCI address order among the BMC's GPUs, and ``source`` 'redfish';
the chassis' inlet temperature and power go to the sample's sensors
(:func:`~load_collector.sources.chassis.fill`).  The
BMC, a GPU or a chassis reading that becomes unreadable is logged once,
and once again when it is read again.
"""

import dataclasses
import re
import time

from oslo_log import log as logging

from cryptomine_scheduler.telemetry import sample
from load_collector import sources
from load_collector.sources import bmc
from load_collector.sources import chassis
from load_collector.sources import polling
from load_collector.sources import vfio

LOG = logging.getLogger(__name__)
#: The index of the BMC's first GPU: above NVML's, which count from 0.
INDEX_BASE = 100


@dataclasses.dataclass(frozen=True)
class _Snapshot:
    """One read, as samples carry it."""

    gpus: tuple[sample.GpuLoad, ...]
    chassis: chassis.ChassisReading
    unread: tuple[sample.GpuLoad, ...]  # the same GPUs without readings
    taken_at: float  # time.monotonic()


def _gpu_load(rank: int, gpu: bmc.GpuReading,
              guests: dict[vfio.PciAddress, str]) -> sample.GpuLoad:
    guest = guests.get(gpu.address)
    return sample.GpuLoad(
        index=INDEX_BASE + rank,
        pci_bus_id='' if gpu.address is None else str(gpu.address),
        name=gpu.name, power_w=gpu.power_w, power_limit_w=gpu.power_limit_w,
        temperature_c=gpu.temperature_c,
        slowdown_temperature_c=gpu.slowdown_temperature_c,
        instances=() if guest is None else (guest,), source='redfish')


def _snapshot(read: bmc.BmcRead, guests: dict[vfio.PciAddress, str]
              ) -> _Snapshot:
    return _Snapshot(
        gpus=tuple(_gpu_load(rank, gpu, guests)
                   for rank, gpu in enumerate(read.gpus)),
        chassis=read.chassis,
        unread=tuple(_gpu_load(rank, gpu.absent(), guests)
                     for rank, gpu in enumerate(read.gpus)),
        taken_at=time.monotonic())


class _Poller(polling.BmcPoller):
    """Reads the BMC every ``interval`` seconds until stopped; the newest
    read is :attr:`snapshot`."""

    errors = bmc.GARBAGE

    def __init__(self, conf, pattern: re.Pattern):
        opts = conf.redfish
        super().__init__('redfish', f'BMC {opts.url}', opts.interval, LOG)
        self._login = (opts.url, opts.username, opts.password,
                       opts.verify_tls and (opts.ca_file or True),
                       opts.timeout)
        self._url = opts.url
        self._pattern = pattern
        self._bmc: bmc.Bmc | None = None
        self._known: tuple[bmc.GpuReading, ...] = ()
        self._faults: dict[str, str] = {}
        self.snapshot: _Snapshot | None = None

    def disconnect(self) -> None:
        if self._bmc is not None:
            self._bmc.close()
            self._bmc = None

    def read(self) -> bmc.BmcRead:
        if self._bmc is None:
            self._bmc = bmc.Bmc(*self._login)
        read = self._bmc.read()
        self._log_faults(read.faults)
        self._known = read.gpus
        return read

    def _log_faults(self, faults: dict[str, str]) -> None:
        for part in faults.keys() - self._faults.keys():
            LOG.warning('BMC %s: %s unreadable, reported absent until it '
                        'recovers: %s', self._url, part, faults[part])
        for part in self._faults.keys() - faults.keys():
            LOG.info('BMC %s: %s readable again', self._url, part)
        self._faults = faults

    def poll(self) -> None:
        guests = vfio.passthrough_guests(self._pattern)
        # A BMC that cannot be read: its GPUs known so far, no readings.
        absent = bmc.BmcRead(chassis.ChassisReading(),
                             tuple(g.absent() for g in self._known), {})
        self.snapshot = _snapshot(self.guarded_read(absent), guests)


class RedfishSource(sources.Source):
    """Adds the BMC's GPUs to :attr:`SampleDraft.gpus` and its chassis
    readings to :attr:`SampleDraft.sensors`."""

    def __init__(self, conf):
        super().__init__(conf)
        opts = conf.redfish
        if not opts.url:
            raise sources.SourceUnavailable('no BMC configured ([redfish] '
                                            'url)')
        self._max_age = 2 * opts.interval + opts.timeout
        self._poller = _Poller(
            conf, re.compile(conf.collector.instance_cmdline_regex))
        self._poller.start()
        LOG.info('Reading the BMC %s over Redfish every %g s', opts.url,
                 opts.interval)

    def close(self) -> None:
        """Stop reading the BMC (a read in flight ends on its own)."""
        self._poller.stop()

    def collect(self, draft: sources.SampleDraft) -> None:
        snapshot = self._poller.snapshot
        if snapshot is None:
            return  # not read yet
        if time.monotonic() - snapshot.taken_at > self._max_age:
            gpus, reading = snapshot.unread, chassis.ChassisReading()
        else:
            gpus, reading = snapshot.gpus, snapshot.chassis
        nvml = {g.pci_bus_id.upper() for g in draft.gpus}
        draft.gpus.extend(g for g in gpus if g.pci_bus_id not in nvml)
        chassis.fill(draft, reading)
