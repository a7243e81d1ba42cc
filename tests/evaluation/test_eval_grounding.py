"""Temporal grounding in evaluation: per-sample IoU under both semantics, mIoU and R@m per
benchmark and overall in summary.json and summary.md, and `eval --predictions` scoring them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from video_r1.cli import main
from video_r1.evaluation.report import markdown_report
from video_r1.evaluation.summary import score_output, summarize_lines, summarize_run
from video_r1.utils.io import read_jsonl

GT = "[1.0, 3.0]"


def test_score_output_reads_the_answer_and_time_r1_reads_the_whole_output() -> None:
    got = score_output("<think>0 to 9?</think><answer>2 to 4</answer>", GT, "temporal grounding")
    assert got["answer"] == "2 to 4"
    assert got["score"] == pytest.approx({"published": 1 / 3, "official": 1 / 3})
    assert got["correct"] is False  # correct is IoU >= 0.5
    # a dash: ours reads it, Time-R1's evaluate.py (NUMBER (to|and) NUMBER) does not
    got = score_output("<answer>1.5 - 3</answer>", GT, "temporal grounding")
    assert got["score"] == pytest.approx({"published": 0.75, "official": 0.0})
    assert got["correct"] is True
    # no tag: the whole output is the answer; Time-R1 takes its last "A to B"
    got = score_output("first 0 to 1, finally 1 to 3", GT, "temporal grounding")
    assert got["score"] == {"published": 0.0, "official": 1.0}


def _line(benchmark: str, pid: int, iou: float, error: str | None = None) -> dict:
    score = None if error else {"published": iou, "official": iou}
    return {"benchmark": benchmark, "problem_id": pid, "task": "tg", "category": None,
            "problem_type": "temporal grounding", "data_type": "video", "frame_order": "ordered",
            "score": score, "correct": None if error else iou >= 0.5, "error": error}  # fmt: skip


def test_miou_and_recall_count_unreadable_answers_as_zero_and_skip_failed_samples() -> None:
    # IoUs 1.0, 0.6, 0.3, 0.0 (an unreadable answer scores 0), plus a sample that could not run
    lines = [_line("a", 1, 1.0), _line("a", 2, 0.6), _line("a", 3, 0.3), _line("a", 4, 0.0),
             _line("a", 5, 0.0, error="MediaError: gone")]  # fmt: skip
    s = summarize_lines(lines)
    assert (s["n"], s["failed"], s["scored"], s["correct"]) == (5, 1, 4, 2)
    g = s["grounding"]
    assert g["n"] == 4
    assert g["miou"]["published"] == pytest.approx(1.9 / 4)
    assert g["recall@0.3"]["published"] == 0.75  # IoU >= 0.3: 1.0, 0.6, 0.3
    assert g["recall@0.5"]["official"] == 0.5
    assert g["recall@0.7"]["published"] == 0.25
    assert s["by_type"]["temporal grounding"]["metric"] == "mIoU"
    assert "grounding" not in summarize_lines([])  # no grounding sample: no grounding block


def test_grounding_metrics_per_benchmark_and_overall_in_json_and_markdown() -> None:
    lines = [_line("a", 1, 1.0), _line("a", 2, 0.4), _line("b", 1, 0.8), _line("b", 2, 0.0)]
    summary = summarize_run(lines, ["a", "b"], ["ordered"])
    result = summary["orders"]["ordered"]
    assert result["benchmarks"]["a"]["grounding"]["recall@0.5"]["published"] == 0.5
    assert result["benchmarks"]["b"]["grounding"]["miou"]["published"] == pytest.approx(0.4)
    overall = result["overall"]["grounding"]
    assert overall["miou"]["published"] == pytest.approx(2.2 / 4)
    assert [overall[f"recall@{m}"]["published"] for m in (0.3, 0.5, 0.7)] == [0.75, 0.5, 0.5]
    md = markdown_report(summary)
    assert "| a / temporal grounding | mIoU | 2 |  | 70.0 | 70.0 |" in md
    assert "| overall / grounding R@0.3 | IoU >= 0.3 | 4 |  | 75.0 | 75.0 |" in md
    assert "| b / grounding R@0.7 | IoU >= 0.7 | 2 |  | 50.0 | 50.0 |" in md
    assert "R@m the share of samples with IoU >= m" in md


def _bench(path: Path, intervals: list[tuple[float, float]]) -> Path:
    rows = [{"problem_id": f"{path.stem}-{i}", "problem": "the door opens", "data_type": "video",
             "problem_type": "temporal grounding", "solution": f"<answer>[{s}, {e}]</answer>",
             "path": f"v{i}.mp4", "data_source": "charades"}
            for i, (s, e) in enumerate(intervals)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_eval_predictions_scores_grounding_outputs(tmp_path: Path) -> None:
    a = _bench(tmp_path / "a.jsonl", [(1.0, 3.0), (0.0, 10.0)])
    b = _bench(tmp_path / "b.jsonl", [(2.0, 4.0)])
    outputs = {
        "a-0": "<think>x</think><answer>from 1 to 3 seconds</answer>",  # IoU 1
        "a-1": "<answer>00:05 - 00:10</answer>",  # IoU 0.5
        "b-0": "<answer>I cannot tell</answer>",  # unreadable: IoU 0
    }
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"problem_id": k, "output": v}) + "\n"
                             for k, v in outputs.items()))  # fmt: skip
    out = tmp_path / "scored"
    argv = ["eval", "--predictions", str(preds), "--bench", str(a), str(b), "--out", str(out)]
    assert main(argv) == 0
    lines = {x["problem_id"]: x for x in read_jsonl(out / "samples.jsonl")}
    assert [lines[k]["score"]["published"] for k in outputs] == [1.0, 0.5, 0.0]
    assert [lines[k]["correct"] for k in outputs] == [True, True, False]
    result = json.loads((out / "summary.json").read_text())["orders"]["ordered"]
    assert result["benchmarks"]["a.jsonl"]["grounding"]["miou"]["published"] == 0.75
    assert result["benchmarks"]["b.jsonl"]["grounding"]["recall@0.3"]["published"] == 0.0
    overall = result["overall"]["grounding"]
    assert overall["n"] == 3 and overall["miou"]["published"] == pytest.approx(0.5)
    assert overall["recall@0.5"]["published"] == pytest.approx(2 / 3)
    assert overall["recall@0.7"]["published"] == pytest.approx(1 / 3)
    assert (
        "| overall / grounding R@0.5 | IoU >= 0.5 | 3 |  | 66.7 |"
        in (out / "summary.md").read_text()
    )
