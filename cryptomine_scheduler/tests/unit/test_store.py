import dataclasses
import os
import sqlite3

import fixtures
import sqlalchemy as sa
from alembic import autogenerate
from alembic import migration
from oslotest import base

from cryptomine_scheduler.db import flavor_observations
from cryptomine_scheduler.db import models
from cryptomine_scheduler.db import placement_events
from cryptomine_scheduler.db import plans
from cryptomine_scheduler.db import store as store_mod
from cryptomine_scheduler.history import flavor_loads
from cryptomine_scheduler.history import placements
from cryptomine_scheduler.planning import heuristic
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests import samples

T0 = 1_800_000_000.0  # a bucket boundary (divisible by 300)


class StoreTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.url = self.database_url()
        self.store = store_mod.HistoryStore.open(self.url)
        self.addCleanup(self.store.close)

    def database_url(self) -> str:
        return f'sqlite:///{self.dir}/history.sqlite'


class TestSchema(StoreTestCase):

    def test_migrations_match_models(self):
        with self.store.engine.connect() as conn:
            context = migration.MigrationContext.configure(conn)
            diff = autogenerate.compare_metadata(context, models.metadata)
        self.assertEqual([], diff)

    def test_actions_recorded_before_causes_get_theirs(self):
        engine = self.store.engine
        with engine.begin() as conn:
            models.metadata.drop_all(conn)
            conn.exec_driver_sql('DROP TABLE alembic_version')
        store_mod.upgrade(engine, '0005')
        recorded = {
            ('succeeded', None): None,
            ('failed', 'timed out; nova did not end it in 120 s'):
                'timed-out',
            ('failed', 'plan aborted on request'): 'abort-requested',
            ('failed', 'controller stopped during the round'):
                'controller-stopped',
            ('aborted', 'controller c-1 stopped during the round'):
                'controller-stopped',
            ('failed', 'round stopped by an error: boom'): 'round-error',
            ('aborted', 'round stopped after 2 failed moves'):
                'failure-limit',
            ('aborted', 'round stopped on request'): 'round-stopped',
            ('skipped', 'relies on move 0 (i0): failed'): 'dependency-lost',
            ('failed', 'NoValidHost: no host has room'): 'nova',
            ('pending', None): None,
        }
        # Recorded by the code of revision 0005, which knew no cause.
        plans.PlanStore(engine).create(
            'p', trigger='operator', controller='c-1', dry_run=False,
            status=plans.PlanStatus.PARTIAL, planning_seconds=0.1,
            efficacy={}, pinned={}, moves=[
                heuristic.Move(f'i{n}', 'a', 'b', 1024.0, 0.1)
                for n in range(len(recorded))])
        actions = sa.table('plan_actions', *map(sa.column, (
            'plan_id', 'position', 'status', 'error')))
        with engine.begin() as conn:
            for n, (status, error) in enumerate(recorded):
                conn.execute(actions.update()
                             .where(actions.c.position == n)
                             .values(status=status, error=error))
        store_mod.upgrade(engine)
        with engine.connect() as conn:
            causes = conn.execute(
                sa.select(models.plan_actions.c.cause)
                .order_by(models.plan_actions.c.position)).scalars().all()
        self.assertEqual(list(recorded.values()), causes)

    def test_sqlite_uses_wal_and_full_sync(self):
        with self.store.engine.connect() as conn:
            self.assertEqual('wal', conn.exec_driver_sql(
                'PRAGMA journal_mode').scalar())
            self.assertEqual(2, conn.exec_driver_sql(
                'PRAGMA synchronous').scalar())

    def test_reopen_keeps_history(self):
        self.store.add_samples([samples.make(seq=1, timestamp=T0)], T0)
        self.store.close()
        reopened = store_mod.HistoryStore.open(self.url)
        self.addCleanup(reopened.close)
        self.assertEqual({'compute-1': [1]}, reopened.stored_seqs())


