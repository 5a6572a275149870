"""The history store's schema, rollups and retention on PostgreSQL."""

from concurrent import futures

from oslotest import base

from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.tests import postgres
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests.unit import test_burst
from cryptomine_scheduler.tests.unit import test_manage_db
from cryptomine_scheduler.tests.unit import test_store


class OnPostgres(test_store.StoreTestCase):

    def database_url(self) -> str:
        return self.useFixture(postgres.PostgresCluster()).url


class TestSchemaOnPostgres(OnPostgres):

    test_migrations_match_models = (
        test_store.TestSchema.test_migrations_match_models)
    test_reopen_keeps_history = test_store.TestSchema.test_reopen_keeps_history
    test_actions_recorded_before_causes_get_theirs = (
        test_store.TestSchema.test_actions_recorded_before_causes_get_theirs)


class TestDbCommandsOnPostgres(test_manage_db.TestDbCommands):

    def database_url(self) -> str:
        return self.useFixture(postgres.PostgresCluster()).url


class TestAddSamplesOnPostgres(OnPostgres):

    test_stores_hosts_and_instances = (
        test_store.TestAddSamples.test_stores_hosts_and_instances)
    test_devices_and_sensors_round_trip = (
        test_store.TestAddSamples.test_devices_and_sensors_round_trip)
    test_duplicates_within_and_across_batches_stored_once = (
        test_store.TestAddSamples
        .test_duplicates_within_and_across_batches_stored_once)
    test_failed_batch_leaves_nothing = (
        test_store.TestAddSamples.test_failed_batch_leaves_nothing)
    test_summary_samples_keep_a_silent_hosts_last_window = (
        test_store.TestAddSamples
        .test_summary_samples_keep_a_silent_hosts_last_window)


class TestFlavorObservationsOnPostgres(
        OnPostgres, test_store.TestFlavorObservations):
    """Learnt loads' observations, duplicates skipped, on PostgreSQL."""


class TestPlacementEventsOnPostgres(
        OnPostgres, test_store.TestPlacementEvents):
    """Placement events, in order, on PostgreSQL."""


class TestRollupsAndRetentionOnPostgres(
        OnPostgres, test_store.TestRollupsAndRetention):
    """Every rollup and purge test, on PostgreSQL."""


class TestControllersStartingTogether(base.BaseTestCase):

    def test_concurrent_migrations_of_a_new_database(self):
        url = self.useFixture(postgres.PostgresCluster()).url

        def open_store(_):
            store = store_mod.HistoryStore.open(url)
            self.addCleanup(store.close)
            return store

        with futures.ThreadPoolExecutor(3) as pool:
            stores = list(pool.map(open_store, range(3)))
        stores[0].add_samples([samples.make(
            seq=1, timestamp=test_store.T0)], test_store.T0)
        self.assertEqual({'compute-1': [1]}, stores[2].stored_seqs())


class TestBurstHistoryOnPostgres(test_burst.HistoryTest):
    """Stays, holds and their sums (SQL arithmetic) on PostgreSQL."""

    def database_url(self) -> str:
        return self.useFixture(postgres.PostgresCluster()).url
