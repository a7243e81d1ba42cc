"""One writer per output: a lock file naming who holds it (pid, host, start time).

Two `video-r1 eval` processes on one `--out` would both run every sample and interleave their
lines, and two training runs on one checkpoint.output_dir their metrics and checkpoints; the
second now stops at once and says who holds the folder (eval, annotate, sft and grpo). A lock left by a process
that died (same host, pid no longer running) is taken over; one from another host cannot be
checked and must be removed by hand.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockHeld(RuntimeError):
    """Another live process holds the lock."""


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # being written, or unreadable: treated as held


def _is_stale(holder: dict) -> bool:
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False
    return holder["pid"] != os.getpid() and not _pid_running(holder["pid"])


def _try_create(path: Path, me: dict) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(me, f)
    return True


def _take_over_stale(path: Path, holder: dict) -> None:
    """Move a dead holder's lock aside (a rename: of two processes that both found it stale,
    only one moves it; both then race for a fresh lock through O_EXCL)."""
    aside = path.with_name(f"{path.name}.stale.{os.getpid()}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    aside.unlink(missing_ok=True)
    print(
        f"{path}: took over a stale lock of pid {holder.get('pid')} on {holder.get('host')} "
        f"(started {holder.get('started')}; that process is gone)"
    )


def _held(path: Path, holder: dict) -> LockHeld:
    return LockHeld(
        f"{path.parent} is in use by pid {holder.get('pid', '?')} on host "
        f"{holder.get('host', '?')} since {holder.get('started', '?')}; wait for that "
        f"run to end, or delete {path} if that process is gone"
    )


def check_not_held(path: str | os.PathLike) -> None:
    """LockHeld if a live process (or one on another host) holds the lock `path` now; takes
    nothing (a check before others that would otherwise answer first, e.g. "holds a run")."""
    path = Path(path)
    if path.exists() and not _is_stale(holder := _holder(path)):
        raise _held(path, holder)


@contextmanager
def hold_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold the lock file `path` for the duration of the block; LockHeld if a live process
    (or one on another host) holds it."""
    path = Path(path)
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    for _ in range(5):
        if _try_create(path, me):
            break
        holder = _holder(path)
        if not _is_stale(holder):
            raise _held(path, holder)
        _take_over_stale(path, holder)
    else:
        raise LockHeld(f"{path}: could not take the lock (other processes keep taking it)")
    try:
        yield
    finally:
        if _holder(path).get("pid") == me["pid"]:
            path.unlink(missing_ok=True)