class TestAddSamples(StoreTestCase):

    def test_stores_hosts_and_instances(self):
        batch = [samples.make(host=h, seq=s, timestamp=T0 + s,
                              instances=[samples.instance(s)])
                 for h in ('a', 'b') for s in range(3)]
        result = self.store.add_samples(batch, T0)
        self.assertEqual(6, len(result.stored))
        self.assertEqual(0, result.duplicates)
        self.assertEqual({'a': [0, 1, 2], 'b': [0, 1, 2]},
                         self.store.stored_seqs())
        replayed = list(self.store.summary_samples(T0 + 3, 600))
        self.assertEqual([s.timestamp for s in replayed],
                         sorted(s.timestamp for s in replayed))
        self.assertCountEqual(batch, replayed)

    def test_devices_and_sensors_round_trip(self):
        stored = samples.make(
            seq=3, timestamp=T0,
            sensors=sample.HostSensors(cpu_temperature_c=61.5),
            gpus=[samples.gpu(0, throttle=0x24, instances=[
                samples.instance(1).uuid, samples.instance(2).uuid]),
                samples.gpu(1)],
            asics=[samples.asic(1), samples.asic(2, available=False)])
        self.store.add_samples([stored], T0)
        with self.store.engine.connect() as conn:
            gpus = conn.execute(sa.select(models.gpu_samples)
                                .order_by('index')).all()
            asics = conn.execute(sa.select(models.asic_samples)
                                 .order_by('miner')).all()
            temp = conn.execute(sa.select(
                models.host_samples.c.cpu_temperature_c)).scalar()
        self.assertEqual(61.5, temp)
        self.assertEqual([0x24, 0], [g.throttle_reasons for g in gpus])
        self.assertEqual(','.join([samples.instance(1).uuid,
                                   samples.instance(2).uuid]),
                         gpus[0].instances)
        self.assertEqual([True, False], [a.available for a in asics])
        self.assertIsNone(asics[1].hashrate_5s_ghs)
        self.assertEqual([stored],
                         list(self.store.summary_samples(T0 + 3, 600)))

    def test_bmc_readings_round_trip(self):
        passthrough = dataclasses.replace(
            samples.gpu(100, instances=[samples.instance(1).uuid]),
            utilization_percent=None, throttle_reasons=None,
            source='redfish')
        stored = samples.make(
            seq=4, timestamp=T0, gpus=[samples.gpu(0), passthrough],
            sensors=sample.HostSensors(inlet_temperature_c=23.5,
                                       chassis_power_w=3120.0,
                                       chassis_power_cap_w=3400.0),
            collector=samples.COUNTERS, cpus=32)
        self.store.add_samples([stored], T0)
        with self.store.engine.connect() as conn:
            sources = conn.execute(sa.select(models.gpu_samples.c.source)
                                   .order_by('index')).scalars().all()
            chassis = conn.execute(sa.select(
                models.host_samples.c.inlet_temperature_c,
                models.host_samples.c.chassis_power_w,
                models.host_samples.c.chassis_power_cap_w)).one()
        self.assertEqual(['nvml', 'redfish'], sources)
        self.assertEqual((23.5, 3120.0, 3400.0), tuple(chassis))
        replayed, = self.store.summary_samples(T0 + 3, 600)
        self.assertEqual(stored.gpus, replayed.gpus)
        self.assertEqual(stored.sensors, replayed.sensors)

    def test_summary_samples_keep_a_silent_hosts_last_window(self):
        def at(host, seq, age, **parts):
            return samples.make(host=host, seq=seq, timestamp=T0 - age,
                                **parts)
        silent = [at('silent', 1, 2000, instances=[samples.instance(1)]),
                  at('silent', 2, 1500),
                  at('silent', 3, 1000, instances=[samples.instance(2)],
                     gpus=[samples.gpu(0)], asics=[samples.asic(1)])]
        live = [at('live', 1, 700), at('live', 2, 100), at('live', 3, 10)]
        edge = at('edge', 1, 600)  # its newest on the window's edge
        self.store.add_samples([*silent, *live, edge], T0)
        # The silent host's samples within 600 s of its newest, then
        # everything of the last 600 s, each oldest first.
        self.assertEqual([*silent[1:], edge, *live[1:]],
                         list(self.store.summary_samples(T0, 600)))
        # With a shorter window the edge host is silent too.
        self.assertEqual([silent[2], edge, *live[1:]],
                         list(self.store.summary_samples(T0, 200)))

    def test_duplicates_within_and_across_batches_stored_once(self):
        first = samples.make(seq=7, timestamp=T0, cpu=10.0)
        replay = samples.make(seq=7, timestamp=T0, cpu=99.0)
        result = self.store.add_samples([first, replay], T0)
        self.assertEqual((first,), result.stored)
        self.assertEqual(1, result.duplicates)
        result = self.store.add_samples([replay], T0)
        self.assertEqual((), result.stored)
        self.assertEqual(1, result.duplicates)
        history = self.store.history('compute-1',
                                     sample.HostMetric.CPU_PERCENT,
                                     0, raw_since=0)
        self.assertEqual(((T0, 10.0),), history.points)

    def test_failed_batch_leaves_nothing(self):
        good = samples.make(seq=1, timestamp=T0)
        # Validation never lets a missing value through; here it makes the
        # second insert of the transaction fail after the first succeeded.
        bad = samples.replace_load(samples.make(seq=2, timestamp=T0),
                                   cpu_percent=None)
        self.assertRaises(sa.exc.IntegrityError, self.store.add_samples,
                          [good, bad], T0)
        self.assertEqual({}, self.store.stored_seqs())
        self.store.add_samples([good], T0)
        self.assertEqual({'compute-1': [1]}, self.store.stored_seqs())

    def test_committed_batches_survive_a_crash(self):
        self.store.add_samples([samples.make(seq=1, timestamp=T0)], T0)
        # Another process sees committed rows with no clean close here.
        conn = sqlite3.connect(os.path.join(self.dir, 'history.sqlite'))
        self.addCleanup(conn.close)
        self.assertEqual(1, conn.execute(
            'SELECT count(*) FROM host_samples').fetchone()[0])


