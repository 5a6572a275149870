"""Learns placements from nova's versioned notifications.

nova-compute announces every guest it starts building
(``instance.create.start``, from the host nova's scheduler chose) and
every failed build and deletion (``instance.create.error``,
``instance.delete.start``/``end``).  The listener keeps
:class:`~cryptomine_scheduler.history.placements.Placements` from them; other
events are filtered out, and a payload it cannot read is skipped with a
warning.  Each event is dated by the notification's timestamp, the time
nova sent it.

nova sends versioned notifications only with ``[notifications]
notification_format = versioned`` (or ``both``), to each topic of
``versioned_notifications_topics``: give the controller a topic of its
own there (``[nova_notifications] topic``) so that other consumers keep
theirs.
"""

import datetime

import oslo_messaging
from oslo_config import cfg
from oslo_log import log as logging

from cryptomine_scheduler.history import placements as placements_mod
from cryptomine_scheduler.placement import flavor_devices
from cryptomine_scheduler.placement import scoring
from cryptomine_scheduler.telemetry import validation

LOG = logging.getLogger(__name__)

EVENTS = r'^instance\.(create\.(start|error)|delete\.(start|end))$'


def _data(payload, name: str) -> dict:
    """The fields of a serialised nova object named ``name``."""
    if (payload.__class__ is not dict
            or payload.get('nova_object.name') != name
            or payload.get('nova_object.data').__class__ is not dict):
        raise ValueError(f'not a {name}')
    return payload['nova_object.data']


def _expected_load(extra_specs) -> float | None:
    """The flavor's expected load in %, None when absent or unreadable."""
    if extra_specs.__class__ is not dict:
        return None
    try:
        percent = float(extra_specs[placements_mod.EXPECTED_LOAD_SPEC])
    except (KeyError, TypeError, ValueError):
        return None
    return min(max(percent, 0.0), 100.0) if percent == percent else None


def _gpus(extra_specs) -> int:
    """How many GPUs a guest of the flavor holds: 0 unless it asks for
    them (``cryptomine:accelerator``), 1 where their count cannot be
    read (a guest placed all the same holds one at least)."""
    if extra_specs.__class__ is not dict:
        return 0
    value = extra_specs.get(scoring.ACCELERATOR_KEY)
    if not (value.__class__ is str
            and value.strip().lower() == scoring.Accelerator.GPU.value):
        return 0
    try:
        return flavor_devices.count(extra_specs, scoring.Accelerator.GPU)
    except ValueError:
        return 1


def _text(value) -> str | None:
    """A short identifier, None when absent or not one."""
    return value if validation.is_text(value, 255) and value else None


def _sent_at(metadata) -> float | None:
    """When nova sent the notification (oslo.messaging's ``timestamp``,
    in UTC), None when absent or unreadable."""
    try:
        sent = datetime.datetime.fromisoformat(metadata['timestamp'])
    except (KeyError, TypeError, ValueError):
        return None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=datetime.timezone.utc)
    return sent.timestamp()


class InstanceEndpoint:
    """Feeds :class:`Placements` from instance notifications."""

    filter_rule = oslo_messaging.NotificationFilter(event_type=EVENTS)

    def __init__(self, placements: placements_mod.Placements):
        self._placements = placements

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        try:
            instance = _data(payload, 'InstanceCreatePayload'
                             if event_type.startswith('instance.create')
                             else 'InstanceActionPayload')
            uuid = instance['uuid']
            at = _sent_at(metadata)
            if event_type == 'instance.create.start':
                flavor = _data(instance['flavor'], 'FlavorPayload')
                host = instance.get('host') or publisher_id.split(':', 1)[1]
                self._placements.placed(
                    str(uuid), str(host), int(flavor['vcpus']),
                    int(flavor['memory_mb']),
                    _expected_load(flavor.get('extra_specs')),
                    _text(flavor.get('flavorid')),
                    _text(instance.get('image_uuid')),
                    _gpus(flavor.get('extra_specs')), at)
            else:
                self._placements.gone(str(uuid), at)
        except (KeyError, IndexError, TypeError, ValueError,
                AttributeError) as exc:
            self._placements.unreadable()
            LOG.warning('Skipped a %s notification from %s: %s', event_type,
                        publisher_id, exc)
        return oslo_messaging.NotificationResult.HANDLED

    #: A failed build (``instance.create.error``) comes at ERROR.
    error = info


def listener(conf: cfg.ConfigOpts, transport,
             placements: placements_mod.Placements):
    """A listener of nova's notifications on ``[nova_notifications]
    topic`` in ``exchange``, feeding ``placements``."""
    group = conf.nova_notifications
    target = oslo_messaging.Target(topic=group.topic,
                                   exchange=group.exchange)
    return oslo_messaging.get_notification_listener(
        transport, [target], [InstanceEndpoint(placements)],
        executor='threading', allow_requeue=False)
