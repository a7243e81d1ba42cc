"""Per-step metrics: reduced across ranks, one JSONL line per step, trackers, a progress bar.

GRPO calls the same logger with its own keys (`train/reward/accuracy`, ...)::

    with MetricsLogger(accelerator, out / "metrics.jsonl", total_steps, start_step,
                       trackers_enabled=bool(cfg.logging.trackers), progress_bar=True) as logger:
        sums = reduce_sums(accelerator, {"loss_sum": s, "tokens": n})  # same on every rank
        logger.log(step, {"train/loss": sums["loss_sum"] / sums["tokens"], ...})
        logger.note("# a line for the reader")   # above the bar, not glued to its end

Keys are `split/group/name`. Only the main process writes; `log` on other ranks only advances
nothing and returns. On resume, `MetricsLogger(..., start_step=k)` drops lines after step k
(written after the checkpoint by the run that stopped), so the curve has no repeated steps.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch

from video_r1.train.bad_samples import truncate_jsonl_after
from video_r1.utils.io import append_jsonl


def reduce_sums(accelerator: Any, values: dict[str, float]) -> dict[str, float]:
    """Sum each value over all processes (one collective for the whole dict)."""
    keys = sorted(values)
    local = torch.tensor(
        [float(values[k]) for k in keys], dtype=torch.float64, device=accelerator.device
    )
    total = accelerator.reduce(local, reduction="sum") if accelerator.num_processes > 1 else local
    return dict(zip(keys, total.tolist(), strict=True))


def reduce_max(accelerator: Any, values: dict[str, float]) -> dict[str, float]:
    """Max of each value over all processes (for peak memory and step time)."""
    keys = sorted(values)
    local = torch.tensor(
        [float(values[k]) for k in keys], dtype=torch.float64, device=accelerator.device
    )
    if accelerator.num_processes > 1:
        gathered = accelerator.gather(local.unsqueeze(0))  # [world, K]
        local = gathered.max(dim=0).values
    return dict(zip(keys, local.tolist(), strict=True))


def peak_memory_gb() -> float:
    """Peak accelerator memory of this process (CUDA), else peak resident memory, in GiB."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**30
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 2**20


class StepTimer:
    """Wall time of a step, started at construction; `elapsed()` in seconds."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


class MetricsLogger:
    """JSONL + accelerate trackers + tqdm bar, on the main process only."""

    def __init__(
        self,
        accelerator: Any,
        jsonl_path: str | Path,
        total_steps: int,
        start_step: int = 0,
        trackers_enabled: bool = True,
        progress_bar: bool = True,
    ):
        self.accelerator = accelerator
        self.jsonl_path = Path(jsonl_path)
        self.trackers_enabled = trackers_enabled
        self.bar = None
        if not accelerator.is_main_process:
            return
        truncate_jsonl_after(self.jsonl_path, start_step)
        if progress_bar:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total_steps,
                initial=start_step,
                desc="train",
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
            )

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Record metrics of optimizer step `step` (1-based: the number of steps done)."""
        if not self.accelerator.is_main_process:
            return
        row = {"step": step, **{k: float(v) for k, v in metrics.items()}}
        append_jsonl(self.jsonl_path, row)  # NaN as null (utils.io.strict_json); read_metrics
        if self.trackers_enabled:
            self.accelerator.log(metrics, step=step)
        if self.bar is not None:
            loss = metrics.get("train/loss")
            if loss is not None:
                self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def note(self, line: str) -> None:
        """One line on stderr (main process only), printed above the bar, not into it."""
        if not self.accelerator.is_main_process:
            return
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def _end_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self._end_bar()
        if self.trackers_enabled:
            # the trackers only: accelerate's end_training also destroys the process group,
            # which the run still needs after the loop (final's barrier, ZeRO-3's gather)
            for tracker in self.accelerator.trackers:
                tracker.finish()
            self.trackers_enabled = False

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            # an error or an interrupt: end the bar's line before the run's `error:` line (glued
            # to an unfinished bar it began no line of a job's log); trackers are left for the
            # process's exit to mark the run failed (wandb's finish() would say it succeeded)
            self._end_bar()


def flat_config(config_yaml: str) -> dict[str, Any]:
    """The config as one level of `section.key` scalars (what trackers accept)."""
    import yaml

    def walk(d: dict, prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(walk(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v if isinstance(v, (int, float, str, bool)) else str(v)
        return out

    return walk(yaml.safe_load(config_yaml))
