"""Small display helpers: a remote error's first line, sparklines,
alignment, devices' history."""

from oslotest import base

from cryptomine_scheduler.api import controller
from cryptomine_scheduler.cli import columns
from cryptomine_scheduler.cli import host_views
from cryptomine_scheduler.cli import plans
from cryptomine_scheduler.telemetry import sample


class TestFirstLine(base.BaseTestCase):

    def test_remote_traceback_dropped(self):
        error = RuntimeError('another round is running\nTraceback (most '
                             'recent call last):\n  File "x.py"')
        self.assertEqual('another round is running',
                         controller.first_line(error))


class TestSparkline(base.BaseTestCase):

    def test_lowest_to_highest(self):
        self.assertEqual('▁▂▃▄▅▆▇█', columns.sparkline(list(range(8))))
        self.assertEqual('█▁', columns.sparkline([5.0, 1.0]))

    def test_flat_and_empty(self):
        self.assertEqual('▁▁▁', columns.sparkline([3.0, 3.0, 3.0]))
        self.assertEqual('', columns.sparkline([]))

    def test_long_series_averaged_into_width(self):
        # 100 points, 4 wide: buckets of 25 (means 12, 37, 62, 87).
        self.assertEqual('▁▃▆█', columns.sparkline(list(range(100)), 4))
        self.assertEqual(40, len(columns.sparkline(list(range(1000)))))


class TestFormatting(base.BaseTestCase):

    def test_number(self):
        self.assertEqual(65.7, columns.number(65.686))
        self.assertEqual(1.436, columns.number(1.43611, 3))
        self.assertIsNone(columns.number(float('nan')))
        self.assertIsNone(columns.number(None))

    def test_utc(self):
        self.assertEqual('2026-11-26T13:51:16Z', columns.utc(1795701076.9))
        self.assertIsNone(columns.utc(None))

    def test_aligned(self):
        self.assertEqual('a    bb\nccc  d',
                         columns.aligned([['a', 'bb'], ['ccc', 'd']]))

    def test_text_column(self):
        cell = columns.Text({'before': 1, 'after': 0}, '1 -> 0')
        self.assertEqual('1 -> 0', cell.human_readable())
        self.assertEqual({'before': 1, 'after': 0}, cell.machine_readable())


class TestActionOutcome(base.BaseTestCase):

    PLAN = {'id': 'p', 'status': 'partial', 'trigger': 'operator',
            'dry_run': False, 'created_at': 0.0, 'finished_at': 60.0,
            'planning_seconds': 0.1, 'efficacy': None, 'pinned': None,
            'error': None}

    def action(self, position: int, status: str, error=None, **cause):
        return {'position': position, 'instance': f'i{position}',
                'source': 'hot', 'destination': 'cold1', 'live': True,
                'memory_mb': 4096.0, 'gain': 0.05, 'status': status,
                'error': error, **cause}

    def table(self, actions) -> list[str]:
        names, values = plans.plan_fields({**self.PLAN, 'actions': actions})
        text = values[names.index('Actions')].human_readable()
        return [line.split('0.0500  ')[1].rstrip()
                for line in text.splitlines()[1:]]

    def test_cause_between_status_and_error(self):
        self.assertEqual(
            ['succeeded', 'failed (nova): NoValidHost',
             'aborted (failure-limit): round stopped after 2 failed moves'],
            self.table([
                self.action(0, 'succeeded', cause=None),
                self.action(1, 'failed', 'NoValidHost', cause='nova'),
                self.action(2, 'aborted',
                            'round stopped after 2 failed moves',
                            cause='failure-limit')]))

    def test_a_controller_that_records_no_cause(self):
        self.assertEqual(['failed: NoValidHost'], self.table(
            [self.action(0, 'failed', 'NoValidHost')]))


class TestDeviceHistory(base.BaseTestCase):
    """How ``host history`` and ``host show`` lay out devices' history."""

    GPU = sample.DeviceKind.GPU

    def history(self, devices: dict) -> dict:
        return {'host': 'g1', 'kind': 'gpu', 'metric': 'temperature_c',
                'resolution_seconds': 0, 'devices': devices}

    def test_a_column_per_device_a_row_per_time(self):
        # GPU 1 missed the second sample.
        heading, rows = host_views.device_rows(self.GPU, self.history(
            {'0': [[60.0, 70.0], [70.0, 71.0]], '1': [[60.0, 75.0]]}))
        self.assertEqual(('Time', 'GPU 0', 'GPU 1'), heading)
        self.assertEqual([('1970-01-01T00:01:00Z', 70.0, 75.0),
                          ('1970-01-01T00:01:10Z', 71.0, None)], rows)

    def test_lines_per_device_none_without_readings(self):
        shown = host_views.device_history({self.GPU: self.history(
            {'0': [[60.0, 70.0], [70.0, 71.0]]})})
        self.assertEqual('GPU 0 temperature_c: 2 samples, min 70 max 71 '
                         'last 71 ▁█', shown.human_readable())
        self.assertEqual({'gpu'}, set(shown.machine_readable()))
        self.assertIsNone(host_views.device_history(
            {self.GPU: self.history({})}))
        self.assertIsNone(host_views.device_history({}))
        failed = host_views.device_history('unavailable: 404')
        self.assertEqual('unavailable: 404', failed.human_readable())

    def test_a_silent_host_has_its_devices_looked_up(self):
        self.assertEqual(tuple(sample.DeviceKind),
                         host_views.device_kinds(None))
