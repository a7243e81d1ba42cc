"""keep_large_allocations: large CPU buffers come from the heap, not from fresh mappings."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

# Allocate a 150 MB tensor; print whether the settings took and the MB glibc has mmapped.
SCRIPT = """
import ctypes, torch
from video_r1.utils.malloc import keep_large_allocations
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
mallinfo2.restype = Info
print(keep_large_allocations())
x = torch.ones(150 << 18)
print(mallinfo2().hblkhd >> 20)
"""


def _glibc_with_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


def _mapped_mb(env_value: str) -> tuple[bool, int]:
    env = {**os.environ, "VIDEO_R1_MALLOC": env_value}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, check=True).stdout.split()  # fmt: skip
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="glibc >= 2.33 only")
def test_a_large_buffer_comes_from_the_heap_unless_opted_out():
    applied, mapped = _mapped_mb("")
    untouched, mapped_by_default = _mapped_mb("system")
    assert applied and not untouched
    assert mapped_by_default >= 150  # glibc's default: its own mapping, unmapped on free
    assert mapped < 16  # kept in the heap, reused by the next step's buffers


# Eight threads allocate and free 32 MB each, side by side; malloc_stats() then lists one
# "Arena N:" block per arena on stderr.
THREADS = """
import ctypes, threading
from video_r1.utils.malloc import keep_large_allocations
keep_large_allocations()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
barrier = threading.Barrier(8)
def work():
    barrier.wait()
    blocks = [libc.malloc(1 << 20) for _ in range(32)]
    barrier.wait()
    for b in blocks:
        libc.free(b)
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc.malloc_stats()
"""


def _arenas(env_value: str) -> int:
    env = {**os.environ, "VIDEO_R1_MALLOC": env_value}
    err = subprocess.run([sys.executable, "-c", THREADS], env=env, capture_output=True,
                         text=True, check=True).stderr  # fmt: skip
    return sum(line.startswith("Arena ") for line in err.splitlines())


@pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="glibc >= 2.33 only")
def test_threads_share_two_arenas_unless_opted_out():
    """Under the raised trim threshold every arena keeps what its threads freed, so the
    threads decoding a step's clips share one (the main thread has the other)."""
    assert _arenas("") == 2
    assert _arenas("system") > 2
