"""Results made without a model in this process: outputs from elsewhere, and shard folders.

- `score_predictions`: `video-r1 eval --predictions FILE --bench B.json --out DIR` scores a
  JSONL of {"problem_id", "output"} lines (from vLLM, lmms-eval, another machine) with the
  same scoring, summary and report as a model run. A line may add "benchmark" (the bench
  file's name, needed when a problem_id is in several files) and "frame_order".
- `merge_shards`: `video-r1 eval --merge DIR... --out DIR` joins the folders of a
  `--shard i/n` run (every shard present once, each finished, same settings) into one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from video_r1.evaluation.results import (
    check_run_description,
    describe_differences,
    read_results,
    read_run_description,
    sample_key,
)
from video_r1.evaluation.runner import EvalResult, Sample, load_samples, make_line, write_summary
from video_r1.evaluation.settings import FRAME_ORDERS
from video_r1.utils.hashing import file_sha256
from video_r1.utils.io import atomic_write_jsonl, read_jsonl
from video_r1.utils.lock import hold_lock


def _prediction_key(
    where: str, line: dict, by_id: dict[str, list[str]], benchmarks: list[str]
) -> str:
    """The sample key a prediction line answers; ValueError naming the line if it has none."""
    for field in ("problem_id", "output"):
        if field not in line:
            raise ValueError(f"{where}: no {field!r} (expected {{'problem_id', 'output'}})")
    if not isinstance(line["output"], str):
        raise ValueError(f"{where}: 'output' must be a string, got {type(line['output']).__name__}")
    pid, order = str(line["problem_id"]), line.get("frame_order", "ordered")
    owners = by_id.get(pid, [])
    if "benchmark" in line:
        if line["benchmark"] not in owners:
            raise ValueError(f"{where}: problem_id {pid!r} is not in {line['benchmark']!r}")
        owners = [line["benchmark"]]
    if not owners:
        raise ValueError(f"{where}: unknown problem_id {pid!r} (in none of {benchmarks})")
    if len(owners) > 1:
        raise ValueError(
            f"{where}: problem_id {pid!r} is in {owners}; add a 'benchmark' field to the line"
        )
    return sample_key(owners[0], pid, order)


def read_predictions(
    path: Path, predictions: list[dict], samples: list[Sample], benchmarks: list[str]
) -> dict[str, str]:
    """Sample key -> output; ValueError for an unknown, repeated or missing problem id."""
    by_id: dict[str, list[str]] = {}
    for sample in samples:
        if sample.benchmark not in by_id.get(str(sample.fields["problem_id"]), []):
            by_id.setdefault(str(sample.fields["problem_id"]), []).append(sample.benchmark)
    keys = {s.key for s in samples}
    outputs: dict[str, str] = {}
    for i, line in enumerate(predictions, start=1):
        key = _prediction_key(f"{path}:{i}", line, by_id, benchmarks)
        if key not in keys:
            raise ValueError(
                f"{path}:{i}: no sample {key!r} (images have only frame order ordered)"
            )
        if key in outputs:
            raise ValueError(f"{path}:{i}: a second prediction for {key!r}")
        outputs[key] = line["output"]
    missing = [s.key for s in samples if s.key not in outputs]
    if missing:
        raise ValueError(
            f"{path}: no prediction for {len(missing)} of {len(samples)} samples, e.g. "
            f"{missing[:5]} (problem ids of the bench files must all be answered)"
        )
    return outputs


def score_predictions(predictions: Path, benchmarks: list[Path], out: Path) -> EvalResult:
    """Score `predictions` against `benchmarks` into `out` (samples.jsonl, summary.*)."""
    from video_r1.evaluation.summary import score_output

    predicted = read_jsonl(predictions)
    orders = {line.get("frame_order", "ordered") for line in predicted if isinstance(line, dict)}
    unknown = sorted(str(o) for o in orders - set(FRAME_ORDERS))
    if unknown:
        raise ValueError(f"{predictions}: unknown frame_order {unknown}; expected {FRAME_ORDERS}")
    orders = ["ordered", *sorted(orders - {"ordered"})]
    names = [b.name for b in benchmarks]
    out.mkdir(parents=True, exist_ok=True)
    with hold_lock(out / ".lock"):
        # the media are not needed: a record whose file is absent is scored all the same
        samples = [s for b in benchmarks for s in load_samples(b, b.parent, orders)]
        outputs = read_predictions(predictions, predicted, samples, names)
        description = {
            "predictions": {"file": predictions.name, "sha256": file_sha256(predictions)},
            "benchmarks": {b.name: file_sha256(b) for b in benchmarks},
        }
        check_run_description(out / "run.json", description)
        source = {"predictions": predictions.name}
        lines = []
        for sample in samples:
            output = outputs[sample.key]
            scored = score_output(
                output,
                sample.fields["ground_truth"],
                sample.fields["problem_type"],
                sample.fields["category"],
            )
            lines.append(make_line(sample, source, output=output, **scored))
        atomic_write_jsonl(out / "samples.jsonl", lines)
        return write_summary(out, lines, names, orders, predictions=str(predictions))


def _read_shard(folder: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict]]:
    """(run description, summary, lines) of one finished shard folder; ValueError otherwise."""
    run_json, summary_json = folder / "run.json", folder / "summary.json"
    if not run_json.exists():
        raise ValueError(f"{folder}: no run.json (not an eval output folder)")
    description = read_run_description(run_json)
    if not description.get("shard"):
        raise ValueError(f"{folder}: not a shard (run without --shard)")
    lines = read_results(folder / "samples.jsonl") if (folder / "samples.jsonl").exists() else []
    summary = json.loads(summary_json.read_text(encoding="utf-8")) if summary_json.exists() else {}
    expected = sum(r["overall"]["n"] for r in summary.get("orders", {}).values())
    if not summary or len(lines) != expected:
        raise ValueError(
            f"{folder}: shard {description['shard']} is not finished; rerun its command to resume"
        )
    return description, summary, lines


def merge_shards(folders: list[Path], out: Path) -> EvalResult:
    """One evaluation from the finished folders of every shard of one `--shard i/n` run."""
    if out.resolve() in {f.resolve() for f in folders}:
        raise ValueError(f"--out {out} is one of the shard folders; merge into a new folder")
    shards = [(f, *_read_shard(f)) for f in folders]
    first = {k: v for k, v in shards[0][1].items() if k != "shard"}
    count = int(shards[0][1]["shard"].split("/")[1])
    orders = list(shards[0][2]["orders"])
    for folder, description, summary, _ in shards:
        changed = describe_differences(
            first, {k: v for k, v in description.items() if k != "shard"}
        )
        if changed:
            raise ValueError(
                f"{folder}: made with other settings than {shards[0][0]} ({'; '.join(changed[:5])})"
            )
        if list(summary["orders"]) != orders:
            raise ValueError(f"{folder}: frame orders {list(summary['orders'])}, not {orders}")
    seen = sorted(int(d["shard"].split("/")[0]) for _, d, _, _ in shards)
    if seen != list(range(1, count + 1)):
        raise ValueError(f"shards {seen} given; need each of 1..{count} exactly once")
    lines = [line for *_, shard_lines in shards for line in shard_lines]
    out.mkdir(parents=True, exist_ok=True)
    with hold_lock(out / ".lock"):
        check_run_description(out / "run.json", {**first, "shard": None, "merged": count})
        atomic_write_jsonl(out / "samples.jsonl", lines)
        summary = shards[0][2]
        return write_summary(
            out,
            read_results(out / "samples.jsonl"),  # refuses a sample in two shards
            list(first["benchmarks"]),
            orders,
            settings=summary.get("settings"),
            model=summary.get("model"),
        )
