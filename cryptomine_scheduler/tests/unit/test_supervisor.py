"""supervisor.run_alone: one worker in the daemon's own process."""

import signal
import subprocess
import sys
import textwrap

from oslotest import base

#: Generous: the suite shares two cores with other jobs.
TIMEOUT = 60

# A daemon whose worker prints what is asked of it.  With the argument
# "quit" its run() returns at once, with "fail" it raises.
DAEMON = textwrap.dedent('''
    import sys
    import threading

    from cotyledon import oslo_config_glue
    from oslo_config import cfg

    from cryptomine_scheduler.control import supervisor

    class Probe(supervisor.ReloadingService):
        name = 'probe'

        def __init__(self, worker_id, conf):
            super().__init__(worker_id, conf)
            self.stopped = threading.Event()

        def run(self):
            print('running', flush=True)
            if sys.argv[1] == 'fail':
                raise RuntimeError('no bus')
            if sys.argv[1] != 'quit':
                self.stopped.wait()

        def reload(self):
            super().reload()
            print('reloaded', flush=True)

        def terminate(self):
            print('terminating', flush=True)
            self.stopped.set()

    conf = cfg.ConfigOpts()
    oslo_config_glue.register_opts(conf)
    conf([], default_config_files=[], default_config_dirs=[])
    supervisor.run_alone(conf, Probe)
    print('returned', flush=True)
''')


class TestRunAlone(base.BaseTestCase):

    def start(self, mode: str = 'serve') -> subprocess.Popen:
        daemon = subprocess.Popen(
            [sys.executable, '-c', DAEMON, mode], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.addCleanup(daemon.kill)
        self.addCleanup(daemon.stdout.close)
        self.addCleanup(daemon.stderr.close)
        self.assertEqual('running\n', daemon.stdout.readline())
        return daemon

    def test_sighup_reloads_and_sigterm_drains(self):
        daemon = self.start()
        daemon.send_signal(signal.SIGHUP)
        self.assertEqual('reloaded\n', daemon.stdout.readline())
        daemon.send_signal(signal.SIGTERM)
        self.assertEqual(0, daemon.wait(TIMEOUT))
        self.assertEqual('terminating\nreturned\n', daemon.stdout.read())

    def test_sigint_drains_too(self):
        daemon = self.start()
        daemon.send_signal(signal.SIGINT)
        self.assertEqual(0, daemon.wait(TIMEOUT))
        self.assertEqual('terminating\nreturned\n', daemon.stdout.read())

    def test_worker_that_stops_on_its_own_fails_the_daemon(self):
        daemon = self.start('quit')
        self.assertEqual(1, daemon.wait(TIMEOUT))
        self.assertEqual('', daemon.stdout.read())
        self.assertIn('probe worker stopped on its own; exiting',
                      daemon.stderr.read())

    def test_worker_that_fails_is_logged_and_fails_the_daemon(self):
        daemon = self.start('fail')
        self.assertEqual(1, daemon.wait(TIMEOUT))
        errors = daemon.stderr.read()
        self.assertIn('probe worker failed', errors)
        self.assertIn('RuntimeError: no bus', errors)
        self.assertIn('probe worker stopped on its own; exiting', errors)
