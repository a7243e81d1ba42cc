"""What libraries print into video-r1's log: `--debug` shows everything they log; without it,
lines that say nothing a user must act on are dropped (each with the reason it is safe to).

`video-r1 --debug` sets VIDEO_R1_DEBUG=1, which processes it launches inherit.
"""

from __future__ import annotations

import logging
import os

DEBUG_ENV = "VIDEO_R1_DEBUG"

# DeepSpeed (imported by accelerate when installed) logs this at WARNING on any machine without
# CUDA, in the middle of whatever is running; on a CPU machine the CPU is the accelerator meant
DEEPSPEED_CPU_NOTICE = "Setting accelerator to CPU"


def debug_logs() -> bool:
    """True under `video-r1 --debug` (every library's full log)."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def set_debug_logs(on: bool) -> None:
    if on:
        os.environ[DEBUG_ENV] = "1"


class DropLines(logging.Filter):
    """Drops the records whose message holds one of `fragments`; passes every other."""

    def __init__(self, fragments: tuple[str, ...]) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(fragment in message for fragment in self.fragments)


def quiet_deepspeed_cpu_notice() -> None:
    """Drop DeepSpeed's "Setting accelerator to CPU" line (its other records pass, errors
    included). A filter on its logger, not DS_ACCELERATOR=cpu: that would also override
    DeepSpeed's detection of accelerators other than CUDA."""
    if debug_logs():
        return
    logger = logging.getLogger("DeepSpeed")  # the logger deepspeed.utils.logging creates
    if not any(isinstance(f, DropLines) for f in logger.filters):
        logger.addFilter(DropLines((DEEPSPEED_CPU_NOTICE,)))
