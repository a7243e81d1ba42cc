"""The bad-sample policy: `on_bad_sample: error|skip` with a ceiling on the bad fraction.

A recipe wraps the per-record work (media loading, encoding) and reports failures::

    bad = BadSamples(cfg.data.on_bad_sample, cfg.data.max_bad_fraction, out / "bad_samples.jsonl")
    try:
        example = encode(record)
        bad.count_good()
    except (MediaError, ValueError) as e:
        bad.report(record, reason=str(e), step=step, rank=rank)   # raises under 'error'
    ...
    bad.check(*reduce_counts(accelerator, bad.seen, bad.bad))       # all ranks, every step

A skipped sample is dropped, never replaced by another record. The counts are part of the
checkpoint (`state_dict`), so the fraction survives a resume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from video_r1.utils.io import append_jsonl, atomic_write_jsonl, read_jsonl


class BadSampleError(RuntimeError):
    """A sample failed under `on_bad_sample: error`, or too many samples failed under skip."""


class BadSamples:
    """Counts samples seen and bad on this rank, logs bad ones, enforces the policy."""

    def __init__(self, policy: str, max_fraction: float, log_path: str | Path):
        if policy not in ("error", "skip"):
            raise ValueError(f"on_bad_sample must be 'error' or 'skip', got {policy!r}")
        self.policy = policy
        self.max_fraction = max_fraction
        self.log_path = Path(log_path)
        self.seen = 0
        self.bad = 0

    def count_good(self) -> None:
        self.seen += 1

    def report(self, record: Any, reason: str, step: int, rank: int = 0) -> None:
        """Log one failed record; raise BadSampleError under the 'error' policy."""
        problem_id = getattr(record, "problem_id", None)
        source = getattr(record, "source", "") or str(getattr(record, "media_path", ""))
        if self.policy == "error":
            raise BadSampleError(
                f"{source} (problem_id {problem_id}): {reason} "
                "(set data.on_bad_sample=skip to drop such samples)"
            )
        self.seen += 1
        self.bad += 1
        append_jsonl(
            self.log_path,
            {
                "step": step,
                "rank": rank,
                "problem_id": problem_id,
                "source": source,
                "media_path": str(getattr(record, "media_path", "")),
                "reason": reason,
            },
        )

    def check(self, seen: int, bad: int) -> None:
        """Raise if `bad / seen` (counts over all ranks) exceeds the allowed fraction.

        Example:
            >>> BadSamples("skip", 0.5, "/dev/null").check(seen=10, bad=5)   # 0.5 is allowed
        """
        if seen > 0 and bad / seen > self.max_fraction:
            raise BadSampleError(
                f"{bad} of {seen} samples were bad ({bad / seen:.1%} > data.max_bad_fraction "
                f"{self.max_fraction:.1%}); see {self.log_path}"
            )

    def state_dict(self) -> dict[str, int]:
        return {"seen": self.seen, "bad": self.bad}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seen = int(state["seen"])
        self.bad = int(state["bad"])


def truncate_jsonl_after(path: str | Path, step: int) -> None:
    """Drop rows with `row["step"] > step` (rows written after the checkpoint we resume from).

    Example:
        >>> truncate_jsonl_after("/nonexistent.jsonl", 3)   # no file: nothing to do
    """
    path = Path(path)
    if not path.exists():
        return
    rows = read_jsonl(path, drop_partial_last=True)
    atomic_write_jsonl(path, [r for r in rows if int(r.get("step", 0)) <= step])
