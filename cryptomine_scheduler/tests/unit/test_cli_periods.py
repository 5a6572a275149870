import argparse

from oslotest import base

from cryptomine_scheduler.cli import periods


class TestDuration(base.BaseTestCase):

    def test_seconds_or_a_unit(self):
        for text, seconds in (('3600', 3600.0), ('0', 0.0), ('1.5', 1.5),
                              ('90s', 90.0), ('90m', 5400.0),
                              ('6h', 21600.0), ('2D', 172800.0),
                              (' .5h ', 1800.0)):
            with self.subTest(text=text):
                self.assertEqual(seconds, periods.duration(text))

    def test_anything_else_is_refused(self):
        for text in ('', 'soon', '-1', '1w', 'h', '1h30m', 'nan', 'inf',
                     '1e3'):
            with self.subTest(text=text):
                error = self.assertRaises(argparse.ArgumentTypeError,
                                          periods.duration, text)
                self.assertIn(f'{text!r} is not a duration', str(error))

    def test_option_default_in_seconds(self):
        parser = argparse.ArgumentParser()
        periods.add_since(parser, '1d', 'the period')
        self.assertEqual(86400.0, parser.parse_args([]).since)
        self.assertEqual(120.0,
                         parser.parse_args(['--since', '2m']).since)
        self.assertIn('(90m, 6h, 2d; default 1d)', parser.format_help())
