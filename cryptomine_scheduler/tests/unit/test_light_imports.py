"""What nova-scheduler and a compute host import of ours.

Neither installs the ``[controller]`` or ``[simulator]`` extras of
setup.cfg, so loading the filter and the weigher, or starting the
collector, must not import what only those extras bring.  Each check
runs in a fresh interpreter, as the process would start.
"""

import json
import os
import subprocess
import sys

from oslotest import base

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
#: Not for the filter and weigher: nova-scheduler lacks these (nova itself
#: imports SQLAlchemy, which is therefore not checked here).
SCHEDULER_FORBIDDEN = ('alembic', 'openstack', 'tooz', 'prometheus_client',
                       'scipy', 'matplotlib')
#: Not for the collector: the base install lacks everything the
#: ``[controller]``, ``[simulator]`` and ``[cli]`` extras add, and it
#: needs neither eventlet (nor what eventlet imports), nor kombu's
#: optional serialisers.
COLLECTOR_FORBIDDEN = ('sqlalchemy', 'scipy', 'matplotlib', 'alembic',
                       'openstack', 'keystoneauth1', 'tooz',
                       'prometheus_client', 'cliff', 'eventlet', 'OpenSSL',
                       'cryptography', 'numpy', 'yaml', 'msgpack')
# Prints, as JSON: the forbidden packages that are imported but were not
# before (``baseline``; a None in sys.modules blocks an import), and the
# names that our modules bind to anything
# of a forbidden package.  The latter also catches an import of ours that
# nova happened to have made already.
REPORT = """
import json
import sys
import types

FORBIDDEN = set(sys.argv[1].split(','))


def _package(value):
    try:
        if isinstance(value, types.ModuleType):
            name = value.__name__
        elif isinstance(value, type) or callable(value):
            name = value.__module__
        else:
            name = type(value).__module__
    except Exception:
        return None
    return name.partition('.')[0] if isinstance(name, str) else None


def report(baseline):
    loaded = {name.partition('.')[0] for name, module
              in list(sys.modules.items())
              if module is not None and name not in baseline}
    bound = sorted(
        f'{name}.{attr} ({_package(value)})'
        for name, module in list(sys.modules.items())
        if name.partition('.')[0] in ('cryptomine_scheduler',
                                      'load_collector')
        for attr, value in list(vars(module).items())
        if _package(value) in FORBIDDEN)
    print(json.dumps({'loaded': sorted(loaded & FORBIDDEN),
                      'bound': bound}))
"""
# nova-scheduler's host manager: nova's own filters and weighers first
# (what nova imports is the baseline), then ours, by the class paths that
# doc/nova-scheduler.md sets, instantiated as the host manager does.
SCHEDULER = REPORT + """
import nova.conf
from nova.scheduler import filters
from nova.scheduler import host_manager  # noqa: F401
from nova.scheduler import weights

nova.conf.CONF([], project='nova', default_config_files=[])
filter_handler = filters.HostFilterHandler()
weight_handler = weights.HostWeightHandler()
filter_handler.get_matching_classes(['nova.scheduler.filters.all_filters'])
weight_handler.get_matching_classes(['nova.scheduler.weights.all_weighers'])
baseline = set(sys.modules)
classes = filter_handler.get_matching_classes(
    ['cryptomine_scheduler.scheduler.filter.LoadAwareFilter'])
classes += weight_handler.get_matching_classes(
    ['cryptomine_scheduler.scheduler.weigher.LoadAwareWeigher'])
assert [cls.__name__ for cls in classes] == ['LoadAwareFilter',
                                             'LoadAwareWeigher'], classes
objects = [cls() for cls in classes]
report(baseline)
"""
# The collector's command as its console script starts it, with every
# source of its default configuration built (those with nothing to read
# here are skipped, as at start).
COLLECTOR = REPORT + """
baseline = set(sys.modules)
from load_collector import launch

launch.native_threads()
from oslo_config import cfg

from load_collector import cmd

conf = cfg.ConfigOpts()
cmd.register_opts(conf)
conf([], project='cryptomine', default_config_files=[])
sources = cmd.load_sources(conf)
assert any(type(s).__name__ == 'HostSource' for s in sources), sources
report(baseline)
"""


class TestLightImports(base.BaseTestCase):

    def run_check(self, script: str, forbidden: tuple[str, ...]) -> dict:
        result = subprocess.run(
            [sys.executable, '-c', script, ','.join(forbidden)], cwd=ROOT,
            capture_output=True, text=True, timeout=300)
        self.assertEqual(0, result.returncode, result.stderr)
        return json.loads(result.stdout.splitlines()[-1])

    def test_scheduler_plugin(self):
        found = self.run_check(SCHEDULER, SCHEDULER_FORBIDDEN)
        self.assertEqual([], found['loaded'],
                         'loading the filter and weigher imported these')
        self.assertEqual([], found['bound'],
                         'the plugin holds names of these packages')

    def test_collector(self):
        found = self.run_check(COLLECTOR, COLLECTOR_FORBIDDEN)
        self.assertEqual([], found['loaded'],
                         'starting the collector imported these')
        self.assertEqual([], found['bound'],
                         'the collector holds names of these packages')

    def test_report_sees_forbidden_imports(self):
        # The check itself: a forbidden import made after the baseline,
        # and one bound by a module of ours, are both reported.
        script = REPORT + """
baseline = set(sys.modules)
import cryptomine_scheduler
import json as stand_in
cryptomine_scheduler.stand_in = stand_in
report(baseline)
"""
        self.assertEqual(
            {'loaded': [], 'bound': ['cryptomine_scheduler.stand_in (json)']},
            self.run_check(script, ('json',)))
        found = self.run_check(REPORT + """
baseline = set(sys.modules)
import fractions
report(baseline)
""", ('fractions',))
        self.assertEqual(['fractions'], found['loaded'])
        blocked = self.run_check(REPORT + """
baseline = set(sys.modules)
sys.modules['fractions'] = None
report(baseline)
""", ('fractions',))
        self.assertEqual([], blocked['loaded'])
