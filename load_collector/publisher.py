"""Publishes signed samples as oslo.messaging notifications.

``oslo_messaging.Notifier`` logs and swallows every delivery error, so a
caller never learns that a sample was lost.  The collector must know, to
keep the sample buffered, so this publisher builds the same notification
message as the notifier's ``messaging`` driver and hands it to the
transport directly, letting delivery errors through.
"""

import uuid

import oslo_messaging
from oslo_utils import timeutils

from cryptomine_scheduler.telemetry import sample


class PublishError(Exception):
    """The message bus did not accept the sample."""


class SamplePublisher:
    """Sends payloads to ``<topic>.info`` with bounded connection retries."""

    def __init__(self, transport, topic: str, publisher_id: str,
                 retry: int):
        self._transport = transport
        self._target = oslo_messaging.Target(topic=f'{topic}.info')
        self._publisher_id = publisher_id
        self._retry = retry

    def publish(self, payload: dict) -> None:
        message = {
            'message_id': str(uuid.uuid4()),
            'publisher_id': self._publisher_id,
            'event_type': sample.EVENT_TYPE,
            'priority': 'INFO',
            'payload': payload,
            'timestamp': str(timeutils.utcnow()),
        }
        try:
            self._transport._send_notification(
                self._target, {}, message, version=2.0, retry=self._retry)
        except Exception as exc:
            raise PublishError(str(exc)) from exc
