"""Keep freed memory in the process's heap for reuse (glibc's malloc).

The re-planner scores every candidate pair at once with numpy: each
step makes and frees temporaries of hundreds of KiB, thousands of times
a round.  By default glibc hands such memory back to the kernel as soon
as it is freed (it comes from ``mmap``, or the free top of the heap
passes the trim threshold), and the next temporary faults its pages in
again: on 1,000 hosts that doubles a round's planning time.  Raising
both thresholds keeps the freed memory for the next temporary.
"""

import ctypes

#: ``mallopt`` parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: The largest mmap threshold glibc accepts on a 64-bit system.
MMAP_THRESHOLD_MAX = 32 << 20
#: What the controller keeps (``[controller] malloc_retain_mb``), and the
#: simulator and the benchmarks, which plan as the controller does.
DEFAULT_RETAIN_MB = 64


def retain_freed_memory(megabytes: int) -> bool:
    """Let malloc keep up to ``megabytes`` MiB of freed memory, and serve
    blocks up to that size (32 MiB at most) from its heap; False where
    nothing changed (0 asked, or malloc is not glibc's)."""
    if megabytes <= 0:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    size = megabytes << 20
    return bool(mallopt(M_MMAP_THRESHOLD, min(size, MMAP_THRESHOLD_MAX))
                and mallopt(M_TRIM_THRESHOLD, size))
