"""Hosts as the API names them, read back (:mod:`.api.documents`)."""

import copy
import dataclasses

import numpy as np
import testtools

from cryptomine_scheduler.api import documents
from cryptomine_scheduler.history import mining
from cryptomine_scheduler.history import summaries
from cryptomine_scheduler.placement import device_inventory
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


    def test_placement_s_devices_round_trip(self):
        self.assertIsNone(self.document['load']['devices'])
        self.assertIsNone(
            documents.host_view(self.document, self.now).devices)
        counted = device_inventory.HostDevices(
            gpu=device_inventory.DeviceCount(total=8, used=3))
        document = documents.host(
            'h', dataclasses.replace(self.view, devices=counted), None)
        self.assertEqual({'gpu': {'total': 8, 'used': 3}},
                         document['load']['devices'])
        back = documents.host_view(document, self.now)
        self.assertEqual(counted, back.devices)
        self.assertEqual(5, back.devices.gpu.free)
        # A kind of device a newer server counts is left out.
        document['load']['devices']['fpga'] = {'total': 2, 'used': 0}
        self.assertEqual(counted,
                         documents.host_view(document, self.now).devices)

    def test_a_mining_metric_an_older_server_lacks_reads_unknown(self):
        metric = mining.MiningMetric
        view = fleets.host_view(60.0, 40.0, mining_values={
            metric.GPU_COUNT: 8.0, metric.INLET_TEMPERATURE: 27.0})
        document = documents.host('h', view, None)
        self.assertEqual(27.0, documents.host_view(document, self.now)
                         .mining_metric(metric.INLET_TEMPERATURE,
                                        summaries.Stat.LAST))
        del document['load']['mining'][metric.INLET_TEMPERATURE.value]
        back = documents.host_view(document, self.now)
        self.assertEqual(8.0, back.mining_metric(metric.GPU_COUNT,
                                                 summaries.Stat.LAST))
        self.assertTrue(np.isnan(back.mining_metric(
            metric.INLET_TEMPERATURE, summaries.Stat.LAST)))

    def test_an_older_server_s_document_has_no_devices(self):
        older = copy.deepcopy(self.document)
        del older['load']['devices']
        self.assertIsNone(documents.host_view(older, self.now).devices)


class InstanceDocumentTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.view = dataclasses.replace(
            fleets.instance_view('asic-1', 5.0, 1024.0), device_loss=0.75)
        self.document = documents.instance('vm-1', self.view)

    def test_round_trip_with_the_miner_s_loss(self):
        self.assertEqual(0.75, self.document['device_loss'])
        back = documents.instance_view(self.document, self.view.newest)
        np.testing.assert_array_equal(self.view.stats, back.stats)
        self.assertEqual(('asic-1', 0.75), (back.host, back.device_loss))

    def test_an_older_server_s_document_has_no_loss(self):
        older = {k: v for k, v in self.document.items()
                 if k != 'device_loss'}
        self.assertIsNone(
            documents.instance_view(older, self.view.newest).device_loss)
