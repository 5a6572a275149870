"""What an experiment boots: flavors, guests, user data, its record."""

import json
import os

import fixtures
import numpy as np
import yaml
from oslotest import base

from cryptomine_scheduler.experiment import flavors
from cryptomine_scheduler.experiment import record as record_mod
from cryptomine_scheduler.experiment import setup as setup_mod
from cryptomine_scheduler.experiment import userdata
from cryptomine_scheduler.experiment import workload
from cryptomine_scheduler.simulator import traces

MAPPING = {
    'flavors': {'small': {'vcpus': 1, 'ram_mb': 1024, 'disk_gb': 2}},
    'rules': [{'max_vcpus': 1, 'max_memory_mb': 1024, 'flavor': 'small'},
              {'flavor': 'm1.large'}],
    'memory_scale': 0.5, 'guest_reserve_mb': 256,
}
NAN = float('nan')
TRACE = traces.Trace(
    step=300.0, start=0.0, instances=('vm0', 'vm1'),
    vcpus=np.array([1, 4]), memory_mb=np.array([870.0, 4096.0]),
    accelerators=(None, None),
    cpu=np.array([[0.5, 0.25, NAN], [3.5, 2.0, 1.0]]),
    rss_mb=np.array([[870.0, 2000.0, NAN], [4096.0, 4096.0, 4096.0]]))


class MappingTest(base.BaseTestCase):

    def test_first_matching_rule(self):
        found = flavors.parse(MAPPING, 'm.yaml')
        self.assertEqual('small', found.flavor_for(1, 1024.0))
        self.assertEqual('m1.large', found.flavor_for(1, 1025.0))
        self.assertEqual(flavors.FlavorSpec('small', 1, 1024, 2),
                         found.created('small'))
        self.assertIsNone(found.created('m1.large'))

    def test_no_rule_is_an_error(self):
        found = flavors.parse({'rules': [{'max_vcpus': 2,
                                          'flavor': 'x'}]}, 'm.yaml')
        self.assertRaisesRegex(flavors.MappingError, '4 vCPUs',
                               found.flavor_for, 4, 10.0)

    def test_bad_files_name_what_is_wrong(self):
        for data, message in (
                ({}, 'expected a mapping with a list of "rules"'),
                ({'rules': [{'flavor': 'x', 'max_vcpu': 1}]},
                 r"rules: 0: unknown keys \['max_vcpu'\]"),
                ({'rules': [{'flavor': 'x'}],
                  'flavors': {'x': {'vcpus': 0, 'ram_mb': 1}}},
                 'flavors: x: vcpus: expected a whole number'),
                ({'rules': [{'flavor': 'x'}], 'memory_scale': -1},
                 'memory_scale: expected a number')):
            self.assertRaisesRegex(flavors.MappingError, f'm.yaml: {message}',
                                   flavors.parse, data, 'm.yaml')

    def test_reads_yaml_and_json(self):
        folder = self.useFixture(fixtures.TempDir())
        for name, dump in (('m.yaml', yaml.safe_dump), ('m.json', json.dumps)):
            with open(folder.join(name), 'w') as f:
                f.write(dump(MAPPING))
            self.assertEqual(flavors.parse(MAPPING, name),
                             flavors.load(folder.join(name)))


class GuestsTest(base.BaseTestCase):

    def test_part_played_at_the_compression(self):
        # 10 minutes at 30x is 18000 trace seconds: 60 steps of 300 s,
        # more than the trace has.
        self.assertEqual(3, workload.part(TRACE, 30.0, 600.0).steps)
        self.assertEqual(2, workload.part(TRACE, 30.0, 20.0).steps)
        self.assertEqual(('vm0',),
                         workload.part(TRACE, 30.0, 20.0, 1).instances)

    def test_schedules(self):
        small, large = workload.guests(TRACE, flavors.parse(MAPPING, 'm'),
                                       compression=30.0)
        self.assertEqual(('small', 'm1.large'), (small.flavor, large.flavor))
        self.assertEqual(10.0, small.schedule.step)
        self.assertEqual([0.5, 0.25, None], small.schedule.cpu)
        # Half the trace's memory, within the flavor less the guest's OS.
        self.assertEqual([435.0, 768.0, None], small.schedule.memory_mb)
        # A flavor not created: the trace's vCPUs and memory, scaled.
        self.assertEqual((4, [2048.0] * 3),
                         (large.schedule.vcpus, large.schedule.memory_mb))


class UserDataTest(base.BaseTestCase):

    def test_cloud_config_writes_and_starts_the_player(self):
        (guest, _) = workload.guests(TRACE, flavors.parse(MAPPING, 'm'), 30)
        schedule = guest.schedule._replace(start_at=1234.5)
        text = userdata.render(schedule)
        self.assertTrue(text.startswith('#cloud-config\n'))
        document = yaml.safe_load(text)
        player = document['write_files'][0]
        self.assertEqual(userdata.player_source(), player['content'])
        self.assertEqual(schedule, userdata.schedule_of(text))
        unit = document['write_files'][2]
        self.assertEqual(f'/etc/systemd/system/{userdata.UNIT}',
                         unit['path'])
        self.assertIn(f'ExecStart=/usr/bin/env python3 {player["path"]} ',
                      unit['content'])
        (start,) = document['runcmd']
        self.assertIn(f'systemctl enable --now {userdata.UNIT}', start[2])

    def test_too_long_a_schedule_is_refused(self):
        (guest, _) = workload.guests(TRACE, flavors.parse(MAPPING, 'm'), 30)
        long = guest.schedule._replace(cpu=[0.123456] * 20000,
                                       memory_mb=[1.5] * 20000)
        self.assertRaisesRegex(userdata.UserDataTooLarge, '--duration',
                               userdata.render, long)


class RecordTest(base.BaseTestCase):

    def test_round_trip_through_an_atomic_save(self):
        folder = self.useFixture(fixtures.TempDir())
        path = folder.join('record.json')
        found = record_mod.Record(
            name='x', setup=setup_mod.Setup(
                trace='t', trace_format='csv', mapping='m', compression=2.0,
                duration=60.0, image='cirros', network='none'),
            resources=[record_mod.Resource(record_mod.Kind.FLAVOR, 'x-f'),
                       record_mod.Resource(
                           record_mod.Kind.SERVER, 'x-0000',
                           record_mod.State.DELETED, id='abc',
                           trace_index=0)],
            start_at=10.0, migrations=[record_mod.MigrationRecord(
                'abc', 'h1', 'h2', 'live-migration', 'completed',
                '2026-01-01T00:00:00', None)])
        record_mod.save(found, path)
        record_mod.save(found, path)
        self.assertEqual(['record.json'], os.listdir(folder.path))
        loaded = record_mod.load(path)
        self.assertEqual(found, loaded)
        self.assertEqual(['x-f'], [r.name for r in loaded.left()])
