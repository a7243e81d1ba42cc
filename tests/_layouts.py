"""The same records written in the three layouts a dataset file comes in (issue 57).

`json.dump(records, f)` writes a whole JSON array on line 1, so there the line does not tell
records apart; tests run every command on all three layouts and expect the same outcome.
"""

from __future__ import annotations

import json
from pathlib import Path

LAYOUTS = ("jsonl", "json-indented", "json-one-line")


def write_layout(rows: list[dict], folder: Path, stem: str, layout: str) -> Path:
    """Write `rows` to folder/stem.jsonl (JSONL) or folder/stem.json (a JSON array)."""
    folder.mkdir(parents=True, exist_ok=True)
    if layout == "jsonl":
        path = folder / f"{stem}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif layout == "json-indented":
        path = folder / f"{stem}.json"
        path.write_text(json.dumps(rows, indent=2) + "\n")
    elif layout == "json-one-line":
        path = folder / f"{stem}.json"
        path.write_text(json.dumps(rows))
        assert path.read_text().count("\n") == 0
    else:
        raise ValueError(f"unknown layout {layout!r}")
    return path


def expected_source(path: Path, layout: str, index: int) -> str:
    """How a message names the record at `index` of a file of `layout` (its position for a JSON
    array; the line of JSONL, one record a line here)."""
    if layout == "jsonl":
        return f"{path}:{index + 1}"
    text = path.read_text()
    if layout == "json-one-line":
        return f"{path}[{index}] (line 1)"
    # indent=2: every record opens with a line "  {"
    starts = [n for n, line in enumerate(text.split("\n"), start=1) if line == "  {"]
    return f"{path}[{index}] (line {starts[index]})"
