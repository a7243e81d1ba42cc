"""Records: one question of a Video-R1-format dataset, validated against the schema.

The schema (docs/spec.md#data): problem_id, problem, data_type (image|video),
problem_type (multiple choice|numerical|OCR|free-form|regression), options (multiple
choice only), solution ("<answer>B</answer>"), path (relative to a media root),
data_source, and process (CoT set only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROBLEM_TYPES: tuple[str, ...] = ("multiple choice", "numerical", "OCR", "free-form", "regression")
DATA_TYPES: tuple[str, ...] = ("image", "video")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one record; str() is `file:line (problem_id): field: reason`."""

    file: str
    line: int
    problem_id: Any
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} ({self.problem_id}): {self.field}: {self.reason}"


class RecordError(ValueError):
    """A dataset has bad records; `.problems` lists every one."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n".join(str(p) for p in problems[:20])
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} problem(s) in dataset:\n{shown}{more}")


@dataclass(frozen=True)
class Record:
    """A validated record. `media_path` is absolute and lies under the media root."""

    problem_id: int | str
    problem: str
    data_type: str  # "image" | "video"
    problem_type: str  # one of PROBLEM_TYPES
    solution: str  # as written in the file, e.g. "<answer>B</answer>"
    path: str  # as written in the file, relative to the media root
    media_path: Path
    options: tuple[str, ...] = ()
    data_source: str = ""
    process: str | None = None  # "<think>...</think>" rationale (CoT set)
    source: str = ""  # "file:line" where the record was read, for error messages
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # other fields kept as-is

    @property
    def answer(self) -> str:
        """The ground-truth answer: the content of the solution's <answer> tag."""
        from video_r1.rewards.parsing import extract_answer

        return extract_answer(self.solution)

    def to_json(self) -> dict[str, Any]:
        """The record as written in a dataset file (schema fields plus extras)."""
        out: dict[str, Any] = dict(self.extra)
        out.update(
            problem_id=self.problem_id,
            problem=self.problem,
            data_type=self.data_type,
            problem_type=self.problem_type,
            solution=self.solution,
            path=self.path,
            data_source=self.data_source,
        )
        if self.options:
            out["options"] = list(self.options)
        if self.process is not None:
            out["process"] = self.process
        return out
