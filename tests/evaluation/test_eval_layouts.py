"""Evaluation and annotation read a benchmark the same whether it is JSONL, an indented JSON
array or a one-line JSON array (issue 57: in a one-line array every record starts on line 1;
samples keyed by that line overwrote each other, and a run scored only the last record)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _layouts import LAYOUTS, expected_source, write_layout
from conftest import SMALL

from video_r1.cli import main
from video_r1.utils.io import read_jsonl

PARROT = "<think>ok</think><answer>A</answer>"
GONE = {"problem_id": "gone-video", "path": "media/gone.mp4"}  # its media file is missing


def _with_gone(rows: list[dict]) -> list[dict]:
    return [*rows, {**rows[0], **GONE}]


@pytest.fixture(scope="module")
def bench_rows(bench: Path) -> list[dict]:
    """Six records of the test bench (the corrupt video last) and one whose media are gone."""
    rows = [json.loads(x) for x in bench.read_text().splitlines()]
    return _with_gone(rows[:6])


def _lines(out: Path, path: Path, layout: str, gone_index: int) -> list[dict]:
    """samples.jsonl without what names the file, sorted: comparable across layouts. The
    missing-media error must name the record (`<where>` once that is taken out)."""
    where = expected_source(path, layout, gone_index)
    lines = []
    for line in read_jsonl(out / "samples.jsonl"):
        line = {k: v for k, v in line.items() if k not in ("key", "benchmark", "benchmark_file")}
        if line["error"] and line["problem_id"] == GONE["problem_id"]:
            line["error"] = line["error"].replace(where, "<where>")
        lines.append(line)
    return sorted(lines, key=lambda x: str(x["problem_id"]))


def _scores(out: Path, path: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    return summary["orders"]["ordered"]["benchmarks"][path.name]


def test_eval_with_a_model_scores_every_record_of_every_layout(
    parrot_dir: Path, synth_root: Path, bench_rows: list[dict], tmp_path: Path
) -> None:
    results = []
    for layout in LAYOUTS:
        path = write_layout(bench_rows, tmp_path / layout, "bench", layout)
        out = tmp_path / layout / "run"
        argv = ["eval", "--model", str(parrot_dir), "--bench", str(path), "--media-root",
                str(synth_root), "--out", str(out), "--no-progress", "--batch-size", "4", *SMALL]  # fmt: skip
        assert main(argv) == 0
        lines = _lines(out, path, layout, len(bench_rows) - 1)
        assert len(lines) == len(bench_rows)
        assert sorted(str(x["problem_id"]) for x in lines) == sorted(
            str(r["problem_id"]) for r in bench_rows
        )
        assert [x["problem_id"] for x in lines if x["error"]] == ["broken-video", "gone-video"]
        results.append((lines, _scores(out, path)))
    assert results[0] == results[1] == results[2]
    assert results[0][1]["n"] == len(bench_rows)
    [gone] = [x for x in results[0][0] if x["problem_id"] == GONE["problem_id"]]
    assert gone["error"].startswith("MediaError: <where> (gone-video): path: media file not")


def test_eval_of_predictions_scores_every_record_of_every_layout(
    bench_rows: list[dict], tmp_path: Path
) -> None:
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"problem_id": r["problem_id"], "output": PARROT}) + "\n"
                             for r in bench_rows))  # fmt: skip
    results = []
    for layout in LAYOUTS:
        path = write_layout(bench_rows, tmp_path / layout, "bench", layout)
        out = tmp_path / layout / "scored"
        argv = ["eval", "--predictions", str(preds), "--bench", str(path), "--out", str(out)]
        assert main(argv) == 0  # was, for a one-line array: "unknown problem_id"
        lines = _lines(out, path, layout, len(bench_rows) - 1)
        assert [x["output"] for x in lines] == [PARROT] * len(bench_rows)
        results.append((lines, _scores(out, path)))
    assert results[0] == results[1] == results[2]
    assert results[0][1]["n"] == len(bench_rows)


def test_annotate_answers_every_record_of_every_layout(
    parrot_dir: Path, synth_root: Path, tmp_path: Path
) -> None:
    train = [json.loads(x) for x in (synth_root / "train.jsonl").read_text().splitlines()[:4]]
    rows = _with_gone(train)
    results = []
    for layout in LAYOUTS:
        path = write_layout(rows, tmp_path / layout, "train", layout)
        out = tmp_path / layout / "cot.jsonl"
        argv = ["annotate", "--teacher", str(parrot_dir), "--data", str(path), "--media-root",
                str(synth_root), "--out", str(out), "--skip-missing-media", "--no-progress",
                "--batch-size", "2", *SMALL]  # fmt: skip
        assert main(argv) == 0
        progress = read_jsonl(out.with_name("cot.jsonl.progress.jsonl"))
        assert sorted(str(x["problem_id"]) for x in progress) == sorted(
            str(r["problem_id"]) for r in rows
        )
        [gone] = [x for x in progress if x["reason"] == "media error"]
        judged = sorted((str(x["problem_id"]), x["kept"], x["reason"]) for x in progress)
        summary = json.loads(out.with_suffix(".summary.json").read_text())
        where = expected_source(path, layout, len(rows) - 1)
        results.append((read_jsonl(out), judged, summary, gone["error"].replace(where, "<where>")))
    assert results[0] == results[1] == results[2]
    assert results[0][3].startswith("MediaError: <where> (gone-video): path: media file not")
    kept, _, summary, _ = results[0]
    assert summary["records"] == len(rows) and summary["dropped"]["media error"] == 1
    expected = [r["problem_id"] for r in train if r["solution"] == "<answer>A</answer>"]
    assert [r["problem_id"] for r in kept] == expected  # the parrot is right where A is
