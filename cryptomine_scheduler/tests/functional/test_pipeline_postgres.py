"""End to end over RabbitMQ into PostgreSQL: representative pipeline
tests of :mod:`test_pipeline` with the history on PostgreSQL."""

from cryptomine_scheduler.tests import postgres
from cryptomine_scheduler.tests.functional import base
from cryptomine_scheduler.tests.functional import test_pipeline


class TestPipelineOnPostgres(base.PipelineTestCase):

    def database_url(self) -> str:
        return self.useFixture(postgres.PostgresCluster()).url

    test_several_collectors_every_sample_stored_once = (
        test_pipeline.TestPipeline
        .test_several_collectors_every_sample_stored_once)
    test_controller_crash_loses_no_history = (
        test_pipeline.TestPipeline.test_controller_crash_loses_no_history)