class TestRollupsAndRetention(StoreTestCase):

    def _fill(self, host='compute-1', start=T0, count=60, step=10.0):
        batch = [samples.make(host=host, seq=i, timestamp=start + i * step,
                              cpu=float(i),
                              instances=[samples.instance(1, cpu=i / 2)],
                              gpus=[samples.gpu(0, temp=60.0 + i % 30)],
                              asics=[samples.asic(1, errors=i)])
                 for i in range(count)]
        self.store.add_samples(batch, start)

    def test_miner_hashrates_before_each_hosts_window(self):
        # One sample a minute, 100 GH/s + its minute; 'silent' stopped
        # at T0 - 2000.
        self.store.add_samples([
            samples.make(host=host, seq=i, timestamp=t,
                         asics=[samples.asic(1, hashrate=100 + (t - T0) / 60)])
            for host, first, last in (('live', -3000, 0),
                                      ('silent', -5000, -2000))
            for i, t in enumerate(T0 + s for s in range(first, last + 1,
                                                        60))], T0)
        self.store.roll_up(T0)
        found = self.store.miner_hashrates(T0, window=600, span=1800)
        miner = samples.asic(1).miner
        self.assertEqual({('live', miner), ('silent', miner)}, set(found))
        # The buckets ending before the window, as far back as the span:
        # from T0 - 2400 to T0 - 600, and from 2400 s before the silent
        # host's window (at T0 - 2600) to it.
        self.assertEqual(
            [T0 + b + 150 for b in range(-2400, -900 + 1, 300)],
            [t for t, _ in found[('live', miner)]])
        self.assertEqual(
            [T0 + b + 150 for b in range(-4200, -3000 + 1, 300)],
            [t for t, _ in found[('silent', miner)]])
        # Means of the bucket's five minutes.
        self.assertEqual((T0 - 2400 + 150, 62.0),
                         found[('live', miner)][0])

    def test_closed_buckets_rolled_up(self):
        self._fill()  # 600 s: buckets T0 and T0+300
        self.assertEqual(1, self.store.roll_up(T0 + 300))  # T0 closed only
        self.assertEqual(1, self.store.roll_up(T0 + 600))
        self.assertEqual(0, self.store.roll_up(T0 + 600))
        history = self.store.history('compute-1',
                                     sample.HostMetric.CPU_PERCENT,
                                     T0, raw_since=T0 + 1)
        self.assertEqual(300, history.resolution_seconds)
        # Means of 0..29 and 30..59.
        self.assertEqual(((T0, 14.5), (T0 + 300, 44.5)), history.points)
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(models.instance_rollups)
                               .order_by('bucket')).first()
        self.assertEqual((30, 7.25, 14.5),
                         (row.samples, row.cpu_percent_mean,
                          row.cpu_percent_max))
        with self.store.engine.connect() as conn:
            gpu = conn.execute(sa.select(models.gpu_rollups)
                               .order_by('bucket')).first()
            asic = conn.execute(sa.select(models.asic_rollups)
                                .order_by('bucket')).first()
        self.assertEqual((0, 30, 74.5, 89.0),
                         (gpu.index, gpu.samples, gpu.temperature_c_mean,
                          gpu.temperature_c_max))
        self.assertEqual(('10.0.0.1:4028', 29.0),
                         (asic.miner, asic.hardware_errors_max))

    def test_late_sample_recomputes_its_bucket(self):
        self._fill(count=30)
        self.store.roll_up(T0 + 300)
        late = samples.make(seq=1000, timestamp=T0 + 299.0, cpu=1000 - 900)
        self.store.add_samples([late], T0 + 400)
        self.assertEqual(1, self.store.roll_up(T0 + 400))
        history = self.store.history('compute-1',
                                     sample.HostMetric.CPU_PERCENT,
                                     T0, raw_since=T0 + 1)
        self.assertEqual(((T0, (sum(range(30)) + 100) / 31),),
                         history.points)

    def test_purge_respects_both_retentions(self):
        self._fill(count=30)
        day = 86400.0
        kept = self.store.purge(T0 + day - 1, raw_retention=day,
                                rollup_retention=30 * day)
        self.assertEqual(store_mod.PurgeResult(*[0] * 8), kept)
        purged = self.store.purge(T0 + day + 300, raw_retention=day,
                                  rollup_retention=30 * day)
        self.assertEqual(store_mod.PurgeResult(30, 30, 30, 30, 0, 0, 0, 0),
                         purged)
        history = self.store.history('compute-1',
                                     sample.HostMetric.CPU_PERCENT, T0,
                                     raw_since=T0 + day)
        self.assertEqual(1, len(history.points))
        purged = self.store.purge(T0 + 31 * day, raw_retention=day,
                                  rollup_retention=30 * day)
        self.assertEqual(store_mod.PurgeResult(0, 0, 0, 0, 1, 1, 1, 1),
                         purged)

    def test_unknown_host(self):
        self.assertRaises(store_mod.UnknownHost, self.store.history, 'nope',
                          sample.HostMetric.CPU_PERCENT, 0, 0)
        self.assertRaises(store_mod.UnknownHost, self.store.device_history,
                          'nope', sample.DeviceKind.GPU, 'temperature_c',
                          0, 0)

    def test_device_history_by_device_raw_then_rollups(self):
        # A sample a minute: two GPUs, the second read over Redfish (no
        # clock), and a miner; another host's GPU.
        self.store.add_samples([
            samples.make(seq=i, timestamp=T0 + i * 60.0,
                         gpus=[samples.gpu(0, temp=60.0 + i),
                               samples.gpu(1, temp=50.0, clock=None)],
                         asics=[samples.asic(1, hashrate=100.0 + i)])
            for i in range(10)] + [samples.make(
                host='other', timestamp=T0 + 300, gpus=[samples.gpu(0)])],
            T0)
        gpu, asic = sample.DeviceKind.GPU, sample.DeviceKind.ASIC
        temperatures = self.store.device_history(
            'compute-1', gpu, 'temperature_c', T0 + 300, raw_since=T0)
        self.assertEqual(store_mod.DeviceHistory(
            'compute-1', gpu, 'temperature_c', 0,
            {'0': tuple((T0 + i * 60, 60.0 + i) for i in range(5, 10)),
             '1': tuple((T0 + i * 60, 50.0) for i in range(5, 10))}),
            temperatures)
        self.assertEqual(['0'], list(self.store.device_history(
            'compute-1', gpu, 'sm_clock_mhz', T0, raw_since=T0).devices))
        # Older than the raw samples kept: the 5-minute means.
        self.store.roll_up(T0 + 600)
        self.assertEqual(store_mod.DeviceHistory(
            'compute-1', asic, 'hashrate_5s_ghs', 300,
            {'10.0.0.1:4028': ((T0, 102.0), (T0 + 300, 107.0))}),
            self.store.device_history('compute-1', asic, 'hashrate_5s_ghs',
                                      T0, raw_since=T0 + 1))

    def test_instance_history_follows_it_across_hosts(self):
        # A sample a minute; the guest moves from h1 to h2 after five.
        guest, other = samples.instance(1), samples.instance(2)
        self.store.add_samples([
            samples.make(host='h1' if i < 5 else 'h2', seq=i,
                         timestamp=T0 + i * 60.0,
                         instances=[samples.instance(1, cpu=10.0 + i,
                                                     rss=512.0 + i),
                                    other])
            for i in range(10)], T0)
        cpu = sample.InstanceMetric.CPU_PERCENT
        history = self.store.instance_history(guest.uuid, cpu, T0 + 180,
                                              raw_since=T0)
        self.assertEqual(store_mod.InstanceHistory(
            guest.uuid, cpu, 0,
            tuple((T0 + i * 60, 'h1' if i < 5 else 'h2', 10.0 + i)
                  for i in range(3, 10))), history)
        self.assertEqual(
            (T0 + 540, 'h2', 521.0), self.store.instance_history(
                guest.uuid, sample.InstanceMetric.RSS_MB, T0 + 540,
                raw_since=T0).points[0])
        # Older than the raw samples kept: the 5-minute means, a row a
        # host and period.
        self.store.roll_up(T0 + 600)
        self.assertEqual(
            ((T0, 'h1', 12.0), (T0 + 300, 'h2', 17.0)),
            self.store.instance_history(guest.uuid, cpu, T0,
                                        raw_since=T0 + 1).points)
        self.assertEqual((), self.store.instance_history(
            guest.uuid, cpu, T0 + 601, raw_since=T0).points)
        self.assertRaises(store_mod.UnknownInstance,
                          self.store.instance_history,
                          samples.instance(3).uuid, cpu, T0, T0)
        self.store.purge(T0 + 10 * 86400, raw_retention=86400,
                         rollup_retention=86400)
        self.assertRaises(store_mod.UnknownInstance,
                          self.store.instance_history, guest.uuid, cpu, T0,
                          T0)

    def test_instance_device_history_follows_its_devices(self):
        # The guest holds GPU 1 of h1, then GPU 0 of h2 (with another
        # guest), and a miner on h1.
        guest, other = samples.instance(1), samples.instance(2)
        self.store.add_samples([
            samples.make(
                host='h1' if i < 5 else 'h2', seq=i, timestamp=T0 + i * 60.0,
                instances=[guest, other],
                gpus=[samples.gpu(0, temp=50.0 + i, instances=(
                          (other.uuid, guest.uuid) if i >= 5 else
                          (other.uuid,))),
                      samples.gpu(1, temp=70.0 + i, instances=(
                          () if i >= 5 else (guest.uuid,)))],
                asics=[samples.asic(1, hashrate=100.0 + i, instance_uuid=(
                    guest.uuid if i < 5 else other.uuid))])
            for i in range(10)], T0)
        gpu, asic = sample.DeviceKind.GPU, sample.DeviceKind.ASIC
        self.assertEqual(store_mod.InstanceDeviceHistory(
            guest.uuid, gpu, 'temperature_c',
            {('h1', '1'): tuple((T0 + i * 60, 70.0 + i) for i in range(3, 5)),
             ('h2', '0'): tuple((T0 + i * 60, 50.0 + i)
                                for i in range(5, 10))}),
            self.store.instance_device_history(guest.uuid, gpu,
                                               'temperature_c', T0 + 180))
        self.assertEqual(
            {('h1', '10.0.0.1:4028'): tuple((T0 + i * 60, 100.0 + i)
                                            for i in range(5))},
            self.store.instance_device_history(
                guest.uuid, asic, 'hashrate_5s_ghs', T0).devices)
        self.assertEqual({}, self.store.instance_device_history(
            other.uuid, gpu, 'temperature_c', T0 + 601).devices)
        self.assertRaises(store_mod.UnknownInstance,
                          self.store.instance_device_history,
                          samples.instance(3).uuid, gpu, 'temperature_c', T0)


