"""One bad message harms only itself: isolation, bounded retries, dead
letters, and every dropped message counted."""

import logging
import time

import fixtures
import oslo_messaging
from oslo_config import cfg
from oslotest import base

from cryptomine_scheduler import conf as cm_conf
from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.ingest import bus as ingest_bus
from cryptomine_scheduler.ingest import ingestor as ingest
from cryptomine_scheduler.ingest import rate_limit
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.telemetry import validation
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests import waiting

R = validation.Reason
HANDLED = oslo_messaging.NotificationResult.HANDLED
REQUEUE = oslo_messaging.NotificationResult.REQUEUE
DEAD_TOPIC = 'test_dead'


class Parked:
    """Notification endpoint keeping what lands on the dead-letter
    topic."""

    def __init__(self):
        self.messages = []

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self.messages.append((ctxt, event_type, payload))


class EndpointTestCase(base.BaseTestCase):

    RATE, BURST = 1.0, 1000

    def setUp(self):
        super().setUp()
        # A whole number of seconds: clock differences are exact.
        self.now = self.clock = float(int(time.time()))
        state_dir = self.useFixture(fixtures.TempDir()).path
        self.store = store_mod.HistoryStore.open(
            f'sqlite:///{state_dir}/h.sqlite')
        self.addCleanup(self.store.close)
        self.ingestor = ingest.Ingestor(
            self.store, samples.POLICY, ingest.RejectionLog(60, time.time),
            rate_limit.HostRateLimit(self.RATE, self.BURST),
            clock=lambda: self.clock)
        self.totals = ingest.IngestTotals()
        conf = cfg.ConfigOpts()
        cm_conf.register_shared_opts(conf)
        conf([])
        self.transport = oslo_messaging.get_notification_transport(
            conf, url='fake:/')
        self.addCleanup(self.transport.cleanup)
        self.parked = Parked()
        listener = oslo_messaging.get_notification_listener(
            self.transport, [oslo_messaging.Target(topic=DEAD_TOPIC)],
            [self.parked], executor='threading')
        listener.start()
        self.addCleanup(listener.wait)
        self.addCleanup(listener.stop)
        self.endpoint = ingest_bus.SampleEndpoint(
            self.ingestor, self.totals.add,
            ingest_bus.DeadLetters(self.transport, DEAD_TOPIC),
            ingest_bus.RetryPolicy(max_attempts=3, first_delay=0.0,
                                   max_delay=0.0))

    def messages(self, seqs, host='compute-1', timestamp=None):
        return [{'event_type': sample.EVENT_TYPE,
                 'metadata': {'message_id': f'{host}-{seq}'},
                 'payload': samples.payload(samples.make(
                     host=host, seq=seq,
                     timestamp=timestamp or self.now))} for seq in seqs]

    def break_store(self):
        with self.store.engine.begin() as conn:
            conn.exec_driver_sql(
                'ALTER TABLE host_samples RENAME TO unavailable')

    def mend_store(self):
        with self.store.engine.begin() as conn:
            conn.exec_driver_sql(
                'ALTER TABLE unavailable RENAME TO host_samples')


class TestStoreFailures(EndpointTestCase):

    def test_batch_requeued_while_the_database_fails_then_stored(self):
        batch = self.messages(range(3))
        self.break_store()
        self.assertEqual(REQUEUE, self.endpoint.info(batch))
        self.assertEqual(0, self.totals.stored)
        self.mend_store()
        self.assertEqual(HANDLED, self.endpoint.info(batch))
        self.assertEqual({'compute-1': [0, 1, 2]}, self.store.stored_seqs())
        self.assertEqual((3, 3), (self.totals.received, self.totals.stored))

    def test_parked_after_max_attempts_and_counted(self):
        batch = self.messages(range(3))
        self.break_store()
        self.assertEqual(REQUEUE, self.endpoint.info(batch))
        self.assertEqual(REQUEUE, self.endpoint.info(batch))
        self.assertEqual(HANDLED, self.endpoint.info(batch))  # 3rd failure
        waiting.wait_for(lambda: len(self.parked.messages) == 3,
                         waiting.PATIENCE)
        _, event_type, payload = self.parked.messages[0]
        self.assertEqual(sample.EVENT_TYPE, event_type)
        self.assertEqual(batch[0]['payload'], payload)
        wire = self.totals.wire()
        self.assertEqual(3, wire['rejected']['dead_lettered'])
        self.assertEqual(0, wire['stored'])

    def test_a_sample_the_database_refuses_is_rejected_alone(self):
        with self.store.engine.begin() as conn:
            conn.exec_driver_sql(
                'CREATE TRIGGER refuse BEFORE INSERT ON host_samples '
                "WHEN NEW.seq = 13 BEGIN SELECT RAISE(ABORT, 'no'); END")
        self.assertEqual(HANDLED,
                         self.endpoint.info(self.messages(range(10, 16))))
        self.assertEqual({'compute-1': [10, 11, 12, 14, 15]},
                         self.store.stored_seqs())
        wire = self.totals.wire()
        self.assertEqual(1, wire['rejected']['unstorable'])
        self.assertEqual((6, 5), (wire['received'], wire['stored']))


