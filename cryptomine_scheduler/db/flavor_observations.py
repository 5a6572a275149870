"""What warm guests of each flavor used, in the database, so that a
restarted controller keeps the loads it learnt
(:mod:`..history.flavor_loads`)."""

import dataclasses
from collections.abc import Sequence

import sqlalchemy as sa

from cryptomine_scheduler.db import models
from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.history import flavor_loads

_TABLE = models.flavor_observations


class FlavorObservationStore:
    """The observations of every controller, one per guest."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def add(self, observations: Sequence[flavor_loads.Observation]) -> None:
        """Store ``observations``; a guest another controller noted
        already keeps the first note."""
        if not observations:
            return
        with self.engine.begin() as conn:
            conn.execute(
                store_mod.insert_ignoring_duplicates(self.engine, _TABLE),
                [dataclasses.asdict(o) for o in observations])

    def since(self, since: float) -> list[flavor_loads.Observation]:
        """The observations made since ``since``, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_TABLE)
                                .where(_TABLE.c.observed_at >= since)
                                .order_by(_TABLE.c.observed_at)).mappings()
            return [flavor_loads.Observation(**row) for row in rows]

    def purge(self, before: float) -> int:
        """Delete the observations made before ``before``; return how
        many."""
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(_TABLE).where(
                _TABLE.c.observed_at < before)).rowcount
