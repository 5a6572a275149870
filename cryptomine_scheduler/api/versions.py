"""The version documents at ``/`` and ``/v1/``, served without a
token as keystone's and nova's are."""

import webob

VERSION = 'v1'


def _version(request: webob.Request) -> dict:
    return {'id': VERSION, 'status': 'CURRENT',
            'links': [{'rel': 'self',
                       'href': f'{request.application_url}/{VERSION}/'}]}


def root(request: webob.Request) -> dict:
    return {'versions': [_version(request)]}


def current(request: webob.Request) -> dict:
    return {'version': _version(request)}
