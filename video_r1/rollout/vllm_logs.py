"""What the vLLM engine prints: its warnings that a user must know, one summary line of the engine
made, and nothing per step. `video-r1 --debug` leaves vLLM's own logging as it is (every INFO
line, the config dump, each weight push's lines).

Without --debug vLLM does not configure logging (VLLM_CONFIGURE_LOGGING=0) and its records go
to one handler on stderr: WARNING and above only, less the lines below, each dropped for the
reason given (an unknown warning or any error is printed).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any

from video_r1.utils.logs import DropLines, debug_logs

NOISE: dict[str, str] = {
    # video-r1 disables chunked prefill on CPU on purpose (vllm_engine.py says why) and says so
    # in the summary line: the scheduler then prefills whole prompts, which every model supports
    "does not officially support disabling chunked prefill": "chunked prefill off on purpose",
    "The global random seed is set to": "the trainer's random state is restored around the start",
    "set_num_threads": "the trainer's torch.set_num_threads is restored around the start",
    "Enforce eager set": "asked for (--vllm-enforce-eager, rl.vllm_enforce_eager)",
    "Inductor compilation was disabled": "follows from enforce_eager",
    "Triton": "CPU builds run without Triton (the V1 model runner)",
    "is not found in LD_PRELOAD": "a speed hint of the CPU build (docs/speed.md)",
    # every weight push: layers whose only tensors are computed (rotary caches, fused norms) get
    # nothing from the push, which is right; a weight missing from a push is not reported here
    # but shows as a log-prob gap (train/mismatch/...)
    "Failed to load weights": "layers without weights, at every push",
}
_MARK = "VIDEO_R1_QUIET_VLLM"  # VLLM_CONFIGURE_LOGGING=0 is video-r1's, not the user's
# Python warnings raised by vLLM's own modules at import (deprecations of torch names)
_WARNING_MODULES = r"vllm\."


class _Handler(logging.StreamHandler):
    """vLLM's records on stderr, named as vLLM's."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(logging.Formatter("%(levelname_lower)s: vLLM: %(message)s"))
        self.addFilter(DropLines(tuple(NOISE)))

    def emit(self, record: logging.LogRecord) -> None:
        record.levelname_lower = record.levelname.lower()
        self.stream = sys.stderr  # pytest's capsys swaps it
        super().emit(record)


def quiet_vllm_logging() -> None:
    """Before vLLM is imported (idempotent): its warnings that matter, on stderr, one line each.
    A user's own VLLM_CONFIGURE_LOGGING or VLLM_LOGGING_CONFIG_PATH is left to rule."""
    if "vllm" in sys.modules:
        return
    ours = os.environ.get(_MARK) == "1"  # set by this function (here, or in a parent process)
    if debug_logs():  # vLLM's own logging, as without video-r1
        if ours:
            del os.environ["VLLM_CONFIGURE_LOGGING"], os.environ[_MARK]
        return
    if not ours and (
        "VLLM_CONFIGURE_LOGGING" in os.environ or "VLLM_LOGGING_CONFIG_PATH" in os.environ
    ):
        return
    os.environ["VLLM_CONFIGURE_LOGGING"] = "0"
    os.environ[_MARK] = "1"
    logger = logging.getLogger("vllm")
    if not any(isinstance(h, _Handler) for h in logger.handlers):
        logger.addHandler(_Handler())
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    warnings.filterwarnings("ignore", category=FutureWarning, module=_WARNING_MODULES)


def engine_summary(llm: Any, kv_cache_gb: float, chunked_prefill_off: bool) -> str:
    """One line: vLLM's version, the device, dtype, max_model_len, the KV cache and what it
    holds (vLLM's own start-up summary, which its INFO lines gave)."""
    import vllm

    config = llm.llm_engine.vllm_config
    model, cache = config.model_config, config.cache_config
    tokens = int(cache.num_gpu_blocks or 0) * int(cache.block_size)
    size = f"{kv_cache_gb:.2f} GiB, " if kv_cache_gb else ""
    line = (
        f"# vLLM {vllm.__version__} engine on {config.device_config.device_type}: "
        f"{str(model.dtype).removeprefix('torch.')}, max_model_len {model.max_model_len:,}, "
        f"KV cache {size}{tokens:,} tokens "
        f"({tokens / model.max_model_len:.1f} sequences of max_model_len)"
    )
    if chunked_prefill_off:
        line += "; chunked prefill off on CPU (whole prompts: seeded sampling needs it)"
    return line
