"""Hosts as the API names them, read back (:mod:`.api.documents`)."""

import copy

import numpy as np
import testtools

from cryptomine_scheduler import summaries
from cryptomine_scheduler.api import documents
from cryptomine_scheduler.tests import fleets


class HostDocumentTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.view = fleets.host_view(60.0, 40.0)
        self.document = documents.host('h', self.view, None)
        self.now = self.view.newest + self.view.age

    def test_round_trip(self):
        back = documents.host_view(self.document, self.now)
        np.testing.assert_array_equal(self.view.stats, back.stats)
        self.assertEqual((self.view.newest, self.view.samples),
                         (back.newest, back.samples))

    def test_a_statistic_an_older_server_lacks_reads_unknown(self):
        older = copy.deepcopy(self.document)
        for stats in older['load']['summaries'].values():
            del stats['autocorr']
        back = documents.host_view(older, self.now)
        column = summaries.Stat.AUTOCORR
        self.assertTrue(np.isnan(back.stats[:, column]).all())
        np.testing.assert_array_equal(
            np.delete(self.view.stats, column, axis=1),
            np.delete(back.stats, column, axis=1))
