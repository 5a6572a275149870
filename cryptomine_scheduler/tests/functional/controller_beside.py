"""The cryptomine controller beside an in-process nova, on a private
RabbitMQ.

:class:`ControllerBeside` goes before a nova functional test base in the
bases of a test case: it starts a private RabbitMQ and runs the
emulated testbed's controller there
(:class:`cryptomine_scheduler.experiment.controller_beside.
ControllerBeside`); :meth:`~ControllerBeside.report` publishes signed
samples to it through the collectors' publisher.
"""

import time

from cryptomine_scheduler.experiment import controller_beside
from cryptomine_scheduler.tests import config as test_config
from cryptomine_scheduler.tests import rabbit
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting


class ControllerBeside(controller_beside.ControllerBeside):
    """A controller on a private RabbitMQ that nova's scheduler asks."""

    SECRET = samples.SECRET

    def setUp(self):
        self.broker = self.useFixture(rabbit.RabbitBroker())
        super().setUp()
        self.flags(cores=-1, ram=-1, instances=-1, group='quota')
        self.seq = 0

    def transport_url(self) -> str:
        return self.broker.url

    def scheduler_plugin_flags(self) -> dict:
        # Load is reported once per test: a slow machine must not make
        # it stale (stale_after) before the test's last boot.
        return {'snapshot_ttl': 0.2, 'rpc_timeout': 5.0,
                'risk_factor': 0.5, 'stale_after': 3600.0}

    def register_opts(self, conf) -> None:
        test_config.register_all_opts(conf)

    def report(self, loads: dict, gpu_hosts=(), guests=None, gpus=None,
               sensors=None):
        """Publish 5 samples of each host (10 s apart, ending now) with
        the CPU load given, from a host of 16 CPUs as the fake driver's;
        ``gpu_hosts`` also report a GPU, ``gpus`` gives a host's GPU
        readings, ``guests`` lists each host's instances and ``sensors``
        its :class:`~cryptomine_scheduler.telemetry.sample.HostSensors`."""
        now = time.time()
        expected = self.controller.totals.stored
        for host, cpu in loads.items():
            readings = (gpus or {}).get(host) or (
                [samples.gpu(0)] if host in gpu_hosts else [])
            for i in range(5):
                self.seq += 1
                self.publisher.publish(samples.payload(samples.make(
                    host=host, seq=self.seq, timestamp=now - 40 + 10 * i,
                    cpu=cpu, gpus=readings, collector=samples.COUNTERS,
                    cpus=16, instances=(guests or {}).get(host, ()),
                    sensors=(sensors or {}).get(host, samples.NO_SENSORS))))
                expected += 1
        waiting.wait_for(
            lambda: self.controller.totals.stored >= expected, 30)
