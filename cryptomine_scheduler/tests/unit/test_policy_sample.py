"""The committed policy sample is what oslopolicy-sample-generator
writes from the API's rules."""

import os

import fixtures
from oslotest import base

from cryptomine_scheduler.tests.unit import test_config_sample

GENERATOR_CONF = os.path.join(test_config_sample.ETC,
                              'cryptomine-policy-generator.conf')
SAMPLE = os.path.join(test_config_sample.ETC, 'policy.yaml.sample')


class TestPolicySample(base.BaseTestCase):

    def test_committed_sample_is_current(self):
        out = os.path.join(self.useFixture(fixtures.TempDir()).path, 's')
        test_config_sample.generate([
            '-c', 'from oslo_policy import generator; '
            'generator.generate_sample()', '--config-file', GENERATOR_CONF,
            '--output-file', out])
        with open(out) as fresh, open(SAMPLE) as committed:
            self.assertEqual(
                fresh.read(), committed.read(),
                'etc/cryptomine/policy.yaml.sample is stale: run "tox -e '
                'genpolicy" and commit the result')
