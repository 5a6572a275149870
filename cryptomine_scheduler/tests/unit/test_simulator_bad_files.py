"""A bad trace or fleet file fails both entry points in one line that
names it (and the line of it where one applies): exit status 1, no
traceback."""

import contextlib
import gc
import gzip
import io
import os

import fixtures
from oslotest import base

from cryptomine_scheduler.simulator import __main__ as module_main
from cryptomine_scheduler.simulator import files
from cryptomine_scheduler.simulator import fleet
from cryptomine_scheduler.simulator import traces
from cryptomine_scheduler.tests.unit import test_simulator_cli

PROG = 'python -m cryptomine_scheduler.simulator'
CSV = ('timestamp,instance,vcpus,memory_mb,cpu_percent,rss_mb\n'
       '0,vm,1,1024,50,512\n300,vm,1,1024,60,512\n')
BITBRAINS = ('Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];'
             '\tCPU usage [MHZ];\tCPU usage [%];\tMemory capacity '
             'provisioned [KB];\tMemory usage [KB];\tDisk read throughput '
             '[KB/s]\n'
             + ''.join(f'{1372629804 + 300 * i};\t2;\t5852.0;\t87.8;\t1.5;'
                       f'\t8218624.0;\t1034592.8;\t0.0\n' for i in range(40)))
DAY = ''.join(f'{i % 100}\n' for i in range(traces.PLANETLAB_STEPS))
YAML = 'groups:\n  - {vcpus: 4, memory_mb: 8192, count: 2}\n'


