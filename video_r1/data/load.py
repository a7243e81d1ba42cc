"""Loading and writing whole datasets of records (JSON list or JSONL)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from video_r1.data.parse import read_raw_records
from video_r1.data.records import Problem, Record, RecordError, file_order
from video_r1.data.validate import validate_record
from video_r1.utils.io import atomic_write_json, atomic_write_jsonl


def read_records(
    path: str | os.PathLike, media_root: str | os.PathLike
) -> tuple[list[Record], list[Problem]]:
    """Read and validate every record of a dataset; return the good ones and all problems.

    Problems are in file order. Raises FileNotFoundError if `path` or `media_root` is absent.

    Example:
        read_records("train.jsonl", "data/") -> ([Record(...), ...], [Problem(...), ...])
    """
    if not Path(media_root).is_dir():
        raise FileNotFoundError(f"media root {media_root} is not a directory")
    raws, problems = read_raw_records(path)
    records: list[Record] = []
    for raw in raws:
        record, found = validate_record(
            raw.value, str(path), raw.line, media_root, index=raw.index, in_array=raw.in_array
        )
        problems.extend(found)
        if record is not None:
            records.append(record)
    problems.sort(key=file_order)  # JSON problems were collected first
    return records, problems


@dataclass(frozen=True)
class FileEntry:
    """One record of a dataset, in file order: parsed (`record`), or, where its media file is
    missing, its raw JSON value (`raw`) with that problem (`missing_media`)."""

    index: int
    record: Record | None
    raw: dict[str, Any] | None = None
    missing_media: Problem | None = None


def read_records_keeping_missing_media(
    path: str | os.PathLike, media_root: str | os.PathLike
) -> list[FileEntry]:
    """Every record of a dataset in file order, by position (never by line: a one-line JSON
    array holds every record on line 1). A record whose media file is missing comes back raw
    with its problem (eval scores it as failed, annotate records it as dropped); any other
    problem raises RecordError listing them all.
    """
    records, problems = read_records(path, media_root)
    missing = {p.index: p for p in problems if p.field == "path" and "not found" in p.reason}
    fatal = [p for p in problems if p.index not in missing or p.field != "path"]
    if fatal:
        raise RecordError(fatal)
    entries = [FileEntry(r.index, r) for r in records]
    for raw in read_raw_records(path)[0] if missing else []:
        if raw.index in missing:
            entries.append(FileEntry(raw.index, None, raw.value, missing[raw.index]))
    return sorted(entries, key=lambda entry: entry.index)


def load_records(path: str | os.PathLike, media_root: str | os.PathLike) -> list[Record]:
    """Read a dataset; raise RecordError listing every problem if any record is bad."""
    records, problems = read_records(path, media_root)
    if problems:
        raise RecordError(problems)
    return records


def write_records(path: str | os.PathLike, records: Iterable[Record]) -> None:
    """Write records atomically: a JSON list for `.json`, one object per line for `.jsonl`."""
    path = Path(path)
    rows = [r.to_json() for r in records]
    if path.suffix == ".jsonl":
        atomic_write_jsonl(path, rows)
    elif path.suffix == ".json":
        atomic_write_json(path, rows)
    else:
        raise ValueError(f"{path}: unknown dataset suffix {path.suffix!r}; use .json or .jsonl")
