"""The cryptomine controller beside an in-process nova.

:class:`ControllerBeside` goes before a nova functional test base in the
bases of a test case: it starts a private RabbitMQ, points the nova
scheduler's plugin at it, runs a controller there and publishes signed
samples to it through the collectors' publisher.
"""

import time

import fixtures
import nova.conf
import oslo_messaging
from oslo_config import cfg

from cryptomine_scheduler import service
from cryptomine_scheduler.scheduler import plugin
from cryptomine_scheduler.tests import config as test_config
from cryptomine_scheduler.tests import rabbit
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting
from load_collector import publisher as publisher_mod

CONF = nova.conf.CONF


class ControllerBeside:
    """A controller on a private RabbitMQ that nova's scheduler asks."""

    def setUp(self):
        self.broker = self.useFixture(rabbit.RabbitBroker())
        # The scheduler started by setUp builds its own plugin, which
        # connects on its first request, after the flags below.
        plugin.forget(CONF)
        self.addCleanup(plugin.forget, CONF)
        super().setUp()
        # Load is reported once per test: a slow machine must not make
        # it stale (stale_after) before the test's last boot.
        self.flags(controller_transport_url=self.broker.url,
                   snapshot_ttl=0.2, rpc_timeout=5.0, risk_factor=0.5,
                   stale_after=3600.0, group='cryptomine')
        self.flags(cores=-1, ram=-1, instances=-1, group='quota')
        self.controller = self.start_controller()
        self.seq = 0

    def controller_overrides(self) -> dict:
        """{group: {option: value}} of the controller's configuration."""
        return {}

    def nova_link(self, conf: cfg.ConfigOpts) -> service.NovaLink:
        """How the controller configured by ``conf`` reaches nova: not
        at all unless overridden."""
        return service.NovaLink()

    def start_controller(self):
        conf = cfg.ConfigOpts()
        test_config.register_all_opts(conf)
        conf([])
        for group, options in self.controller_overrides().items():
            for name, value in options.items():
                conf.set_override(name, value, group)
        conf.set_override('state_path', self.useFixture(
            fixtures.TempDir()).path)
        conf.set_override('master_secret', samples.SECRET, 'messaging')
        conf.set_override('batch_timeout', 1, 'controller')
        notify = oslo_messaging.get_notification_transport(
            conf, url=self.broker.url)
        rpc_transport = oslo_messaging.get_rpc_transport(
            conf, url=self.broker.url)
        self.addCleanup(notify.cleanup)
        self.addCleanup(rpc_transport.cleanup)
        controller = service.ControllerService(conf, notify, rpc_transport,
                                               nova=self.nova_link(conf))
        controller.start()
        self.addCleanup(self._stop_controller, controller)
        self.publisher = publisher_mod.SamplePublisher(
            notify, conf.messaging.sample_topic, 'test', 1)
        return controller

    @staticmethod
    def _stop_controller(controller):
        if not controller._stop.is_set():
            controller.stop()

    def report(self, loads: dict, gpu_hosts=(), guests=None, gpus=None):
        """Publish 5 samples of each host (10 s apart, ending now) with
        the CPU load given, from a host of 16 CPUs as the fake driver's;
        ``gpu_hosts`` also report a GPU, ``gpus`` gives a host's GPU
        readings, ``guests`` lists each host's instances."""
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
                    cpus=16, instances=(guests or {}).get(host, ()))))
                expected += 1
        waiting.wait_for(
            lambda: self.controller.totals.stored >= expected, 30)
