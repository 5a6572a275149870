"""Helpers shared by the benchmark scripts of this directory.

Kept light on purpose: ``collector_cost.py`` measures the memory of a
process that imports this module, so nothing heavier than what the
collector itself imports belongs here.
"""

import collections
import contextlib
import cProfile
import io
import logging
import os
import pstats
import re
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from collections.abc import Mapping

# oslo.service warns about eventlet when oslo.messaging is imported; the
# warning says nothing about the figures, so keep it out of the report.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')

import psutil  # noqa: E402
from oslo_config import cfg  # noqa: E402

from cryptomine_scheduler import conf as cm_conf  # noqa: E402
from load_collector import cmd as collector_cmd  # noqa: E402

# Long enough for validation_policy and build_collector (16+ characters).
SECRET = 'benchmark-master-secret-0123456789'
MIB = 1024 * 1024


def build_conf(overrides: Mapping[str, Mapping[str, object]] = (),
               controller: bool = False) -> cfg.ConfigOpts:
    """Return the collector's options (and the controller's too, with
    ``controller``), as a deployment reads them.

    ``overrides`` maps a group name (``DEFAULT`` for the default group) to
    the option values to set in it.  ``[messaging] master_secret`` is
    :data:`SECRET` unless overridden.
    """
    conf = cfg.ConfigOpts()
    collector_cmd.register_opts(conf)
    if controller:
        cm_conf.register_opts(conf)
    conf([], project='cryptomine', prog='cryptomine-benchmark',
         default_config_files=[], default_config_dirs=[])
    conf.set_override('master_secret', SECRET, 'messaging')
    for group, values in dict(overrides).items():
        for name, value in values.items():
            conf.set_override(name, value,
                              None if group == 'DEFAULT' else group)
    return conf


def quiet_logging() -> None:
    """Show warnings and errors of the libraries, nothing chattier.

    Standard output is made line-buffered, so that printed figures and
    logged warnings appear in the order they happened.
    """
    sys.stdout.reconfigure(line_buffering=True)
    logging.basicConfig(level=logging.WARNING,
                        format='%(levelname)s %(name)s: %(message)s')


def rss_mb() -> float:
    """Resident set size of this process, in MiB."""
    return psutil.Process().memory_info().rss / MIB


def _thread_group(name: str) -> str:
    """``Thread-12 (_runner)`` -> ``Thread-N (_runner)``."""
    return re.sub(r'\d+', 'N', name)


def cpu_by_thread() -> dict[str, float]:
    """CPU seconds used so far by this process's live threads, by name.

    Numbered threads of one kind (``Thread-3``, ``Thread-7``) are summed
    under one name.  Threads not started by Python are ``(native)``.
    """
    names = {t.native_id: t.name for t in threading.enumerate()}
    totals: collections.Counter = collections.Counter()
    for thread in psutil.Process().threads():
        name = names.get(thread.id, '(native)')
        totals[_thread_group(name)] += thread.user_time + thread.system_time
    return dict(totals)


def heading(title: str) -> None:
    print(f'\n== {title}')


def describe_machine() -> None:
    """Print what the figures depend on: CPUs and the load besides us."""
    averages = os.getloadavg()
    load = ', '.join(f'{v:.2f}' for v in averages)
    print(f'{os.cpu_count()} CPUs, load average {load} before the run')
    if averages[0] >= 1.0:
        print('note: other processes keep the CPUs busy; timings will be '
              'slower than on an idle machine')


def check(label: str, value: float, target: float, unit: str,
          higher_is_better: bool) -> bool:
    """Print one PASS/FAIL line comparing ``value`` with ``target``."""
    ok = value >= target if higher_is_better else value <= target
    sign = '>=' if higher_is_better else '<='
    print(f'{"PASS" if ok else "FAIL"}  {label}: {value:,.2f} {unit} '
          f'(target {sign} {target:,g} {unit})')
    return ok


def verdict(results: list[bool]) -> int:
    """Print the overall verdict; return the exit status of the script."""
    passed = all(results)
    if not results:
        print('\nNo target checked.')
    else:
        print(f'\nOverall: {"PASS" if passed else "FAIL"} '
              f'({sum(results)}/{len(results)} targets met)')
    return 0 if passed else 1


@contextlib.contextmanager
def stopwatch() -> Iterator[dict]:
    """Measure wall and CPU seconds of the block into the yielded dict."""
    times: dict = {}
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield times
    finally:
        times['wall'] = time.perf_counter() - wall
        times['cpu'] = time.process_time() - cpu


class _Profiles:
    """One cProfile profiler per thread, timing CPU rather than wall time.

    ``cProfile`` sees only the thread that enabled it, and the controller
    does its work in threads of oslo.messaging's executor; this hooks
    every thread started while profiling so that its calls count too.
    Each profiler reads its own thread's CPU clock, so that time spent
    blocked (on a lock, a socket, the GIL) does not hide where the CPU
    goes.
    """

    def __init__(self):
        self._profiles: list[tuple[str, cProfile.Profile]] = []
        self._lock = threading.Lock()

    def _start(self) -> None:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self._profiles.append((threading.current_thread().name,
                                   profile))
        profile.enable()

    def _start_in_new_thread(self, frame, event, arg) -> None:
        sys.setprofile(None)
        self._start()

    def __enter__(self) -> '_Profiles':
        threading.setprofile(self._start_in_new_thread)
        self._start()
        return self

    def __exit__(self, *exc_info) -> None:
        threading.setprofile(None)
        with self._lock:
            for _, profile in self._profiles:
                profile.disable()

    def stats(self) -> pstats.Stats:
        """All threads' calls together."""
        stats = pstats.Stats(stream=io.StringIO())
        for _, profile in self._profiles:
            stats.add(profile)
        return stats

    def cpu_by_thread(self) -> dict[str, float]:
        """CPU seconds per thread name, numbered threads grouped."""
        totals: collections.Counter = collections.Counter()
        for name, profile in self._profiles:
            profile.create_stats()
            totals[_thread_group(name)] += sum(tt for _, _, tt, _, _
                                 in profile.stats.values())
        return dict(totals)


@contextlib.contextmanager
def profiled(enabled: bool, title: str, limit: int = 30) -> Iterator[None]:
    """Profile the block's CPU time, and the threads it starts; print it.

    Does nothing when ``enabled`` is false, so that the figures of a
    normal run carry no profiling overhead.
    """
    if not enabled:
        yield
        return
    with _Profiles() as profiles:
        yield
    print(f'\n-- CPU profile of {title}; CPU seconds by thread:')
    for name, seconds in sorted(profiles.cpu_by_thread().items(),
                                key=lambda item: -item[1]):
        print(f'   {seconds:8.3f}  {name}')
    stats = profiles.stats()
    for order in ('cumulative', 'tottime'):
        stats.stream = out = io.StringIO()
        stats.sort_stats(order).print_stats(limit)
        print(f'\n-- CPU profile of {title}, by {order}\n{out.getvalue()}')
