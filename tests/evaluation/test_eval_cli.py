"""`video-r1 eval` end to end on a tiny parrot model: lines, summary, failures, resume, drops."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SMALL

from video_r1.cli import main
from video_r1.utils.io import read_jsonl

REPO = Path(__file__).parents[2]


def _eval_args(model: Path, bench: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "--model", str(model), "--bench", str(bench), "--media-root",
            str(bench.parent), "--out", str(out), "--no-progress", *SMALL, *extra]  # fmt: skip


@pytest.fixture(scope="module")
def ordered_run(parrot_dir: Path, bench: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "run"
    assert main(_eval_args(parrot_dir, bench, out, "--batch-size", "3")) == 0
    return out


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def test_lines_and_summary_recomputed_from_lines(ordered_run: Path, bench: Path) -> None:
    lines = read_jsonl(ordered_run / "samples.jsonl")
    records = [json.loads(x) for x in bench.read_text().splitlines()]
    assert sorted(x["key"] for x in lines) == sorted(
        f"bench.jsonl|{r['problem_id']}|ordered" for r in records
    )
    for line in lines:
        assert line["settings"]["frames"] == 4
        assert line["settings"]["decoding"] == {
            "greedy": False,
            "temperature": 0.01,
            "top_p": 0.001,
            "max_new_tokens": 12,
        }
        if line["error"] is None:
            assert line["output"] == "<think>ok</think><answer>A</answer>"
            assert line["answer"] == "A"
            if line["problem_type"] == "multiple choice":  # the parrot always says A
                assert line["correct"] == (line["ground_truth"] == "A")
                assert line["score"]["published"] == float(line["ground_truth"] == "A")
    summary = json.loads((ordered_run / "summary.json").read_text())
    result = summary["orders"]["ordered"]["benchmarks"]["bench.jsonl"]
    scored = [x for x in lines if x["error"] is None]
    assert (result["n"], result["failed"], result["scored"]) == (11, 1, 10)
    assert result["correct"] == sum(x["correct"] for x in scored)
    assert result["score"]["published"] == pytest.approx(
        _mean([x["score"]["published"] for x in scored])
    )
    for problem_type, s in result["by_type"].items():
        group = [x for x in scored if x["problem_type"] == problem_type]
        assert s["n"] == len(group)
        assert s["official"] == pytest.approx(_mean([x["score"]["official"] for x in group]))
    for task, s in result["by_task"].items():
        group = [x for x in lines if x["data_source"] == task]
        assert (s["n"], s["failed"]) == (len(group), sum(x["error"] is not None for x in group))
    assert summary["orders"]["ordered"]["overall"]["n"] == 11
    assert summary["settings"]["video_max_pixels"] == 12544
    md = (ordered_run / "summary.md").read_text()
    assert "| **bench.jsonl** | all | 11 | 1 |" in md


def test_broken_media_is_failed_not_wrong(ordered_run: Path) -> None:
    lines = read_jsonl(ordered_run / "samples.jsonl")
    failed = [x for x in lines if x["error"] is not None]
    assert [x["problem_id"] for x in failed] == ["broken-video"]
    assert failed[0]["error"].startswith("MediaError:") and "broken.mp4" in failed[0]["error"]
    assert failed[0]["score"] is None and failed[0]["correct"] is None
    summary = json.loads((ordered_run / "summary.json").read_text())
    assert summary["errors"] == [{"key": failed[0]["key"], "error": failed[0]["error"]}]


def test_kill_and_resume_gives_each_sample_once(
    ordered_run: Path, parrot_dir: Path, bench: Path, tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "video_r1.cli",
        *_eval_args(parrot_dir, bench, out, "--batch-size", "1"),
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = out / "samples.jsonl"
    try:
        while proc.poll() is None:
            if samples.exists() and samples.read_text().count("\n") >= 3:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
    finally:
        proc.wait()
    written = samples.read_text().count("\n")
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert 3 <= written < 11
    with open(samples, "a") as f:  # a kill in the middle of a write leaves a partial line
        f.write('{"key": "bench.jsonl|half')
    assert main(_eval_args(parrot_dir, bench, out, "--batch-size", "1")) == 0
    keys = [x["key"] for x in read_jsonl(samples)]
    assert len(keys) == len(set(keys)) == 11
    resumed = json.loads((out / "summary.json").read_text())
    uninterrupted = json.loads((ordered_run / "summary.json").read_text())
    assert resumed["orders"] == uninterrupted["orders"]


def test_resume_refuses_other_settings(ordered_run: Path, parrot_dir: Path, bench: Path) -> None:
    assert main(_eval_args(parrot_dir, bench, ordered_run, "--frames", "8")) == 2


def test_compare_frame_order_writes_drop_table(
    parrot_dir: Path, bench: Path, tmp_path: Path
) -> None:
    out = tmp_path / "orders"
    assert main(_eval_args(parrot_dir, bench, out, "--batch-size", "4",
                           "--compare-frame-order")) == 0  # fmt: skip
    lines = read_jsonl(out / "samples.jsonl")
    by_order = {o: [x for x in lines if x["frame_order"] == o]
                for o in ("ordered", "shuffled", "reversed")}  # fmt: skip
    assert [len(v) for v in by_order.values()] == [11, 8, 8]  # images only in order
    assert all(x["data_type"] == "video" for x in by_order["shuffled"])
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["task"]: r for r in summary["order_drop"]}
    video_tasks = {x["task"] for x in by_order["ordered"] if x["data_type"] == "video"}
    assert set(rows) == video_tasks | {"(all)"}
    assert rows["(all)"]["n"] == 7  # the broken video is scored in no order
    for row in rows.values():  # the parrot ignores the frames: no drop
        assert row["drop_shuffled"] == row["ordered"] - row["shuffled"] == 0
        assert row["drop_reversed"] == 0
    assert "## Reliance on frame order" in (out / "summary.md").read_text()
