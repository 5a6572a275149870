"""``cryptomine-manage db`` and a controller that may not upgrade."""

import contextlib
import io
import subprocess
import sys

import fixtures
import sqlalchemy as sa
from oslotest import base

from cryptomine_scheduler.cmd import manage
from cryptomine_scheduler.db import store as store_mod

NEWEST = store_mod.newest_revision()


class TestDbCommands(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.url = self.database_url()
        self.conf_file = f'{self.dir}/cryptomine.conf'
        with open(self.conf_file, 'w') as conf:
            conf.write(f'[database]\nconnection = {self.url}\n'
                       f'auto_upgrade = false\n'
                       f'[messaging]\nmaster_secret = {"s" * 16}\n')

    def database_url(self) -> str:
        return f'sqlite:///{self.dir}/history.sqlite'

    def manage(self, *args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = manage.main(['--config-file', self.conf_file, 'db',
                                *args])
        return code, out.getvalue(), err.getvalue()

    def revision(self) -> str | None:
        engine = store_mod.create_engine(self.url)
        self.addCleanup(engine.dispose)
        return store_mod.schema_revision(engine)

    def test_version_of_a_new_database_then_sync(self):
        code, out, err = self.manage('version')
        self.assertEqual((1, 'none\n'), (code, out))
        self.assertIn(f'has no schema yet, this release needs {NEWEST}: '
                      f'run "cryptomine-manage db sync"', err)
        self.assertEqual((0, f'database schema at revision {NEWEST}\n', ''),
                         self.manage('sync'))
        self.assertEqual((0, f'{NEWEST}\n', ''), self.manage('version'))
        self.assertEqual(NEWEST, self.revision())

    def test_sync_to_a_revision_then_on(self):
        code, out, _ = self.manage('sync', '--revision', '0003')
        self.assertEqual((0, 'database schema at revision 0003\n'),
                         (code, out))
        code, out, err = self.manage('version')
        self.assertEqual((1, '0003\n'), (code, out))
        self.assertIn(f'at revision 0003, this release needs {NEWEST}',
                      err)
        self.assertEqual(0, self.manage('sync')[0])
        self.assertEqual(NEWEST, self.revision())

    def test_unknown_revision_named_and_nothing_done(self):
        code, _, err = self.manage('sync', '--revision', 'nope')
        self.assertEqual(1, code)
        self.assertIn("'nope'", err)
        self.assertIsNone(self.revision())

    def test_schema_of_a_newer_release_left_alone(self):
        self.manage('sync')
        engine = store_mod.create_engine(self.url)
        self.addCleanup(engine.dispose)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version "
                                 "SET version_num = '0999'"))
        for args in (('sync',), ('version',)):
            code, _, err = self.manage(*args)
            self.assertEqual(1, code)
            self.assertIn(f'at revision 0999, which this release does not '
                          f'know (it uses {NEWEST}): a newer release '
                          f'upgraded it', err)
        self.assertEqual('0999', self.revision())
        self.assertRaises(store_mod.SchemaMismatch,
                          store_mod.HistoryStore.open, self.url)

    def test_database_that_cannot_be_opened(self):
        for url, why in (
                (f'sqlite:///{self.dir}/missing/history.sqlite',
                 '[Errno 2] No such file or directory'),
                # A port nobody listens on.
                ('postgresql+psycopg://nobody@127.0.0.1:1/none',
                 '(psycopg.OperationalError) connection failed')):
            with open(self.conf_file, 'w') as conf:
                conf.write(f'[database]\nconnection = {url}\n')
            for args in (('sync',), ('version',)):
                code, out, err = self.manage(*args)
                self.assertEqual((1, ''), (code, out))
                self.assertIn(f'cannot use the database ([database] '
                              f'connection): {why}', err)

    def test_controller_refuses_an_old_schema_without_auto_upgrade(self):
        self.manage('sync', '--revision', '0005')
        started = subprocess.run(
            [sys.executable, '-m', 'cryptomine_scheduler.cmd.controller',
             '--config-file', self.conf_file],
            capture_output=True, text=True, timeout=120)
        self.assertEqual(2, started.returncode, started.stdout)
        self.assertIn(f'Cannot start: the database schema is at revision '
                      f'0005, this release needs {NEWEST}',
                      started.stdout + started.stderr)
        self.assertEqual('0005', self.revision())
        store_mod.HistoryStore.open(self.url).close()
        self.assertEqual(NEWEST, self.revision())
        store_mod.HistoryStore.open(self.url, auto_upgrade=False).close()
