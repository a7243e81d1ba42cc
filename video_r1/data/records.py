"""Records: one question of a Video-R1-format dataset, validated against the schema.

The schema (docs/spec.md#data): problem_id, problem, data_type (image|video),
problem_type (multiple choice|numerical|OCR|free-form|regression|temporal grounding), options
(multiple choice only), solution ("<answer>B</answer>"; temporal grounding:
"<answer>[1.0, 3.0]</answer>", start and end in seconds of the original video), path (relative to a media root),
data_source, and process (CoT set only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROBLEM_TYPES: tuple[str, ...] = (
    "multiple choice",
    "numerical",
    "OCR",
    "free-form",
    "regression",
    "temporal grounding",  # solution "<answer>[start, end]</answer>", seconds of the video
)
DATA_TYPES: tuple[str, ...] = ("image", "video")


def record_location(file: str, line: int, index: int | None, in_array: bool) -> str:
    """How a message names a record: `file:line` in JSONL, `file[index] (line N)` in a JSON array.

    In a JSON array the line alone does not say which record (a one-line array holds them all on
    line 1), so the 0-based position (as `jq '.[17]'` counts) comes first. `index` None is a
    fault of the array itself (an unclosed list), not of one record.

    Example:
        >>> record_location("train.jsonl", 12, 11, in_array=False)
        'train.jsonl:12'
        >>> record_location("bench.json", 1, 17, in_array=True)
        'bench.json[17] (line 1)'
        >>> record_location("bench.json", 4, None, in_array=True)
        'bench.json (line 4)'
    """
    if not in_array:
        return f"{file}:{line}"
    position = "" if index is None else f"[{index}]"
    return f"{file}{position} (line {line})"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one record; str() is `source (problem_id): field: reason`, where
    source is `file:line` (JSONL) or `file[index] (line N)` (JSON array): see record_location.

    `index` (the record's 0-based position in its file) is what tells records apart: group or
    count problems by it, never by `line`. It is None for a fault of the file's structure
    (an unclosed list, text after `]`) that belongs to no record.
    """

    file: str
    line: int
    problem_id: Any
    field: str
    reason: str
    index: int | None = None
    in_array: bool = False  # the file is a JSON array (names records by position)

    @property
    def source(self) -> str:
        return record_location(self.file, self.line, self.index, self.in_array)

    def __str__(self) -> str:
        return f"{self.source} ({self.problem_id}): {self.field}: {self.reason}"


def file_order(problem: Problem) -> tuple[int, float]:
    """A sort key putting problems in the order of the file (a one-line array: by position).

    Example:
        >>> sorted([Problem("d.json", 1, 2, "path", "", 4), Problem("d.json", 1, 1, "json", "", 0)],
        ...        key=file_order)[0].problem_id
        1
    """
    return problem.line, float("inf") if problem.index is None else problem.index


def bad_record_count(problems: list[Problem]) -> int:
    """How many records have a problem (one record may have several; faults of the file's
    structure belong to none). Counted by position: on one line there may be many records.

    Example:
        >>> bad_record_count([Problem("d.json", 1, 1, "path", "", 0),
        ...                   Problem("d.json", 1, 1, "solution", "", 0),
        ...                   Problem("d.json", 1, 2, "path", "", 1)])
        2
    """
    return len({p.index for p in problems if p.index is not None})


def problems_by_record(problems: list[Problem]) -> list[list[Problem]]:
    """The problems grouped per bad record (by position), in file order; a fault of the file's
    structure (index None) is a group of its own. One record is one bad sample, however many
    of its fields are wrong.

    Example:
        >>> groups = problems_by_record([Problem("d.json", 1, 1, "path", "", 0),
        ...                              Problem("d.json", 1, 2, "path", "", 1),
        ...                              Problem("d.json", 1, 1, "solution", "", 0)])
        >>> [[p.field for p in g] for g in groups]
        [['path', 'solution'], ['path']]
    """
    groups: dict[Any, list[Problem]] = {}
    for n, problem in enumerate(sorted(problems, key=file_order)):
        key = ("record", problem.index) if problem.index is not None else ("file", n)
        groups.setdefault(key, []).append(problem)
    return list(groups.values())


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
    # where the record was read: `index` (0-based position in the file) tells records apart
    # and keys them; file, line and in_array only name it for people (`source`)
    file: str = ""
    line: int = 0
    index: int = 0
    in_array: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # other fields kept as-is

    @property
    def source(self) -> str:
        """`file:line` or `file[index] (line N)` for messages; "" for a record made in code."""
        if not self.file:
            return ""
        return record_location(self.file, self.line, self.index, self.in_array)

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
