"""Freed memory kept in the heap: read back from glibc's own counters."""

import platform
import subprocess
import sys
import unittest

import fixtures
from oslotest import base

from cryptomine_scheduler.planning import heap

#: Frees a 4 MiB array after ``retain_freed_memory(N)`` (N from argv)
#: and prints what glibc then holds free in its heap and in mmap.
PROBE = '''
import ctypes, sys
import numpy as np
from cryptomine_scheduler.planning import heap

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
        'fsmblks', 'uordblks', 'fordblks', 'keepcost')]

mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = MallInfo2
print(heap.retain_freed_memory(int(sys.argv[1])))
block = np.ones(4 << 20, dtype=np.uint8)
during = mallinfo2()
del block
after = mallinfo2()
print(during.hblkhd, after.fordblks)
'''


def probe(megabytes: int) -> tuple[str, int, int]:
    out = subprocess.run([sys.executable, '-c', PROBE, str(megabytes)],
                         capture_output=True, text=True, check=True).stdout
    changed, figures = out.splitlines()
    mapped, free = map(int, figures.split())
    return changed, mapped, free


@unittest.skipUnless(platform.libc_ver()[0] == 'glibc', 'glibc only')
class TestRetainFreedMemory(base.BaseTestCase):

    def test_glibc_defaults_hand_a_large_block_back(self):
        changed, mapped, free = probe(0)
        self.assertEqual('False', changed)
        self.assertGreaterEqual(mapped, 4 << 20)   # from mmap
        self.assertLess(free, 4 << 20)              # and unmapped

    def test_retained_block_stays_in_the_heap(self):
        changed, mapped, free = probe(64)
        self.assertEqual('True', changed)
        self.assertLess(mapped, 4 << 20)            # from the heap
        self.assertGreaterEqual(free, 4 << 20)      # and kept there

    def test_a_block_above_what_is_kept_goes_back(self):
        changed, mapped, free = probe(1)
        self.assertEqual('True', changed)
        self.assertGreaterEqual(mapped, 4 << 20)
        self.assertLess(free, 4 << 20)


class TestWithoutMallopt(base.BaseTestCase):

    def test_nothing_changes_where_malloc_has_no_mallopt(self):
        class NoMallopt:
            def __getattr__(self, name):
                raise AttributeError(name)

        self.useFixture(fixtures.MonkeyPatch(
            'ctypes.CDLL', lambda name: NoMallopt()))
        self.assertFalse(heap.retain_freed_memory(64))
