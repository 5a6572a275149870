"""The controller's load snapshot: build time and size as the fleet grows.

nova-scheduler waits for a snapshot at most ``[cryptomine] rpc_timeout``
(2 s) after a restart, and every ``snapshot_ttl`` in the background, so a
snapshot of the whole fleet must be built (and serialised for the wire)
well within that.  The tracker holds ``--samples`` samples per host of
``--instances`` guests each, running for an hour, and one guest started
a minute ago on every 25th host.  nova's snapshot (every host, and the
guests started within its ``pending_boot_timeout``) is timed twice: the
first one summarises every series, the next one only those that changed
since (one new sample on 10 % of the hosts, what a few seconds of ingest
bring).  The full snapshot with every guest, which the re-planner and the
command line read, is timed too, without a target.  The 1,000-host fleet
of the same run is the baseline: time per host should not grow with the
fleet.

    python benchmarks/snapshot_build.py [--hosts 10000] [--instances 40]
"""

import argparse
import json
import time

# isort: off
# The test helpers put nova in native-thread mode, which has to happen
# before anything imports eventlet (oslo.messaging does, through _common).
from cryptomine_scheduler.tests import samples
# isort: on

import _common

from cryptomine_scheduler.history import snapshot

TARGET_SECONDS = 1.0
WINDOW, HALF_LIFE = 600.0, 60.0
INTERVAL = 10.0
PENDING_BOOT_TIMEOUT = 300.0  # nova's default [cryptomine] option
NEW_GUEST_EVERY = 25  # hosts


def filled_tracker(hosts: int, instances: int, count: int,
                   now: float) -> snapshot.LoadTracker:
    """A tracker holding ``count`` recent samples of every host."""
    tracker = snapshot.LoadTracker(WINDOW, HALF_LIFE)
    for host in range(hosts):
        guests = [samples.instance(host * (instances + 1) + n,
                                   cpu=float(n % 90))
                  for n in range(instances)]
        name = f'compute-{host}'
        tracker.add(samples.make(host=name, seq=0, timestamp=now - 3600.0,
                                 instances=guests))
        if host % NEW_GUEST_EVERY == 0:
            guests.append(samples.instance(host * (instances + 1)
                                           + instances, cpu=90.0))
        for k in range(count):
            tracker.add(samples.make(
                host=name, seq=k + 1,
                timestamp=now - INTERVAL * (count - k),
                cpu=float((host + k) % 100), instances=guests))
    return tracker


def timed_snapshot(tracker: snapshot.LoadTracker, now: float,
                   instances_since: float | None = PENDING_BOOT_TIMEOUT
                   ) -> tuple[float, int]:
    """Seconds to build the snapshot and write it as JSON; its size."""
    started = time.perf_counter()
    wire = json.dumps(tracker.snapshot(now, instances_since))
    return time.perf_counter() - started, len(wire)


def measure(hosts: int, instances: int, count: int) -> tuple[float, float]:
    """Print and return (first, next) snapshot seconds for one fleet."""
    now = time.time()
    with _common.stopwatch() as filling:
        tracker = filled_tracker(hosts, instances, count, now)
    first, size = timed_snapshot(tracker, now)
    for host in range(0, hosts, 10):
        tracker.add(samples.make(host=f'compute-{host}', seq=count,
                                 timestamp=now, cpu=50.0))
    following, _ = timed_snapshot(tracker, now + 1.0)
    full, full_size = timed_snapshot(tracker, now + 2.0, None)
    print(f'  {hosts:,} hosts x {instances} instances, {count} samples '
          f'each (filled in {filling["wall"]:.1f} s): first snapshot '
          f'{first:.3f} s, next {following:.3f} s, {size / 2**20:.1f} MiB '
          f'as JSON ({1e6 * first / hosts:.1f} us a host); with every '
          f'guest {full:.2f} s, {full_size / 2**20:.1f} MiB')
    return first, following


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hosts', type=int, default=10000)
    parser.add_argument('--instances', type=int, default=40)
    parser.add_argument('--samples', type=int, default=3)
    args = parser.parse_args()
    _common.quiet_logging()
    _common.describe_machine()
    _common.heading('load snapshot build')
    base_first, _ = measure(1000, args.instances, args.samples)
    first, following = measure(args.hosts, args.instances, args.samples)
    per_host = (first / args.hosts) / (base_first / 1000)
    print(f'  time per host against the 1,000-host baseline: x{per_host:.2f}')
    return _common.verdict([
        _common.check(f'first snapshot, {args.hosts:,} hosts', first,
                      TARGET_SECONDS, 's', higher_is_better=False),
        _common.check(f'next snapshot, {args.hosts:,} hosts', following,
                      TARGET_SECONDS, 's', higher_is_better=False)])


if __name__ == '__main__':
    raise SystemExit(main())
