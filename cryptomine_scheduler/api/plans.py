"""``/v1/plans`` and ``/v1/rebalance``: re-plans on the controller."""

from cryptomine_scheduler.api import errors
from cryptomine_scheduler.api import policies
from cryptomine_scheduler.api import request as request_mod

#: The most plans one listing returns.
MAX_LIMIT = 1000

_SCOPE = {
    'max_moves': {'type': ['integer', 'null'], 'minimum': 0},
    'aggregate': {'type': ['string', 'null'], 'minLength': 1,
                  'maxLength': 255},
    'drain': {'type': ['string', 'null'], 'minLength': 1, 'maxLength': 255},
    'cold': {'type': 'boolean'},
}
CREATE = {'type': 'object', 'additionalProperties': False,
          'properties': {'dry_run': {'type': 'boolean'}, **_SCOPE}}
REBALANCE = {'type': 'object', 'additionalProperties': False,
             'properties': {**_SCOPE, 'keep_enabled': {'type': 'boolean'}}}
#: What only a drain takes, and what a request without one is told.
_DRAIN_ONLY = {'cold': 'cold moves are for a drain only',
               'keep_enabled': 'keep_enabled is for a drain only'}


def _scope(body: dict) -> dict:
    """The round's scope in a request's ``body``; ``cold`` and
    ``keep_enabled`` only with ``drain``."""
    for key, refusal in _DRAIN_ONLY.items():
        if body.get(key) and not body.get('drain'):
            raise errors.BadRequest(f'{refusal}: give drain too')
    scope = {key: body.get(key) for key in ('max_moves', 'aggregate',
                                            'drain')}
    return {**scope, 'cold': bool(body.get('cold'))}


def list_plans(req: request_mod.ApiRequest) -> dict:
    """``?limit=N`` newest first (default 20)."""
    req.authorize(policies.PLAN_LIST)
    limit = req.param('limit', int, 20)
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.BadRequest(f'limit must be 1 to {MAX_LIMIT}')
    return {'plans': req.controller.list_plans(limit)}


def show_plan(req: request_mod.ApiRequest, plan_id: str) -> dict:
    req.authorize(policies.PLAN_GET)
    return {'plan': req.controller.get_plan(plan_id)}


def create_plan(req: request_mod.ApiRequest) -> tuple[int, dict]:
    """Plan now and record it; nothing moves."""
    req.authorize(policies.PLAN_CREATE)
    body = req.body(CREATE)
    plan = req.controller.create_plan(
        dry_run=body.get('dry_run', False), execute=False, **_scope(body))
    return 201, {'plan': plan}


def rebalance(req: request_mod.ApiRequest) -> tuple[int, dict]:
    """Plan and carry out now: the moves run in the background (poll
    the plan)."""
    req.authorize(policies.PLAN_EXECUTE)
    body = req.body(REBALANCE)
    scope = _scope(body)
    plan = req.controller.create_plan(
        dry_run=False, execute=True,
        disable=bool(scope['drain']) and not body.get('keep_enabled'),
        **scope)
    return 202, {'plan': plan}


def abort_plan(req: request_mod.ApiRequest, plan_id: str) -> dict:
    req.authorize(policies.PLAN_ABORT)
    return {'plan': req.controller.abort_plan(plan_id)}