def _gzip(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def _truncated_gzip(text: str) -> bytes:
    data = _gzip(text)
    return data[:len(data) // 2]


def _bad_crc_gzip(text: str) -> bytes:
    data = _gzip(text)
    return data[:-8] + bytes([data[-8] ^ 0xff]) + data[-7:]


def _bad_deflate_gzip(text: str) -> bytes:
    data = _gzip(text)
    return data[:10] + b'\xff' * 8 + data[18:]


def _latin1(text: str, line: int) -> bytes:
    """``text`` with a Latin-1 e acute at the end of line ``line``."""
    lines = text.encode().split(b'\n')
    lines[line - 1] += b'\xe9'
    return b'\n'.join(lines)


#: (case, --trace-format or 'fleet', {file name: content}, the path to
#: give, the message after '<path>' of the file named).  A content of
#: None is a directory; the path given and the file named are relative
#: to the folder of the test.
CASES = (
    ('missing csv', 'csv', {}, 'nope.csv', ('nope.csv', ': no such file')),
    ('missing folder', 'bitbrains', {}, 'nope',
     ('nope', ': no such file or directory')),
    ('missing planetlab', 'planetlab', {}, 'nope',
     ('nope', ': no such file or directory')),
    ('directory for a file', 'csv', {'d': None}, 'd',
     ('d', ': is a directory, expected a file')),
    ('truncated gzip csv', 'csv', {'t.csv.gz': _truncated_gzip(CSV)},
     't.csv.gz', ('t.csv.gz', ': truncated gzip file')),
    ('truncated gzip bitbrains', 'bitbrains',
     {'b/1.csv.gz': _gzip(BITBRAINS), 'b/2.csv.gz': _truncated_gzip(
         BITBRAINS)}, 'b', ('b/2.csv.gz', ': truncated gzip file')),
    ('gzip CRC', 'bitbrains', {'1.csv.gz': _bad_crc_gzip(BITBRAINS)},
     '1.csv.gz', ('1.csv.gz', ': corrupt gzip file (CRC check failed)')),
    ('gzip garbage', 'bitbrains', {'1.csv.gz': _bad_deflate_gzip(
        BITBRAINS)}, '1.csv.gz', ('1.csv.gz', ': corrupt gzip file')),
    ('gzip planetlab', 'planetlab', {'p/vm': _truncated_gzip(DAY)}, 'p',
     ('p/vm', ': truncated gzip file')),
    ('latin-1 csv', 'csv', {'l.csv': _latin1(CSV, 3)}, 'l.csv',
     ('l.csv', ':3: not UTF-8 text (byte 0xe9)')),
    ('latin-1 gzipped bitbrains', 'bitbrains',
     {'1.csv.gz': gzip.compress(_latin1(BITBRAINS, 5))}, '1.csv.gz',
     ('1.csv.gz', ':5: not UTF-8 text (byte 0xe9)')),
    ('latin-1 planetlab', 'planetlab', {'p/vm': _latin1(DAY, 7)}, 'p',
     ('p/vm', ':7: not UTF-8 text (byte 0xe9)')),
    ('planetlab shorter than the day', 'planetlab',
     {'p/vm-a': DAY, 'p/vm-b': DAY[:DAY.index('\n10\n') + 1]}, 'p',
     ('p/vm-b', ': cut short: 10 CPU % lines, expected 288 (a day of '
      '5-minute steps)')),
    ('planetlab one file cut short', 'planetlab',
     {'vm': DAY[:-len('87\n')]}, 'vm',
     ('vm', ': cut short: 287 CPU % lines, expected 288')),
    ('planetlab longer than the day', 'planetlab',
     {'p/vm-a': DAY, 'p/vm-b': DAY + '5\n'}, 'p',
     ('p/vm-b', ': 289 CPU % lines, expected 288')),
    ('planetlab empty', 'planetlab', {'p/vm-a': DAY, 'p/vm-b': ''}, 'p',
     ('p/vm-b', ': empty, expected one CPU % per line')),
    ('planetlab not a number', 'planetlab',
     {'vm': DAY.replace('\n4\n', '\nfour\n')}, 'vm',
     ('vm', ":5: 'four' is not a CPU %")),
    ('planetlab nan', 'planetlab', {'vm': DAY.replace('\n4\n', '\nnan\n')},
     'vm', ('vm', ":5: CPU % 'nan' is not 0-100")),
    ('bitbrains row cut short', 'bitbrains',
     {'1.csv': BITBRAINS[:BITBRAINS.rindex(';\t8218624.0')]}, '1.csv',
     ('1.csv', ':41: 5 fields, expected at least 7 (cut short?)')),
    ('bitbrains not a number', 'bitbrains',
     {'1.csv': BITBRAINS.replace(';\t1.5;', ';\tlots;', 3)}, '1.csv',
     ('1.csv', ":2: CPU usage [%] 'lots' is not a number")),
    ('bitbrains infinite', 'bitbrains',
     {'1.csv': BITBRAINS.replace('1372630104;', 'inf;')}, '1.csv',
     ('1.csv', ":3: Timestamp 'inf' is not finite")),
    ('bitbrains header only', 'bitbrains',
     {'1.csv': BITBRAINS.split('\n')[0] + '\n'}, '1.csv',
     ('1.csv', ': no data row after the header')),
    ('csv empty', 'csv', {'e.csv': ''}, 'e.csv',
     ('e.csv', ': empty, expected a header')),
    ('fleet missing', 'fleet', {}, 'nope.yaml',
     ('nope.yaml', ': no such file')),
    ('fleet directory', 'fleet', {'f.ini': None}, 'f.ini',
     ('f.ini', ': is a directory, expected a file')),
    ('fleet latin-1', 'fleet', {'f.yaml': _latin1(YAML, 2)}, 'f.yaml',
     ('f.yaml', ':2: not UTF-8 text (byte 0xe9)')),
    ('fleet yaml syntax', 'fleet', {'f.yaml': YAML + ' oops: [\n'},
     'f.yaml', ('f.yaml', ":3: expected <block end>, but found '<block "
                'mapping start>\'')),
    ('fleet ini syntax', 'fleet', {'f.ini': '[a]\nvcpus = 2\ngarbage\n'},
     'f.ini', ('f.ini', ":3: cannot parse 'garbage\\n'")),
)


class TestBadFiles(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.folder = self.useFixture(fixtures.TempDir()).path
        # Garbage of earlier tests in this worker may log as it goes (a
        # tooz lock left held does); not while these tests read stderr.
        gc.collect()

    def _write(self, contents: dict) -> None:
        for name, content in contents.items():
            path = os.path.join(self.folder, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if content is None:
                os.mkdir(path)
                continue
            with open(path, 'wb') as f:
                f.write(content.encode() if isinstance(content, str)
                        else content)

    def _argv(self, kind: str, path: str) -> list[str]:
        source = (['--fleet', path] if kind == 'fleet'
                  else ['--trace-format', kind, '--trace', path])
        return [*source, '--instances', '3', '--policies', 'nova-spread',
                '--output', os.path.join(self.folder, 'out')]

    def _module_main(self, argv: list[str]) -> tuple[int, str]:
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(err):
            code = module_main.main(argv)
        return code, err.getvalue()

    def _cryptomine(self, argv: list[str]) -> tuple[int, str]:
        err = io.StringIO()
        app = test_simulator_cli._App(io.StringIO(), err)
        return app.run(['simulate', *argv]), err.getvalue()

    def _assert_one_line(self, kind: str, given: str, named: str,
                         message: str) -> None:
        argv = self._argv(kind, os.path.join(self.folder, given))
        expected = os.path.join(self.folder, named) + message
        code, err = self._module_main(argv)
        self.assertEqual(1, code, err)
        self.assertEqual(1, len(err.splitlines()), err)
        self.assertTrue(err.startswith(f'{PROG}: error: {expected}'), err)
        code, err = self._cryptomine(argv)
        self.assertEqual(1, code, err)
        self.assertEqual(1, len(err.splitlines()), err)
        self.assertTrue(err.startswith(expected), err)

    def test_each_kind_of_bad_file(self):
        for case, kind, contents, given, (named, message) in CASES:
            with self.subTest(case=case):
                self.folder = self.useFixture(fixtures.TempDir()).path
                self._write(contents)
                self._assert_one_line(kind, given, named, message)

    def test_unreadable_file(self):
        path = os.path.join(self.folder, 'secret.csv')
        self._write({'secret.csv': CSV})
        os.chmod(path, 0)
        if os.access(path, os.R_OK):  # root reads it all the same
            self.useFixture(fixtures.MockPatchObject(
                files, 'open', create=True, side_effect=PermissionError(
                    13, 'Permission denied', path)))
        self._assert_one_line('csv', 'secret.csv', 'secret.csv',
                              ': permission denied')

    def test_reader_errors_are_input_errors(self):
        # Both entry points tell a bad file from bad options by this.
        self.assertTrue(issubclass(traces.TraceError, files.InputError))
        self.assertTrue(issubclass(fleet.FleetError, files.InputError))
        self.assertTrue(issubclass(files.InputError, ValueError))


class TestReadText(base.BaseTestCase):

    def test_gzip_by_content_and_byte_order_mark(self):
        folder = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(folder, 'plain-name.csv')
        with open(path, 'wb') as f:
            f.write(gzip.compress('\ufeffhé\n'.encode()))
        self.assertEqual('hé\n', files.read_text(path))

    def test_line_of_a_bad_byte_after_a_byte_order_mark(self):
        folder = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(folder, 'f')
        with open(path, 'wb') as f:
            f.write(b'\xef\xbb\xbfa\nb\n\xff\n')
        error = self.assertRaises(files.InputError, files.read_text, path)
        self.assertEqual(f'{path}:3: not UTF-8 text (byte 0xff)',
                         str(error))
