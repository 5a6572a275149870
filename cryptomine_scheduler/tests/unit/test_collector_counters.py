from oslotest import base

from cryptomine_scheduler.telemetry import collector_counters
from cryptomine_scheduler.tests import samples


class TestCounterBook(base.BaseTestCase):

    def test_newest_of_every_host_by_sequence_number(self):
        book = collector_counters.CounterBook()
        for host, seq, timestamp in (('c1', 5, 100.0), ('c1', 4, 90.0),
                                     ('c2', 1, 50.0)):
            book.add(samples.make(host=host, seq=seq, timestamp=timestamp,
                                  collector=samples.COUNTERS))
        book.add(samples.make(host='old', seq=1, timestamp=100.0))
        self.assertEqual({'c1': 5, 'c2': 1},
                         {h: r.seq for h, r in book.since().items()})
        self.assertEqual({'c1'}, set(book.since(60.0)))


class TestReported(base.BaseTestCase):

    def test_wire_round_trip(self):
        reported = collector_counters.Reported(7, 100.5, samples.COUNTERS)
        wire = reported.wire()
        self.assertEqual({'seq': 7, 'timestamp': 100.5, 'dropped': 2,
                          'buffered': 5, 'publish_failures': 3,
                          'source_errors': 1}, wire)
        self.assertEqual(reported,
                         collector_counters.Reported.from_wire(wire))

    def test_counters_of_a_newer_controller_left_out(self):
        wire = {**collector_counters.Reported(7, 1.0, samples.COUNTERS)
                .wire(), 'rejected_by_broker': 4}
        self.assertEqual(samples.COUNTERS, collector_counters.Reported
                         .from_wire(wire).counters)