class TestHostRateLimit(EndpointTestCase):

    RATE, BURST = 0.1, 3

    def test_samples_over_the_burst_rejected_then_the_rate(self):
        logger = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        self.assertEqual(HANDLED, self.endpoint.info(self.messages(
            range(4)) + self.messages(range(3), host='compute-2')))
        self.assertEqual({'compute-1': [0, 1, 2], 'compute-2': [0, 1, 2]},
                         self.store.stored_seqs())
        self.assertEqual(1, self.totals.wire()['rejected']['too_frequent'])
        self.assertIn("too_frequent: host 'compute-1' sent more than 3 "
                      "samples at once or 0.1/s since", logger.output)
        self.clock += 9.0  # 0.9 token
        self.endpoint.info(self.messages([4]))
        self.clock += 1.0  # 1 token
        self.endpoint.info(self.messages([5]))
        self.assertEqual([0, 1, 2, 5], self.store.stored_seqs()['compute-1'])
        self.assertEqual(2, self.totals.wire()['rejected']['too_frequent'])

    def test_replay_after_an_outage_let_in(self):
        self.endpoint.info(self.messages(range(3)))  # bucket empty
        # Cut off for 30 s (three samples at 0.1/s), the collector
        # buffered three samples; they arrive at once.
        self.clock += 30.0
        buffered = [self.messages([3 + n], timestamp=self.now + 10.0 * n)[0]
                    for n in range(3)]
        self.endpoint.info(buffered)
        self.assertEqual([0, 1, 2, 3, 4, 5],
                         self.store.stored_seqs()['compute-1'])
        self.assertEqual(0, self.totals.wire()['rejected']['too_frequent'])

    def test_invalid_samples_and_forged_hosts_take_no_token(self):
        forged = [{'event_type': sample.EVENT_TYPE,
                   'payload': samples.payload(samples.make(
                       host=f'forged-{n}', seq=n, timestamp=self.now),
                       key_host='compute-1')} for n in range(5)]
        too_old = self.messages(range(5), timestamp=self.now - 90000.0)
        self.endpoint.info(forged + too_old + self.messages(range(5, 8)))
        self.assertEqual({'compute-1': [5, 6, 7]}, self.store.stored_seqs())
        self.assertEqual({'bad_signature': 5, 'too_old': 5},
                         {k: v for k, v in self.totals.wire()[
                             'rejected'].items() if v})
        self.assertEqual(1, len(self.ingestor._rate_limit))

    def test_a_requeued_batch_gets_its_tokens_back(self):
        batch = self.messages(range(3))
        self.break_store()
        self.assertEqual(REQUEUE, self.endpoint.info(batch))
        self.assertEqual(REQUEUE, self.endpoint.info(batch))
        self.mend_store()
        self.assertEqual(HANDLED, self.endpoint.info(batch))
        self.assertEqual({'compute-1': [0, 1, 2]}, self.store.stored_seqs())


class TestIngestorIsolation(EndpointTestCase):

    def test_a_check_that_raises_rejects_that_message_alone(self):
        # A payload whose signature comparison would once raise TypeError.
        poison = {'event_type': sample.EVENT_TYPE, 'payload': {
            'sample': samples.make(seq=1).to_wire(), 'signature': 'é' * 64}}
        weird = {'event_type': sample.EVENT_TYPE, 'payload': Unprintable()}
        batch = [poison, weird, *self.messages([2, 3])]
        self.assertEqual(HANDLED, self.endpoint.info(batch))
        self.assertEqual({'compute-1': [2, 3]}, self.store.stored_seqs())
        self.assertEqual(2, self.totals.wire()['rejected']['malformed'])


