"""The SQLite history is its owner's alone: the database file, and the
WAL and shared-memory files SQLite makes beside it, are 0600 whatever
the umask."""

import os

import fixtures
from oslotest import base

from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.tests import samples


class TestPrivateDatabase(base.BaseTestCase):

    def test_created_0600(self):
        self.addCleanup(os.umask, os.umask(0o022))
        path = self.useFixture(fixtures.TempDir()).join('cryptomine.sqlite')
        store = store_mod.HistoryStore.open(f'sqlite:///{path}')
        self.addCleanup(store.close)
        sample = samples.make()
        store.add_samples([sample], sample.timestamp)
        made = [p for p in (path, f'{path}-wal', f'{path}-shm')
                if os.path.exists(p)]
        self.assertIn(f'{path}-wal', made)
        self.assertEqual({p: 0o600 for p in made},
                         {p: os.stat(p).st_mode & 0o777 for p in made})
