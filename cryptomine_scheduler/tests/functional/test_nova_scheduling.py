"""LoadAwareFilter and LoadAwareWeigher inside a real nova.

nova (API, conductor, scheduler, placement, fake computes) runs in the
test process with nova's functional fixtures; the cryptomine controller
runs beside it on a private RabbitMQ, fed with signed samples through the
same publisher the collectors use.  Servers are booted through nova's API.
"""

# nova_base first: it selects nova's concurrency mode.
from cryptomine_scheduler.tests.functional import nova_base  # noqa: I001

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
FILTER = 'cryptomine_scheduler.scheduler.filter.LoadAwareFilter'
WEIGHER = 'cryptomine_scheduler.scheduler.weigher.LoadAwareWeigher'


class LoadAwareTestBase(nova_base.NovaSchedulingTestCase):
    """Four 16-vCPU hosts; only our weigher, so its effect is isolated;
    the controller on a private RabbitMQ."""

    AVAILABLE_FILTERS = ['nova.scheduler.filters.all_filters', FILTER]
    ENABLED_FILTERS = ['ComputeFilter', 'LoadAwareFilter']
    WEIGHT_CLASSES = [WEIGHER]
    FLAVORS = dict(nova_base.NovaSchedulingTestCase.FLAVORS,
                   miner=(4, 2048, 10, {}))

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
        controller = service.ControllerService(conf, notify, rpc_transport)
        controller.start()
        self.addCleanup(self._stop_controller, controller)
        self.publisher = publisher_mod.SamplePublisher(
            notify, conf.messaging.sample_topic, 'test', 1)
        return controller

    @staticmethod
    def _stop_controller(controller):
        if not controller._stop.is_set():
            controller.stop()

    def report(self, loads: dict, gpu_hosts=(), guests=None):
        """Publish 5 samples of each host (10 s apart, ending now) with
        the CPU load given, from a host of 16 CPUs as the fake driver's;
        ``gpu_hosts`` also report a GPU, ``guests`` lists each host's
        instances."""
        now = time.time()
        expected = self.controller.totals.stored
        for host, cpu in loads.items():
            gpus = [samples.gpu(0)] if host in gpu_hosts else []
            for i in range(5):
                self.seq += 1
                self.publisher.publish(samples.payload(samples.make(
                    host=host, seq=self.seq, timestamp=now - 40 + 10 * i,
                    cpu=cpu, gpus=gpus, collector=samples.COUNTERS,
                    cpus=16, instances=(guests or {}).get(host, ()))))
                expected += 1
        waiting.wait_for(
            lambda: self.controller.totals.stored >= expected, 30)


class LoadAwareSchedulingTest(LoadAwareTestBase):

    def test_boot_lands_on_least_loaded_host(self):
        self.report({'host1': 80.0, 'host2': 15.0, 'host3': 50.0,
                     'host4': 60.0})
        self.assertEqual('host2', self.host_of(self.boot_server('miner')))

    def test_overloaded_hosts_filtered_out_under_hard_policy(self):
        self.flags(overload_policy='hard', group='cryptomine')
        self.report({'host1': 95.0, 'host2': 92.0, 'host3': 91.0,
                     'host4': 75.0})
        # Each 1-vCPU guest adds 6.25 % to host4's prediction, the one
        # being placed included: 81.25 and 87.5 pass, 93.75 does not.
        servers = [self.boot_server('small') for _ in range(2)]
        self.assertEqual({'host4'}, {self.host_of(s) for s in servers})
        failed = self.wait_for_status(self.boot_server('small', wait=False),
                                      'ERROR')
        self.assertIn('No valid host', failed['fault']['message'])

    def test_overloaded_hosts_weighed_last_under_soft_policy(self):
        self.report({'host1': 95.0, 'host2': 92.0, 'host3': 91.0,
                     'host4': 75.0})
        # The burst is placed: host4 while it is within the threshold,
        # then the least overloaded hosts, never the worst one.
        servers = [self.boot_server('small') for _ in range(4)]
        placed = [self.host_of(s) for s in servers]
        self.assertEqual(['host4', 'host4'], placed[:2])
        self.assertLessEqual(set(placed), {'host3', 'host4'})

    def test_burst_spreads_instead_of_piling_up(self):
        self.report({'host1': 30.0, 'host2': 20.0, 'host3': 30.0,
                     'host4': 30.0})
        servers = self.boot_servers(8, flavor='miner')
        placed = [self.host_of(s) for s in servers]
        # Each 4-vCPU miner adds 25 % to a 16-vCPU host: without the
        # pending-boot credit all eight would go to host2.
        self.assertEqual(set(self.HOSTS), set(placed))
        self.assertLessEqual(max(placed.count(h) for h in self.HOSTS), 3)

    def test_gpu_flavor_never_on_cpu_only_host(self):
        self.report({'host1': 20.0, 'host2': 30.0, 'host3': 5.0,
                     'host4': 5.0}, gpu_hosts={'host1', 'host2'})
        servers = self.boot_servers(4, flavor='gpu')
        self.assertLessEqual({self.host_of(s) for s in servers},
                             {'host1', 'host2'})
        # The CPU-only hosts are the least loaded: a plain boot goes there.
        self.assertIn(self.host_of(self.boot_server('small')),
                      {'host3', 'host4'})

    def test_controller_stopped_pass_then_reject(self):
        self.report({h: 10.0 for h in self.HOSTS})
        self.boot_server('small')  # the scheduler has a snapshot now
        self.controller.stop()
        self.flags(snapshot_max_age=1.0, group='cryptomine')
        time.sleep(1.5)
        self.flags(missing_data_policy='pass', group='cryptomine')
        self.assertIn(self.host_of(self.boot_server('small')), self.HOSTS)
        self.flags(missing_data_policy='reject', group='cryptomine')
        failed = self.boot_server('small', wait=False)
        failed = self.wait_for_status(failed, 'ERROR')
        self.assertIn('No valid host', failed['fault']['message'])

    def test_live_migration_follows_the_load(self):
        self.report({'host1': 10.0, 'host2': 85.0, 'host3': 60.0,
                     'host4': 95.0})
        server = self.boot_server('miner')
        self.assertEqual('host1', self.host_of(server))
        # The host it runs on becomes busy; the scheduler must pick the
        # least-loaded host that passes (host4 is over the limit).
        self.report({'host1': 88.0, 'host2': 85.0, 'host3': 40.0,
                     'host4': 95.0})
        migrated = self.live_migrate(server)
        self.assertEqual('host3', migrated['OS-EXT-SRV-ATTR:host'])