class Unprintable(dict):
    """A payload whose every use raises."""

    def get(self, *args):
        raise RuntimeError('no')


class Incoming:
    """What oslo.messaging hands its dispatcher."""

    def __init__(self, message):
        self.ctxt = {}
        self.message = message


class Endpoint:
    """Keeps what it is handed in ``got`` and answers ``verdict``."""

    def __init__(self, verdict=HANDLED):
        self.got, self.verdict = [], verdict

    def info(self, messages):
        self.got.extend(messages)
        return self.verdict


def _totals(results) -> dict:
    totals = ingest.IngestTotals()
    for result in results:
        totals.add(result)
    return totals.wire()


class TestDispatcher(base.BaseTestCase):

    def test_unreadable_and_other_priorities_counted_and_acknowledged(self):
        endpoint, results = Endpoint(), []
        dispatcher = ingest_bus.SampleDispatcher(
            [endpoint], results.append, ingest.RejectionLog(60, time.time))
        good = Incoming({'priority': 'info', 'event_type': 'e',
                         'payload': {}})
        requeue = dispatcher.dispatch([
            Incoming({'priority': 7, 'payload': {}}),
            Incoming({'priority': 'warn', 'payload': {}}),
            Incoming(['not', 'a', 'dict']),
            good])
        self.assertEqual(set(), requeue)
        self.assertEqual(1, len(endpoint.got))
        wire = _totals(results)
        self.assertEqual(2, wire['rejected']['malformed'])
        self.assertEqual(1, wire['rejected']['wrong_priority'])
        self.assertEqual(3, wire['received'])


class TestBatchHandler(base.BaseTestCase):
    """The batch consumer's batches go through the same screening and
    reach the endpoint in the shape oslo.messaging's dispatcher gives."""

    def handle(self, verdict):
        endpoint, results = Endpoint(verdict), []
        handler = ingest_bus.BatchHandler(
            endpoint, results.append, ingest.RejectionLog(60, time.time))
        requeue = handler([
            {'priority': 7, 'payload': {}},
            {'priority': 'INFO', 'event_type': 'e', 'payload': {'a': 1},
             'publisher_id': 'p', 'message_id': 'm1', 'timestamp': 't',
             '_context_user': 'u'},
            {'priority': 'warn', 'payload': {}},
            {'payload': {}}])
        return endpoint.got, requeue, _totals(results)

    def test_others_counted_and_acknowledged_info_handed_over(self):
        got, requeue, wire = self.handle(HANDLED)
        self.assertEqual([{'publisher_id': 'p', 'event_type': 'e',
                           'payload': {'a': 1},
                           'metadata': {'message_id': 'm1',
                                        'timestamp': 't'}}], got)
        self.assertEqual([False] * 4, requeue)
        self.assertEqual({'malformed': 1, 'wrong_priority': 2},
                         {k: v for k, v in wire['rejected'].items() if v})

    def test_only_the_handed_over_messages_requeued(self):
        got, requeue, wire = self.handle(oslo_messaging.NotificationResult
                                         .REQUEUE)
        self.assertEqual(1, len(got))
        self.assertEqual([False, True, False, False], requeue)
        self.assertEqual(3, wire['received'])


class TestDriverDrops(base.BaseTestCase):

    def test_counted_and_logged_at_a_bounded_rate(self):
        now = [0.0]
        results = []
        drops = ingest_bus.DriverDrops(results.append, interval=60,
                                       clock=lambda: now[0])
        driver = logging.getLogger(ingest_bus.DRIVER_LOGGER)
        # Only this test's counter (a listener of an earlier test in this
        # process installed its own).
        saved, driver.filters = driver.filters, []
        self.addCleanup(setattr, driver, 'filters', saved)
        drops.install()
        logger = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        for _ in range(50):
            try:
                raise ValueError('not JSON')
            except ValueError:
                driver.exception(ingest_bus.DRIVER_DROP)
        now[0] = 61.0
        driver.exception(ingest_bus.DRIVER_DROP)
        self.assertEqual(51, sum(r.rejected[R.NOT_AN_ENVELOPE]
                                 for r in results))
        self.assertEqual(2, logger.output.count('Dropped'))
        self.assertNotIn('Traceback', logger.output)
        self.assertIn('Dropped 50 message(s)', logger.output)
        driver.warning('something else')
        self.assertIn('something else', logger.output)
