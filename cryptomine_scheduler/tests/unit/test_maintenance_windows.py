import datetime

from oslo_config import cfg
from oslotest import base

from cryptomine_scheduler.conf import replan as replan_conf
from cryptomine_scheduler.replan import maintenance_windows as mw


def at(day: int, hour: int, minute: int = 0) -> float:
    """The UNIX time of a day of the week (0: Monday 2026-11-30) in
    UTC."""
    monday = datetime.datetime(2026, 11, 30, tzinfo=datetime.timezone.utc)
    return (monday + datetime.timedelta(days=day, hours=hour,
                                        minutes=minute)).timestamp()


class TestWindows(base.BaseTestCase):

    def test_parse_and_print(self):
        for text, days, start, end, printed in (
                ('Mon-Fri 01:00-05:00', {0, 1, 2, 3, 4}, 60, 300,
                 'Mon-Fri 01:00-05:00'),
                ('* 00:00-24:00', set(range(7)), 0, 1440,
                 '* 00:00-24:00'),
                ('saturday 22:30-02:00', {5}, 1350, 120,
                 'Sat 22:30-02:00'),
                ('Fri-Mon 3:05-04:00', {4, 5, 6, 0}, 185, 240,
                 'Fri-Mon 03:05-04:00'),
                ('SUN 00:00-00:01', {6}, 0, 1, 'Sun 00:00-00:01')):
            with self.subTest(text=text):
                window = mw.parse(text)
                self.assertEqual((frozenset(days), start, end),
                                 (window.days, window.start, window.end))
                self.assertEqual(printed, str(window))
                self.assertEqual(window, mw.parse(str(window)))

    def test_errors_say_what_is_wrong(self):
        for text, says in (
                ('Mon-Fri', 'expected DAYS HH:MM-HH:MM'),
                ('Mon 01:00', 'expected DAYS HH:MM-HH:MM'),
                ('Mo 01:00-02:00', "'Mo' is not a day"),
                ('Funday 01:00-02:00', "'Funday' is not a day"),
                ('Mon 1-2', "'1' is not HH:MM"),
                ('Mon 01:60-02:00', "no time '01:60'"),
                ('Mon 24:00-02:00', "no time '24:00'"),
                ('Mon 23:00-24:01', "no time '24:01'"),
                ('Mon 02:00-02:00', 'is empty')):
            with self.subTest(text=text):
                error = self.assertRaises(ValueError, mw.parse, text)
                self.assertIn(says, str(error))

    def test_open_at(self):
        windows = (mw.parse('Mon-Fri 01:00-05:00'),
                   mw.parse('Sat 22:00-02:00'))
        for when, expected in (
                (at(0, 0, 59), False), (at(0, 1), True),
                (at(4, 4, 59), True), (at(4, 5), False),   # half-open
                (at(5, 1), False),                          # not Sat
                (at(5, 21, 59), False), (at(5, 22), True),
                (at(6, 1, 59), True), (at(6, 2), False),    # past midnight
                (at(0, 1, 30), True)):
            with self.subTest(when=when):
                self.assertEqual(expected, mw.open_at(windows, when))
        # No windows: cold migration at any time.
        self.assertTrue(mw.open_at((), at(2, 12)))

    def test_option(self):
        conf = cfg.ConfigOpts()
        replan_conf.register_opts(conf)
        conf([])
        conf.set_override('cold_migration_windows',
                          'Mon-Fri 01:00-05:00, Sat 22:00-02:00', 'replan')
        self.assertEqual(['Mon-Fri 01:00-05:00', 'Sat 22:00-02:00'],
                         [str(w) for w in conf.replan.cold_migration_windows])
        self.assertRaises(ValueError, conf.set_override,
                          'cold_migration_windows', 'Mon 25:00-26:00',
                          'replan')
