"""Every placement in every controller, after a restart too.

nova's notifications reach the controllers through one queue, so each
notification reaches one of them (:mod:`.nova_notifications`).  What it
learns there, a :class:`~.placements.PlacementEvent`, :class:`Sharing`
stores in the database (read back when a controller starts) and casts to
every controller on ``[messaging] peer_topic`` (a fanout), where
:class:`PeerEndpoint` applies it.  Without this, a snapshot would carry
only the placements of the controller that answered, and a restarted
controller none: a burst of boots would pile onto the hosts whose new
guests it did not know.
"""

import dataclasses

import oslo_messaging
from oslo_log import log as logging

from cryptomine_scheduler.db import placement_events
from cryptomine_scheduler.history import placements

LOG = logging.getLogger(__name__)
NAMESPACE = 'cryptomine_peer_placements'
VERSION = '1.0'
METHOD = 'apply_placement_event'
#: Reconnections a cast tries before it is given up: the notifications
#: of nova wait behind it.
CAST_RETRY = 3


def to_wire(event: placements.PlacementEvent) -> dict:
    return dataclasses.asdict(event)


def from_wire(wire: dict) -> placements.PlacementEvent:
    placement = wire.get('placement')
    return placements.PlacementEvent(
        str(wire['uuid']), float(wire['at']),
        None if placement is None else placements.Placement(**placement))


class Sharing:
    """Stores and casts each placement event this controller learns."""

    def __init__(self, store: placement_events.PlacementEventStore,
                 transport, topic: str, host: str):
        self._store = store
        self._host = host
        self._client = oslo_messaging.get_rpc_client(
            transport, oslo_messaging.Target(
                topic=topic, namespace=NAMESPACE, version=VERSION,
                fanout=True), retry=CAST_RETRY)

    def __call__(self, event: placements.PlacementEvent) -> None:
        """Share ``event``, the peers first (they need it now, a restart
        later); a failure is logged (the peers or a restart miss it,
        this controller serves it all the same)."""
        try:
            self._client.cast({}, METHOD, sender=self._host,
                              event=to_wire(event))
        except Exception as exc:
            LOG.warning('Could not send the placement event of %s to the '
                        'other controllers (%s)', event.uuid, exc)
        try:
            self._store.add(event)
        except Exception as exc:
            LOG.warning('Could not store the placement event of %s (%s); '
                        'a restarted controller will not know it',
                        event.uuid, exc)


class PeerEndpoint:
    """Applies the placement events the other controllers learnt."""

    target = oslo_messaging.Target(namespace=NAMESPACE, version=VERSION)

    def __init__(self, host: str, book: placements.Placements):
        self._host = host
        self._book = book

    def apply_placement_event(self, ctxt, sender, event):
        if sender == self._host:
            return
        try:
            self._book.apply(from_wire(event), 'peers')
        except Exception as exc:
            LOG.error('Dropped a placement event from controller %r that '
                      'could not be read (%s: %s)', sender,
                      exc.__class__.__name__, exc)
