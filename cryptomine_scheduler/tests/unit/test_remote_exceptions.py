"""The controller's errors reach its RPC callers as themselves."""

import json

import oslo_messaging
from oslo_messaging._drivers import common
from oslotest import base

from cryptomine_scheduler import exception
from cryptomine_scheduler import rpcapi


def received(module: str, name: str) -> Exception:
    """What a client makes of error ``name`` raised in ``module``."""
    failure = json.dumps({'class': name, 'module': module,
                          'message': 'it failed', 'tb': [],
                          'args': ['it failed'], 'kwargs': {}})
    return common.deserialize_remote_exception(
        failure, rpcapi.REMOTE_EXCEPTION_MODULES)


class TestRemoteExceptions(base.BaseTestCase):

    def test_errors_of_this_release(self):
        for name in ('ReplanBusy', 'PlanNotFound', 'UnknownHost',
                     'NovaUnavailable', 'NotRunningHere'):
            error = received(exception.__name__, name)
            self.assertIsInstance(error, getattr(exception, name))

    def test_errors_of_controllers_released_before_their_module(self):
        # Such a controller raised them from the re-planner's module (now
        # a package) or from its RPC endpoint's.
        for module, name in (
                ('cryptomine_scheduler.replan', 'ReplanBusy'),
                ('cryptomine_scheduler.replan', 'ReplanUnavailable'),
                ('cryptomine_scheduler.replan', 'UnknownAggregate'),
                ('cryptomine_scheduler.replan', 'NovaUnavailable'),
                ('cryptomine_scheduler.replan', 'NotRunningHere'),
                ('cryptomine_scheduler.rpc', 'PlanNotFound'),
                ('cryptomine_scheduler.rpc', 'UnknownMetric')):
            error = received(module, name)
            self.assertIsInstance(error, getattr(exception, name))
            self.assertIn('it failed', str(error))

    def test_other_modules_stay_remote_errors(self):
        error = received('os', 'OSError')
        self.assertIsInstance(error, oslo_messaging.RemoteError)
