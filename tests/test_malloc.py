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
