"""The re-planner with its plans on PostgreSQL and its planning lock in
etcd (tooz's etcd3gw driver); nova is faked at the edge."""

from cryptomine_scheduler.tests import etcd
from cryptomine_scheduler.tests import postgres
from cryptomine_scheduler.tests.unit import test_replan


class OnPostgresAndEtcd(test_replan.ReplanTestCase):

    def start_controller(self):
        if not hasattr(self, 'postgres'):
            self.postgres = self.useFixture(postgres.PostgresCluster())
            self.etcd = self.useFixture(etcd.EtcdServer())
            self.conf.set_override('connection', self.postgres.url,
                                   'database')
        return super().start_controller()

    def coordination(self) -> str:
        return self.etcd.url


class TestPlansOnPostgresAndEtcd(OnPostgresAndEtcd):

    test_rebalance_moves_what_the_plan_said = (
        test_replan.TestPlans.test_rebalance_moves_what_the_plan_said)
    test_moved_instances_cool_down = (
        test_replan.TestPlans.test_moved_instances_cool_down)
    test_abort_stops_starting_moves = (
        test_replan.TestPlans.test_abort_stops_starting_moves)
    test_another_controller_holding_the_lock_blocks_planning = (
        test_replan.TestPlans
        .test_another_controller_holding_the_lock_blocks_planning)


class TestRestartOnPostgresAndEtcd(OnPostgresAndEtcd):

    test_round_left_running_by_a_crash_is_closed_at_start = (
        test_replan.TestRestartAndInterval
        .test_round_left_running_by_a_crash_is_closed_at_start)
