"""A request as the API's handlers see it: who asks (the context that
keystonemiddleware's headers describe), the policy that decides, the
controller, and the request's parameters and body, checked."""

import enum
import json
import math
from typing import TypeVar

import jsonschema
import webob
from oslo_context import context as context_mod
from oslo_policy import policy

from cryptomine_scheduler.api import controller as controller_mod
from cryptomine_scheduler.api import errors

_KINDS = {int: 'an integer', float: 'a number', str: 'a string'}
E = TypeVar('E', bound=enum.Enum)


class ApiRequest:

    def __init__(self, request: webob.Request,
                 context: context_mod.RequestContext,
                 enforcer: policy.Enforcer,
                 controller: controller_mod.Controller):
        self.webob = request
        self.context = context
        self.controller = controller
        self._enforcer = enforcer

    def authorize(self, rule: str) -> None:
        """Raise Forbidden unless the policy grants ``rule``."""
        try:
            self._enforcer.authorize(
                rule, {'project_id': self.context.project_id},
                self.context, do_raise=True)
        except policy.PolicyNotAuthorized:
            raise errors.Forbidden(
                f'policy does not allow {rule} to be performed') from None
        except policy.InvalidScope:
            raise errors.Forbidden(
                f'{rule} needs a project-scoped token') from None

    def param(self, name: str, kind: type, default):
        """The query parameter ``name`` as a finite ``kind``, or
        ``default`` when absent."""
        value = self.webob.GET.get(name)
        if value is None:
            return default
        try:
            found = kind(value)
        except ValueError:
            found = None
        if found is None or (kind is float and not math.isfinite(found)):
            raise errors.BadRequest(f'{name} {value!r} is not '
                                    f'{_KINDS[kind]}')
        return found

    def metric(self, metrics: type[E], default: E) -> E:
        """The ``metric`` query parameter, one of ``metrics``, or
        ``default`` when absent."""
        name = self.param('metric', str, default.value)
        try:
            return metrics(name)
        except ValueError:
            raise errors.BadRequest(
                f'unknown metric {name!r}; one of '
                f'{", ".join(m.value for m in metrics)}') from None

    def body(self, schema: dict) -> dict:
        """The JSON body, valid against ``schema``; an empty body is
        ``{}``."""
        raw = self.webob.body
        try:
            found = json.loads(raw) if raw else {}
        except ValueError as error:
            raise errors.BadRequest(f'body is not JSON: {error}') from None
        try:
            jsonschema.validate(found, schema)
        except jsonschema.ValidationError as error:
            where = '/'.join(map(str, error.absolute_path))
            raise errors.BadRequest(
                f'invalid body{f" at {where}" if where else ""}: '
                f'{error.message}') from None
        return found
