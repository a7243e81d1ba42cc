"""The bad-sample policy: `on_bad_sample: error|skip` with a ceiling on the bad fraction.

A recipe wraps the per-record work (media loading, encoding) and reports failures::

    bad = BadSamples(cfg.data.on_bad_sample, cfg.data.max_bad_fraction, out / "bad_samples.jsonl")
    try:
        example = encode(record)
        bad.count_good()
    except (MediaError, ValueError) as e:
        bad.report(record, reason=str(e), step=step, rank=rank)   # raises under 'error'
    ...
    bad.check(reduce_sums(accelerator, {"bad": bad.bad})["bad"], planned)  # every step

A skipped sample is dropped, never replaced by another record. The counts are part of the
checkpoint (`state_dict`), so the fraction survives a resume.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from video_r1.utils.io import append_jsonl, atomic_write_jsonl, read_jsonl


class BadSampleError(RuntimeError):
    """A sample failed under `on_bad_sample: error`, or too many samples failed under skip."""


def find_filler(candidates: Iterable[int], encode: Callable[[int], Any]) -> Any:
    """`encode(i)` of the first candidate record index that encodes (a filler micro-batch).

    A filler trains with weight 0, so its failures are not bad samples and are not logged.
    Candidates come from `RecordSampler.filler_order(step)`: the same on every resume.
    """
    for index in candidates:
        try:
            return encode(index)
        except Exception:  # a bad record cannot be a filler: try the next one
            continue
    raise BadSampleError("no record of the dataset encodes, so there is nothing to train on")


class BadSamples:
    """Counts samples seen and bad on this rank, logs bad ones, enforces the policy.

    The cap is a fraction of the samples the whole run plans to train on (steps x records per
    step), not of those seen so far, which would stop a run whose first sample is bad.
    """

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
        source = getattr(record, "source", "")  # a Record's or a Problem's: both name it
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
                "index": getattr(record, "index", None),  # position in the data file: unique
                "source": source,
                "media_path": str(getattr(record, "media_path", "")),
                "reason": reason,
            },
        )

    def check(self, bad: int, planned: int) -> None:
        """Raise once `bad` (over all ranks) exceeds the allowed fraction of the `planned`
        samples of the whole run: the run stops as soon as the cap is certain to be broken,
        and a bad sample early in the run is not over-weighted.

        Example:
            >>> BadSamples("skip", 0.01, "/dev/null").check(bad=10, planned=1000)  # allowed
        """
        if bad > self.max_fraction * planned:
            raise BadSampleError(
                f"{bad} bad samples of the {planned} this run trains on: more than "
                f"data.max_bad_fraction {self.max_fraction:.1%}; see {self.log_path}"
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
