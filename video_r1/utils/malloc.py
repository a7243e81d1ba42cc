"""Serve large CPU buffers from the process heap instead of fresh mappings every time.

glibc's malloc serves every block above its mmap threshold (at most 32 MB by default) with a
new `mmap` and unmaps it on free, so a buffer allocated at every step is mapped, page-faulted
in 4 KB at a time and zeroed by the kernel again and again. A GRPO step's CPU buffers are that
large: a 16-frame clip's frames and pixels are 10-20 MB each, a 4-prompt step's pixel batch
about 150 MB. Raising the mmap and trim thresholds and padding the heap's growth keeps freed
blocks for reuse (what MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ / MALLOC_TOP_PAD_ do
from the environment, and jemalloc or tcmalloc by design). Measured with
benchmarks/grpo_step.py on the 2-core CPU machine (README, Measured speed).

Threads allocate from arenas of their own (up to 8 per CPU), and under the raised trim
threshold each arena keeps what its thread freed: with a step's clips decoded by threads
(`load_records_media`), the 4-prompt benchmark's peak RSS went 1.10 -> 1.24 GiB. Two arenas
(the main one and one the threads share; MALLOC_ARENA_MAX=2) kept it at 1.10 GiB, at no cost
in step time.

`video-r1` applies it to every command; `VIDEO_R1_MALLOC=system` leaves malloc as it is.
Elsewhere than glibc (macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import os

# mallopt(3) parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -2, -3, -8
# blocks up to 1 GB come from the heap; up to 1 GB of free heap top is kept; the heap grows
# 256 MB at a time
MMAP_THRESHOLD = TRIM_THRESHOLD = 1 << 30
TOP_PAD = 256 << 20
ARENA_MAX = 2


def keep_large_allocations() -> bool:
    """Set glibc's mmap threshold, trim threshold, top pad and arena count for this process.

    Returns True when all four were set; False with VIDEO_R1_MALLOC=system or without glibc.
    """
    if os.environ.get("VIDEO_R1_MALLOC", "").lower() == "system":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc: its malloc has no such knobs
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    settings = {
        _M_MMAP_THRESHOLD: MMAP_THRESHOLD,
        _M_TRIM_THRESHOLD: TRIM_THRESHOLD,
        _M_TOP_PAD: TOP_PAD,
        _M_ARENA_MAX: ARENA_MAX,
    }
    return all(mallopt(param, value) == 1 for param, value in settings.items())
