"""``[controller] prefetch_batches`` bounds RabbitMQ's prefetch."""

from oslo_config import cfg
from oslotest import base

from cryptomine_scheduler import conf as cm_conf


class TestPrefetchBatches(base.BaseTestCase):

    def conf(self, **controller) -> cfg.ConfigOpts:
        conf = cfg.ConfigOpts()
        cm_conf.register_opts(conf)
        conf([], default_config_files=[], default_config_dirs=[])
        for name, value in controller.items():
            conf.set_override(name, value, 'controller')
        return conf

    def prefetch(self, conf: cfg.ConfigOpts) -> int:
        cm_conf.prefetch_batches(conf)
        return conf.oslo_messaging_rabbit.rabbit_qos_prefetch_count

    def test_two_batches_by_default(self):
        self.assertEqual(400, self.prefetch(self.conf()))
        self.assertEqual(1000, self.prefetch(self.conf(batch_size=500)))

    def test_a_prefetch_set_by_the_operator_stays(self):
        conf = self.conf()
        conf.set_override('rabbit_qos_prefetch_count', 64,
                          'oslo_messaging_rabbit')
        self.assertEqual(64, self.prefetch(conf))

    def test_zero_leaves_oslo_messaging_unlimited(self):
        self.assertEqual(0, self.prefetch(self.conf(prefetch_batches=0)))
