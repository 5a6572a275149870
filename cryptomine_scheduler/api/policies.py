"""The API's policy rules and their defaults.

Reading the fleet's load, the plans and the burst tier takes the
``reader`` role; planning, carrying out and stopping plans take
``admin`` (keystone's default roles imply ``reader`` from ``member``
and ``member`` from ``admin``).  ``oslopolicy-sample-generator
--namespace cryptomine`` writes them out; operators override them in
``policy.yaml``.
"""

from oslo_policy import policy

READER = 'role:reader'
ADMIN = 'role:admin'
SCOPE = ['project']

HOST_LIST = 'cryptomine:host:list'
HOST_GET = 'cryptomine:host:get'
INSTANCE_GET = 'cryptomine:instance:get'
PLAN_LIST = 'cryptomine:plan:list'
PLAN_GET = 'cryptomine:plan:get'
PLAN_CREATE = 'cryptomine:plan:create'
PLAN_EXECUTE = 'cryptomine:plan:execute'
PLAN_ABORT = 'cryptomine:plan:abort'
BURST_GET = 'cryptomine:burst:get'

RULES = [
    policy.RuleDefault('reader', READER,
                       description='Reads the fleet and the plans.'),
    policy.RuleDefault('admin', ADMIN,
                       description='Plans, and moves guests.'),
    policy.DocumentedRuleDefault(
        name=HOST_LIST, check_str='rule:reader', scope_types=SCOPE,
        description="List the hosts with their load and their "
                    "collectors' counters.",
        operations=[{'path': '/v1/hosts', 'method': 'GET'}]),
    policy.DocumentedRuleDefault(
        name=HOST_GET, check_str='rule:reader', scope_types=SCOPE,
        description='Show a host: its load, instances and history, and '
                    'the history of its GPUs and miners.',
        operations=[{'path': '/v1/hosts/{host}', 'method': 'GET'},
                    {'path': '/v1/hosts/{host}/history', 'method': 'GET'},
                    {'path': '/v1/hosts/{host}/devices/history',
                     'method': 'GET'}]),
    policy.DocumentedRuleDefault(
        name=INSTANCE_GET, check_str='rule:reader', scope_types=SCOPE,
        description="Show an instance's load over time, the hosts it "
                    'ran on, the readings of the GPUs or miners it held '
                    'and the migrations the plans made of it.',
        operations=[{'path': '/v1/instances/{instance}/history',
                     'method': 'GET'},
                    {'path': '/v1/instances/{instance}/devices/history',
                     'method': 'GET'},
                    {'path': '/v1/instances/{instance}/migrations',
                     'method': 'GET'}]),
    policy.DocumentedRuleDefault(
        name=PLAN_LIST, check_str='rule:reader', scope_types=SCOPE,
        description='List the plans, newest first.',
        operations=[{'path': '/v1/plans', 'method': 'GET'}]),
    policy.DocumentedRuleDefault(
        name=PLAN_GET, check_str='rule:reader', scope_types=SCOPE,
        description='Show a plan with its actions.',
        operations=[{'path': '/v1/plans/{plan_id}', 'method': 'GET'}]),
    policy.DocumentedRuleDefault(
        name=PLAN_CREATE, check_str='rule:admin', scope_types=SCOPE,
        description='Compute and record a plan (nothing moves).',
        operations=[{'path': '/v1/plans', 'method': 'POST'}]),
    policy.DocumentedRuleDefault(
        name=PLAN_EXECUTE, check_str='rule:admin', scope_types=SCOPE,
        description='Plan and live-migrate guests now (rebalance).',
        operations=[{'path': '/v1/rebalance', 'method': 'POST'}]),
    policy.DocumentedRuleDefault(
        name=PLAN_ABORT, check_str='rule:admin', scope_types=SCOPE,
        description='Stop a running plan from starting further moves.',
        operations=[{'path': '/v1/plans/{plan_id}/abort',
                     'method': 'POST'}]),
    policy.DocumentedRuleDefault(
        name=BURST_GET, check_str='rule:reader', scope_types=SCOPE,
        description='Show the burst tier: hosts per tier, instances, '
                    'cost, hours on burst, releasable hosts.',
        operations=[{'path': '/v1/burst', 'method': 'GET'}]),
]


def list_rules():
    """The ``oslo.policy.policies`` entry point."""
    return RULES
