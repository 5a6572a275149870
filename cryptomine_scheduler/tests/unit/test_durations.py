"""The recorded test durations that seed a fresh clone's stestr history."""

import importlib
import io
import os

import fixtures
from oslotest import base

from cryptomine_scheduler.tests import durations

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


class TestDurations(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'durations.txt')

    def test_seeded_stream_records_the_same_durations(self):
        stream = io.BytesIO()
        durations.seed({'a.slow': 352.3, 'b.quick': 1.5}, stream)
        stream.seek(0)
        self.assertEqual({'a.slow': 352.3, 'b.quick': 1.5},
                         durations.record(stream))

    def test_file_keeps_the_tests_of_a_second_or_more(self):
        durations.write({'a': 0.4, 'b': 1.0, 'c': 12.34}, self.path)
        with open(self.path) as written:
            self.assertEqual('1.0 b\n12.3 c\n', written.read())
        self.assertEqual({'b': 1.0, 'c': 12.3}, durations.read(self.path))

    def test_malformed_line_names_its_place(self):
        with open(self.path, 'w') as out:
            out.write('2.0 a\nslow b\n')
        error = self.assertRaises(ValueError, durations.read, self.path)
        self.assertIn(f'{self.path}:2', str(error))

    def test_recorded_file_names_tests_that_exist(self):
        # The shipped file reads, and every test it names is a test of
        # this suite (a renamed test would be dealt out blindly).
        recorded = durations.read(os.path.join(ROOT, 'tools',
                                               'test-durations.txt'))
        self.assertGreater(len(recorded), 100)
        for test_id in recorded:
            module, cls, method = test_id.rsplit('.', 2)
            # Imported as test discovery imports every test module.
            case = getattr(importlib.import_module(module), cls, None)
            self.assertTrue(callable(getattr(case, method, None)), test_id)
