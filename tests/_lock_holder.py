"""A run folder held by a live process, as another run holding it leaves it (video_r1/utils/lock.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STARTED = "2026-01-01 10:00"


@contextmanager
def held_by_a_live_process(folder: Path) -> Iterator[subprocess.Popen]:
    """Create `folder` with a lock naming a live process of this host; yield that process. On
    exit it is killed, leaving its lock stale (for the take-over half of a test)."""
    folder.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        lock = {"pid": holder.pid, "host": socket.gethostname(), "started": STARTED}
        (folder / ".lock").write_text(json.dumps(lock))
        yield holder
    finally:
        holder.kill()
        holder.wait()
