"""The cryptomine controller beside an in-process nova.

:class:`ControllerBeside` goes before a nova functional-test base in
the bases of a case (the emulated testbed, the functional tests): it
points the nova scheduler's plugin at the bus of :meth:`transport_url`,
runs a controller there, and publishes signed samples to it through the
collectors' publisher (:attr:`publisher`).
"""

import fixtures
import nova.conf
import oslo_messaging
from oslo_config import cfg

from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler.conf import scheduler as scheduler_conf
from cryptomine_scheduler.control import service
from cryptomine_scheduler.scheduler import plugin
from load_collector import publisher as publisher_mod

CONF = nova.conf.CONF


class ControllerBeside:
    """A controller on :meth:`transport_url` that nova's scheduler asks."""

    #: ``[messaging] master_secret`` of the controller; the samples
    #: published are signed with host keys derived from it.
    SECRET = 'emulated-testbed-secret-0123456789'

    def setUp(self):
        # The scheduler started by setUp builds its own plugin, which
        # connects on its first request, after the flags below.
        plugin.forget(CONF)
        self.addCleanup(plugin.forget, CONF)
        super().setUp()
        # Registered by the plugin when nova loads our filter or weigher;
        # here too, for a nova that loads neither.
        scheduler_conf.register_opts(CONF)
        self.flags(controller_transport_url=self.transport_url(),
                   group='cryptomine', **self.scheduler_plugin_flags())
        self.controller = self.start_controller()

    def transport_url(self) -> str:
        """The bus of the controller and of the scheduler's plugin."""
        raise NotImplementedError

    def scheduler_plugin_flags(self) -> dict:
        """nova.conf ``[cryptomine]`` options besides the bus."""
        return {}

    def register_opts(self, conf: cfg.ConfigOpts) -> None:
        """Register the options of the controller's configuration."""
        cm_conf.register_opts(conf)

    def controller_overrides(self) -> dict:
        """{group: {option: value}} of the controller's configuration."""
        return {}

    def nova_link(self, conf: cfg.ConfigOpts) -> service.NovaLink:
        """How the controller configured by ``conf`` reaches nova: not
        at all unless overridden."""
        return service.NovaLink()

    def start_controller(self) -> service.ControllerService:
        conf = cfg.ConfigOpts()
        self.register_opts(conf)
        conf([])
        for group, options in self.controller_overrides().items():
            for name, value in options.items():
                conf.set_override(name, value, group)
        conf.set_override('state_path', self.useFixture(
            fixtures.TempDir()).path)
        conf.set_override('master_secret', self.SECRET, 'messaging')
        conf.set_override('batch_timeout', 1, 'controller')
        url = self.transport_url()
        notify = oslo_messaging.get_notification_transport(conf, url=url)
        rpc_transport = oslo_messaging.get_rpc_transport(conf, url=url)
        self.addCleanup(notify.cleanup)
        self.addCleanup(rpc_transport.cleanup)
        controller = service.ControllerService(conf, notify, rpc_transport,
                                               nova=self.nova_link(conf))
        controller.start()
        self.addCleanup(self._stop_controller, controller)
        self.publisher = publisher_mod.SamplePublisher(
            notify, conf.messaging.sample_topic, 'emulated-collector', 1)
        return controller

    @staticmethod
    def _stop_controller(controller):
        if not controller._stop.is_set():
            controller.stop()
