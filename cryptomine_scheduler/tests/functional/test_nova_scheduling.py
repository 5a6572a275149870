"""LoadAwareFilter and LoadAwareWeigher inside a real nova.

nova (API, conductor, scheduler, placement, fake computes) runs in the
test process with nova's functional fixtures; the cryptomine controller
runs beside it on a private RabbitMQ, fed with signed samples through the
same publisher the collectors use.  Servers are booted through nova's API.
"""

# nova_base first: it selects nova's concurrency mode.
from cryptomine_scheduler.tests.functional import nova_base  # noqa: I001

import time

import nova.conf

from cryptomine_scheduler.tests.functional import controller_beside

CONF = nova.conf.CONF
FILTER = 'cryptomine_scheduler.scheduler.filter.LoadAwareFilter'
WEIGHER = 'cryptomine_scheduler.scheduler.weigher.LoadAwareWeigher'


class LoadAwareTestBase(controller_beside.ControllerBeside,
                        nova_base.NovaSchedulingTestCase):
    """Four 16-vCPU hosts; only our weigher, so its effect is isolated;
    the controller on a private RabbitMQ."""

    AVAILABLE_FILTERS = ['nova.scheduler.filters.all_filters', FILTER]
    ENABLED_FILTERS = ['ComputeFilter', 'LoadAwareFilter']
    WEIGHT_CLASSES = [WEIGHER]
    FLAVORS = dict(nova_base.NovaSchedulingTestCase.FLAVORS,
                   miner=(4, 2048, 10, {}))


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
