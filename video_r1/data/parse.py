"""Reading a dataset file into raw JSON values with their position and the line each starts on.

Two layouts are accepted: a JSON list of objects, and JSONL (one object per line). A file
is a JSON list when its first non-blank character is `[`, whatever its suffix, because
published datasets name JSONL files `.json` and the reverse.

Errors never stop the reading: a line (JSONL) or element (list) that is not valid JSON
becomes a `Problem` and the rest of the file is still read, so `data check` reports every
broken record in one pass.

A record is told apart from the others by its `index` (0-based position in the file), never
by its line: `json.dump(records, f)` writes a whole array on line 1.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from video_r1.data.records import Problem

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n"


@dataclass(frozen=True)
class RawRecord:
    """One decoded JSON value of a dataset file.

    `index` is its 0-based position among the file's records (a JSONL line or array element
    that is not valid JSON holds a position too); `line` (1-based) is where it starts.
    """

    index: int
    line: int
    value: Any
    in_array: bool = False  # read from a JSON array, not JSONL


def read_raw_records(path: str | os.PathLike) -> tuple[list[RawRecord], list[Problem]]:
    """Decode every record of a JSON-list or JSONL file; undecodable ones become problems.

    Raises FileNotFoundError / UnicodeDecodeError for a file that cannot be read at all.

    Example:
        a file holding `[{"a": 1}, {"a": 2}]` gives
        ([RawRecord(0, 1, {"a": 1}, True), RawRecord(1, 1, {"a": 2}, True)], [])
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")  # a UTF-8 BOM (some Windows editors) is fine
    if text.lstrip(_WHITESPACE).startswith("["):
        return _read_json_list(text, str(path))
    return _read_jsonl(text, str(path))


def json_problem(
    file: str, line: int, reason: str, index: int | None, in_array: bool = False
) -> Problem:
    """The problem for text that is not valid JSON: `file:line (?): json: reason`.

    `index` is the broken record's position, None for a fault of the array itself.
    """
    return Problem(file, line, "?", "json", reason, index=index, in_array=in_array)


def _read_jsonl(text: str, file: str) -> tuple[list[RawRecord], list[Problem]]:
    records: list[RawRecord] = []
    problems: list[Problem] = []
    # "\n" only: str.splitlines also breaks at U+2028, U+2029 and U+0085, which JSON strings
    # may hold raw (write_records writes them so), and would cut such a record in two
    index = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue  # blank lines (a trailing newline, spacing) carry no record
        try:
            records.append(RawRecord(index, number, json.loads(line)))
        except json.JSONDecodeError as err:
            problems.append(json_problem(file, number, f"{err.msg} (column {err.colno})", index))
        index += 1
    return records, problems


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _read_json_list(text: str, file: str) -> tuple[list[RawRecord], list[Problem]]:
    """Walk the top-level list element by element so each record keeps its position and
    start line. A broken element takes a position too (after it, positions are the best
    guess a resync allows)."""
    records: list[RawRecord] = []
    problems: list[Problem] = []
    pos = _skip_ws(text, 0) + 1  # past "["
    pos = _skip_ws(text, pos)
    if pos < len(text) and text[pos] == "]":
        return records, _trailing(text, pos + 1, file)
    index = 0
    while pos < len(text):
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            reason = f"{err.msg} (column {err.colno})"
            problems.append(json_problem(file, err.lineno, reason, index, in_array=True))
            index += 1
            resume = _resync(text, err.pos if err.pos > pos else pos + 1)
            if resume is None:
                return records, problems
            pos = resume
            continue
        records.append(RawRecord(index, _line_of(text, pos), value, in_array=True))
        index += 1
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
        elif pos < len(text) and text[pos] == "]":
            return records, problems + _trailing(text, pos + 1, file)
        else:
            where = _line_of(text, pos)
            reason = "expected ',' or ']' after a record" if pos < len(text) else "unclosed list"
            problems.append(json_problem(file, where, reason, None, in_array=True))
            resume = _resync(text, pos)
            if resume is None:
                return records, problems
            pos = resume
    problems.append(json_problem(file, _line_of(text, len(text)), "unclosed list", None, True))
    return records, problems


def _resync(text: str, pos: int) -> int | None:
    """After a syntax error, the start of the next element that decodes, or None.

    A candidate is a `{` whose previous non-blank character is `,` or `[`: the start of a
    list element. (An object nested inside a record can look the same; at worst that
    reports one more problem for the same broken record, never hides one.)
    """
    cursor = pos
    while True:
        start = text.find("{", cursor)
        if start < 0:
            return None
        before = text[:start].rstrip(_WHITESPACE)
        if before.endswith((",", "[")):
            try:
                _DECODER.raw_decode(text, start)
                return start
            except json.JSONDecodeError:
                pass
        cursor = start + 1


def _trailing(text: str, pos: int, file: str) -> list[Problem]:
    pos = _skip_ws(text, pos)
    if pos < len(text):
        reason = "extra data after the closing ']'"
        return [json_problem(file, _line_of(text, pos), reason, None, in_array=True)]
    return []