class TestFlavorObservations(StoreTestCase):

    def test_one_per_guest_oldest_first_purged_after_retention(self):
        observations = flavor_observations.FlavorObservationStore(
            self.store.engine)

        def seen(n, at, percent=50.0):
            return flavor_loads.Observation(
                samples.instance(n).uuid, 'm1', 'img' if n else None,
                percent, at)
        observations.add([seen(1, T0 + 20), seen(2, T0)])
        # Another controller noted guest 1 as well.
        observations.add([seen(1, T0 + 30, percent=99.0), seen(3, T0 + 10)])
        observations.add([])
        self.assertEqual([seen(2, T0), seen(3, T0 + 10), seen(1, T0 + 20)],
                         observations.since(T0))
        self.assertEqual([seen(1, T0 + 20)], observations.since(T0 + 11))
        self.assertEqual(2, observations.purge(T0 + 11))
        self.assertEqual([seen(1, T0 + 20)], observations.since(0))


class TestPlacementEvents(StoreTestCase):

    def test_every_event_in_order_purged_after_max_age(self):
        events = placement_events.PlacementEventStore(self.store.engine)
        uuid = samples.instance(1).uuid

        def placed(at, host, **extra):
            return placements.PlacementEvent(uuid, at, placements.Placement(
                host, 8, 16384, extra.pop('percent', None), at, **extra))
        # Two controllers' events of one guest (a rescheduled build),
        # stored out of order, and another guest's placement.
        stored = [placed(T0 + 20, 'gpu-2', flavor='m1', image='img', gpus=2),
                  placements.PlacementEvent(uuid, T0 + 10),
                  placed(T0, 'gpu-1', percent=80.0),
                  placements.PlacementEvent(samples.instance(2).uuid, T0 + 10,
                                            placements.Placement(
                                                'cpu-1', 2, 2048, None,
                                                T0 + 10))]
        for event in stored:
            events.add(event)
        self.assertEqual([stored[2], stored[1], stored[3], stored[0]],
                         events.since(T0))
        self.assertEqual([stored[0]], events.since(T0 + 11))
        self.assertEqual(3, events.purge(T0 + 11))
        self.assertEqual([stored[0]], events.since(0))
