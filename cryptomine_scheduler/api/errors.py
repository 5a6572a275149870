"""Errors as the API answers them: a status and a JSON body
``{"error": {"code": ..., "title": ..., "message": ...}}``."""

import json

import webob
from webob import exc


class ApiError(Exception):
    """An answer other than success; ``code`` is the HTTP status."""

    code = 500


class BadRequest(ApiError):
    code = 400


class Forbidden(ApiError):
    code = 403


class NotFound(ApiError):
    code = 404


class MethodNotAllowed(ApiError):
    code = 405


class Conflict(ApiError):
    """Another re-plan round runs, or the plan runs on no controller
    that could stop it."""

    code = 409


class Unavailable(ApiError):
    """The controller cannot plan (no nova API, or nova failed), or is
    older than the call."""

    code = 503


class GatewayTimeout(ApiError):
    """No controller answered over the message bus."""

    code = 504


def response(code: int, message: str) -> webob.Response:
    title = exc.status_map[code].title
    return webob.Response(
        status=code, content_type='application/json', charset='utf-8',
        body=json.dumps({'error': {'code': code, 'title': title,
                                   'message': message}}).encode())
