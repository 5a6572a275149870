"""nova's placements in the database, so that a restarted controller
serves the guests still warming up (:mod:`..history.shared_placements`)."""

import dataclasses

import sqlalchemy as sa

from cryptomine_scheduler.db import models
from cryptomine_scheduler.history import placements

_TABLE = models.placement_events
#: The columns of a placement, beside the guest and the time.
_PLACEMENT = ('host', 'vcpus', 'memory_mb', 'expected_load_percent',
              'flavor', 'image', 'gpus')


def _row(event: placements.PlacementEvent) -> dict:
    row = {'instance_uuid': event.uuid, 'at': event.at}
    if event.placement is not None:
        fields = dataclasses.asdict(event.placement)
        row.update((name, fields[name]) for name in _PLACEMENT)
    return row


def _event(row) -> placements.PlacementEvent:
    if row['host'] is None:
        return placements.PlacementEvent(row['instance_uuid'], row['at'])
    return placements.PlacementEvent(
        row['instance_uuid'], row['at'], placements.Placement(
            placed_at=row['at'], **{name: row[name] for name in _PLACEMENT}))


class PlacementEventStore:
    """Every controller's placement events, oldest first."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def add(self, event: placements.PlacementEvent) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(_TABLE), [_row(event)])

    def since(self, since: float) -> list[placements.PlacementEvent]:
        """The events since ``since``, in the order they happened."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_TABLE)
                                .where(_TABLE.c.at >= since)
                                .order_by(_TABLE.c.at, _TABLE.c.id))
            return [_event(row) for row in rows.mappings()]

    def purge(self, before: float) -> int:
        """Delete the events before ``before``; return how many."""
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(_TABLE).where(
                _TABLE.c.at < before)).rowcount
