"""A batch mixing stored and new samples: only the new ones are added,
with their instances, GPUs and miners, and the others counted."""

import sqlalchemy as sa

from cryptomine_scheduler.db import models
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests.unit import test_store

T0 = test_store.T0


class TestPartlyStoredBatch(test_store.StoreTestCase):

    def _rows(self, table: sa.Table) -> list[tuple]:
        with self.store.engine.connect() as conn:
            return conn.execute(sa.select(table.c.seq)
                                .order_by(table.c.seq)).all()

    def test_only_new_samples_and_their_parts_are_stored(self):
        parts = {'instances': [samples.instance(1)], 'gpus': [samples.gpu()],
                 'asics': [samples.asic()]}
        old = samples.make(seq=1, timestamp=T0, **parts)
        self.store.add_samples([old], T0)
        replayed = samples.make(seq=1, timestamp=T0, cpu=99.0, **parts)
        new = [samples.make(seq=seq, timestamp=T0 + seq, **parts)
               for seq in (2, 3)]
        result = self.store.add_samples([new[0], replayed, new[1]], T0)
        self.assertEqual(tuple(new), result.stored)
        self.assertEqual(1, result.duplicates)
        for table in (models.host_samples, models.instance_samples,
                      models.gpu_samples, models.asic_samples):
            self.assertEqual([(1,), (2,), (3,)], self._rows(table))
        self.assertEqual([s.host_load for s in (old, *new)],
                         [s.host_load for s in
                          self.store.summary_samples(T0 + 3, 600)])

    def test_a_batch_of_stored_samples_adds_nothing(self):
        batch = [samples.make(seq=seq, timestamp=T0 + seq,
                              instances=[samples.instance(seq)])
                 for seq in (1, 2)]
        self.store.add_samples(batch, T0)
        result = self.store.add_samples(batch, T0)
        self.assertEqual((), result.stored)
        self.assertEqual(2, result.duplicates)
        self.assertEqual([(1,), (2,)], self._rows(models.instance_samples))

    def test_new_samples_after_a_replayed_batch_are_all_stored(self):
        first = [samples.make(seq=seq, timestamp=T0 + seq) for seq in (1, 2)]
        self.store.add_samples(first, T0)
        self.assertEqual(2, self.store.add_samples(first, T0).duplicates)
        for seq in (3, 4):
            batch = [samples.make(seq=seq, timestamp=T0 + seq)]
            self.assertEqual(tuple(batch),
                             self.store.add_samples(batch, T0).stored)
        self.assertEqual({'compute-1': [1, 2, 3, 4]},
                         self.store.stored_seqs())
