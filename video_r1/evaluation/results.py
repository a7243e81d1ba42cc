"""The append-only per-sample results file: keys, resume, and a saved run description.

Each line is written with `append_jsonl` (flushed and fsynced), so a kill leaves at most a
partial last line. On resume that line is cut off (the file is truncated at the last newline)
before anything is appended, the done keys are read, and those samples are skipped.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from video_r1.utils.io import atomic_write_json, atomic_write_jsonl, read_jsonl


def sample_key(benchmark: str, problem_id: Any, frame_order: str) -> str:
    """The identity of one evaluation sample.

    Example: sample_key("mvbench.json", 17, "shuffled") -> "mvbench.json|17|shuffled"
    """
    return f"{benchmark}|{problem_id}|{frame_order}"


def drop_partial_last_line(path: str | os.PathLike) -> int:
    """Truncate `path` after its last newline (a kill mid-write); return the bytes removed."""
    path = Path(path)
    if not path.exists():
        return 0
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep == len(data):
        return 0
    with open(path, "r+b") as f:
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return len(data) - keep


def read_results(path: str | os.PathLike) -> list[dict]:
    """The complete lines of a results file; ValueError if a key appears twice."""
    lines = read_jsonl(path, drop_partial_last=True)
    seen: set[str] = set()
    for i, line in enumerate(lines, start=1):
        if line["key"] in seen:
            raise ValueError(f"{path}:{i}: sample {line['key']!r} appears twice")
        seen.add(line["key"])
    return lines


def drop_failed(path: str | os.PathLike) -> int:
    """Rewrite the results file (atomically) without its failed lines, so they run again."""
    lines = read_results(path)
    kept = [line for line in lines if line.get("error") is None]
    if len(kept) != len(lines):
        atomic_write_jsonl(path, kept)
    return len(lines) - len(kept)


def describe_differences(saved: Any, current: Any, prefix: str = "") -> list[str]:
    """ "name: old -> new" for every setting that differs, nested keys joined by ".".

    Example:
        describe_differences({"dtype": "auto", "settings": {"frames": 4}},
                             {"dtype": "float32", "settings": {"frames": 4}})
        -> ["dtype: 'auto' -> 'float32'"]
    """
    if isinstance(saved, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(saved) | set(current), key=str):
            out += describe_differences(
                saved.get(key, "(not recorded)"),
                current.get(key, "(not recorded)"),
                f"{prefix}.{key}" if prefix else str(key),
            )
        return out
    return [] if saved == current else [f"{prefix}: {saved!r} -> {current!r}"]


def read_run_description(path: str | os.PathLike) -> dict[str, Any]:
    """A saved run description (eval's run.json, annotate's OUT.run.json). One of a model's
    run without an `engine` is a native one: versions before 2026-11-29 recorded only vLLM.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "run.json"
        >>> _ = path.write_text('{"model": "/m"}')
        >>> read_run_description(path)
        {'model': '/m', 'engine': 'native'}
    """
    saved = json.loads(Path(path).read_text(encoding="utf-8"))
    if ("model" in saved or "teacher" in saved) and "engine" not in saved:
        saved["engine"] = "native"
    return saved


def check_run_description(
    path: str | os.PathLike, description: dict[str, Any], results: str | os.PathLike | None = None
) -> None:
    """Save what the results depend on; on resume, refuse to mix in different settings,
    naming each setting that changed. `results`: the file the results go to; while it holds
    nothing (a start that failed, e.g. on a wrong model path), other settings simply replace
    the saved ones: there is nothing to mix with."""
    path = Path(path)
    started = results is None or (Path(results).exists() and Path(results).stat().st_size > 0)
    if path.exists() and started:
        saved = read_run_description(path)
        changed = describe_differences(saved, description)
        if changed:
            raise ValueError(
                f"{path.parent}: existing results were made with different settings "
                f"({'; '.join(changed[:5])}); use a new output or the same settings"
            )
        return
    atomic_write_json(path, description)


def interrupted_message(command: str, saved: Path, unit: str) -> str:
    """The line after a Ctrl-C of `eval` or `annotate`: what is saved and the command that
    continues (the same one: a rerun resumes, skipping what is saved).

    Example: "eval stopped by SIGINT; 12 samples saved in runs/e/samples.jsonl; continue
    with: video-r1 eval --model ... --out runs/e"
    """
    try:
        with open(saved, "rb") as f:
            count = sum(1 for line in f if line.endswith(b"\n"))
    except FileNotFoundError:
        count = 0
    args = sys.argv[1:]
    again = (
        shlex.join(["video-r1", *args])
        if args and args[0] == command
        else f"the same video-r1 {command} command"
    )
    return f"{command} stopped by SIGINT; {count} {unit} saved in {saved}; continue with: {again}"
