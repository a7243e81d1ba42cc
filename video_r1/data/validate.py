"""Validating one raw record against the Video-R1 schema (docs/spec.md#data).

Every check runs, so one record can yield several problems; a record with any problem
yields no `Record`. Nothing is repaired or substituted: a bad record is reported, not fixed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from video_r1.data.records import DATA_TYPES, PROBLEM_TYPES, Problem, Record
from video_r1.rewards.grounding import GROUNDING, solution_problem
from video_r1.rewards.parsing import extract_answer, parse_float

SCHEMA_FIELDS: tuple[str, ...] = (
    "problem_id",
    "problem",
    "data_type",
    "problem_type",
    "options",
    "solution",
    "path",
    "data_source",
    "process",
)
REQUIRED_FIELDS: tuple[str, ...] = (
    "problem_id",
    "problem",
    "data_type",
    "problem_type",
    "solution",
    "path",
)
# "A. red", "B) blue", "C: green": the letter the model must answer with.
_OPTION_RE = re.compile(r"^\s*([A-Z])\s*[.):]")
_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)


def option_letter(option: str) -> str | None:
    """The letter an option starts with, or None if it has none.

    Example:
        >>> option_letter("B. blue")
        'B'
        >>> option_letter("blue") is None
        True
    """
    match = _OPTION_RE.match(option)
    return match.group(1) if match else None


def resolve_media_path(path: str, media_root: str | os.PathLike) -> Path:
    """The absolute media file for a record's `path`, which must stay under `media_root`.

    Raises ValueError (reason in the message) for an absolute path, or one that leaves the
    root through `..` or through a symlink pointing outside. Existence is not checked here.

    Example:
        >>> resolve_media_path("./videos/a.mp4", "/data")
        PosixPath('/data/videos/a.mp4')
    """
    if os.path.isabs(path):
        raise ValueError(f"absolute path {path!r}; paths must be relative to the media root")
    root = Path(media_root).resolve()
    # resolve() follows symlinks, so a link inside the root pointing outside is caught too.
    target = (root / path).resolve()
    if not target.is_relative_to(root):
        raise ValueError(f"{path!r} resolves to {target}, outside the media root {root}")
    return target


def validate_record(
    raw: Any,
    file: str,
    line: int,
    media_root: str | os.PathLike,
    *,
    index: int,
    in_array: bool = False,
) -> tuple[Record | None, list[Problem]]:
    """Check one decoded record; return (Record, []) if good, else (None, problems).

    `index` is the record's 0-based position in `file` (what keys it), `line` where it starts
    and `in_array` whether `file` is a JSON array: together they name it in messages.

    Example:
        validate_record({"problem_id": 1, "problem": "Colour?", "data_type": "image",
        "problem_type": "OCR", "solution": "<answer>CAT</answer>", "path": "a.png"},
        "d.jsonl", 3, root, index=2) -> (Record(...), []) when root/a.png exists.
    """
    if not isinstance(raw, dict):
        reason = f"expected a JSON object, got {type(raw).__name__}"
        return None, [Problem(file, line, "?", "record", reason, index, in_array)]
    pid = raw.get("problem_id", "?")
    problems: list[Problem] = []

    def bad(field: str, reason: str) -> None:
        problems.append(Problem(file, line, pid, field, reason, index, in_array))

    for name in REQUIRED_FIELDS:
        if name not in raw:
            bad(name, "missing required field")
    if "problem_id" in raw and (isinstance(pid, bool) or not isinstance(pid, (int, str))):
        bad("problem_id", f"must be an int or a string, got {type(pid).__name__}")
    for name in ("problem", "solution", "path"):
        if name in raw and not (isinstance(raw[name], str) and raw[name].strip()):
            bad(name, f"must be a non-empty string, got {raw[name]!r}")
    for name in ("data_source", "process"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            bad(name, f"must be a string, got {type(raw[name]).__name__}")
    data_type, problem_type = raw.get("data_type"), raw.get("problem_type")
    if "data_type" in raw and data_type not in DATA_TYPES:
        bad("data_type", f"unknown data_type {data_type!r}; expected one of {list(DATA_TYPES)}")
    if "problem_type" in raw and problem_type not in PROBLEM_TYPES:
        bad(
            "problem_type",
            f"unknown problem_type {problem_type!r}; expected one of {list(PROBLEM_TYPES)}",
        )
    if isinstance(raw.get("process"), str) and not _THINK_RE.search(raw["process"]):
        bad("process", "has no <think>...</think> rationale")

    options = _check_options(raw, problem_type, bad)
    if isinstance(raw.get("solution"), str):
        _check_answer(raw["solution"], problem_type, options, bad)
    media_path = _check_media(raw.get("path"), media_root, bad)
    if media_path is not None and data_type in DATA_TYPES:
        _check_media_kind(media_path, data_type, bad)
    if problem_type == GROUNDING and "data_type" in raw and data_type != "video":
        bad("data_type", f"temporal grounding needs a video, got data_type {data_type!r}")

    if problems:
        return None, problems
    extra = {k: v for k, v in raw.items() if k not in SCHEMA_FIELDS}
    record = Record(
        problem_id=pid,
        problem=raw["problem"],
        data_type=data_type,
        problem_type=problem_type,
        solution=raw["solution"],
        path=raw["path"],
        media_path=media_path,
        options=tuple(options or ()),
        data_source=raw.get("data_source") or "",
        process=raw.get("process"),
        file=file,
        line=line,
        index=index,
        in_array=in_array,
        extra=extra,
    )
    return record, []


def _check_options(raw: dict, problem_type: Any, bad) -> list[str] | None:
    """Options must be a list of lettered strings; present (2+) exactly for multiple choice."""
    options = raw.get("options")
    if options is None:
        options = []
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        bad("options", f"must be a list of strings, got {options!r}")
        return None
    if problem_type != "multiple choice":
        if options:
            bad("options", f"given for a {problem_type!r} question; only multiple choice has them")
        return options
    if len(options) < 2:
        bad("options", f"multiple choice needs at least 2 options, got {len(options)}")
        return None
    letters = [option_letter(o) for o in options]
    unlettered = [o for o, letter in zip(options, letters, strict=True) if letter is None]
    if unlettered:
        bad("options", f"option(s) without a leading letter like 'A.': {unlettered}")
        return None
    if len(set(letters)) != len(letters):
        bad("options", f"repeated option letters {letters}")
        return None
    return options


def _check_answer(solution: str, problem_type: Any, options: list[str] | None, bad) -> None:
    answer = extract_answer(solution)
    if not answer:
        bad("solution", f"no non-empty <answer>...</answer> tag in {solution!r}")
        return
    tags = solution.count("<answer>")
    if tags > 1:  # the scorers would take the first and never say so
        bad("solution", f"{tags} <answer> tags in {solution!r}; a solution has one answer")
        return
    if problem_type == "multiple choice" and options:
        letters = [option_letter(o) for o in options]
        if answer not in letters:
            bad("solution", f"answer {answer!r} is not one of the option letters {letters}")
    elif problem_type in ("numerical", "regression") and parse_float(answer) is None:
        bad("solution", f"answer {answer!r} is not a number")
    elif problem_type == GROUNDING and (reason := solution_problem(answer)):
        bad("solution", reason)


def _check_media(path: Any, media_root: str | os.PathLike, bad) -> Path | None:
    if not (isinstance(path, str) and path.strip()):
        return None  # already reported as a bad field
    try:
        media_path = resolve_media_path(path, media_root)
    except ValueError as err:
        bad("path", str(err))
        return None
    if not media_path.is_file():
        bad("path", f"media file not found: {media_path}")
        return None
    return media_path


# Extensions that say what a file is; others (or none) are not judged here.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".flv", ".wmv", ".mpg",
                  ".mpeg", ".ts", ".3gp"}  # fmt: skip


def _check_media_kind(media_path: Path, data_type: str, bad) -> None:
    """A video record naming an image file would be read as a clip of one repeated frame
    (and an image record naming a video as its first frame): refuse the mismatch."""
    suffix = media_path.suffix.lower()
    if data_type == "video" and suffix in IMAGE_SUFFIXES:
        bad("path", f"data_type 'video' but {media_path.name} is an image file ({suffix})")
    elif data_type == "image" and suffix in VIDEO_SUFFIXES:
        bad("path", f"data_type 'image' but {media_path.name} is a video file ({suffix})")
