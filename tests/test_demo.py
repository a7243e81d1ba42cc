"""`video-r1 demo` end to end at the quick scale, its resume, and the report's pieces."""

from __future__ import annotations

import json
import re

import pytest

from video_r1.cli import main
from video_r1.demo.pipeline import SCALES, DemoSettingsChanged, check_settings
from video_r1.demo.report import binomial_tail, markdown_table, per_task_rows, task_accuracy


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    rc = main(["demo", "--out", str(out), "--scale", "quick", "--no-progress"])
    return out, rc


def test_demo_writes_report_plots_and_table(demo_run):
    out, rc = demo_run
    assert rc == 0
    for name in ("training_curves", "completion_length", "task_accuracy"):
        png = out / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    tasks = json.loads((out / "synth" / "tasks.json").read_text())["tasks"]
    assert set(tasks) == set(SCALES["quick"].tasks)
    table = [line for line in report.splitlines() if line.startswith("| ")][1:]  # no header
    assert [line.split("|")[1].strip() for line in table] == list(tasks)
    for line in table:  # chance column = tasks.json's chance accuracy, in %
        cells = [c.strip() for c in line.split("|")[1:-1]]
        assert float(cells[3]) == pytest.approx(100 * tasks[cells[0]]["chance_accuracy"], abs=0.05)
    for stage in ("synth", "model", "sft", "grpo", "eval_sft", "eval_grpo"):
        assert stage in json.loads((out / "timings.json").read_text())
    assert re.search(r"total \d+ s, RL \d+% of it", report)
    # what RL added over SFT on the order-dependent tasks, pooled (mean over those tasks)
    summaries = {m: json.loads((out / f"eval_{m}" / "summary.json").read_text())
                 for m in ("sft", "grpo")}  # fmt: skip
    order_rows = [r for r in per_task_rows(tasks, summaries) if r["order_dependent"]]
    assert {r["task"] for r in order_rows} == {"direction", "event_order", "reverse", "appear"}
    sft = 100 * sum(r["sft_ordered"] for r in order_rows) / 4
    rl = 100 * sum(r["grpo_ordered"] for r in order_rows) / 4
    assert f"SFT {sft:.1f}% -> SFT + T-GRPO {rl:.1f}% ({rl - sft:+.1f} points from RL)" in report


def test_demo_table_matches_eval_summaries(demo_run):
    out, _ = demo_run
    summary = json.loads((out / "eval_grpo" / "summary.json").read_text())
    tasks = json.loads((out / "synth" / "tasks.json").read_text())["tasks"]
    rows = per_task_rows(tasks, {"grpo": summary})
    ordered = task_accuracy(summary, "ordered")
    for row in rows:
        assert row["grpo_ordered"] == ordered[row["task"]][0]
        # images have no frame order: no shuffled accuracy
        assert (row["grpo_shuffled"] is None) == (tasks[row["task"]]["data_type"] == "image")
    grpo_metrics = (out / "grpo" / "metrics.jsonl").read_text().splitlines()
    assert len(grpo_metrics) == SCALES["quick"].grpo_steps
    assert "train/reward/accuracy" in json.loads(grpo_metrics[-1])


def test_demo_rerun_skips_finished_stages(demo_run, capsys):
    out, _ = demo_run
    before = (out / "eval_grpo" / "samples.jsonl").read_text()
    assert main(["demo", "--out", str(out), "--scale", "quick", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("already done, skipped") == 6
    assert (out / "eval_grpo" / "samples.jsonl").read_text() == before


def test_demo_refuses_other_settings_in_same_folder(tmp_path):
    check_settings(tmp_path, {"scale": "quick", "seed": 0})
    check_settings(tmp_path, {"scale": "quick", "seed": 0})  # same: fine
    with pytest.raises(DemoSettingsChanged, match=r"demo.json.*seed"):
        check_settings(tmp_path, {"scale": "quick", "seed": 1})
    assert main(["demo", "--out", str(tmp_path), "--scale", "quick"]) == 2


def test_binomial_tail_by_hand():
    # 3 of 4 right at chance 0.25: C(4,3) 0.25^3 0.75 + 0.25^4 = 0.046875 + 0.00390625
    assert binomial_tail(3, 4, 0.25) == pytest.approx(0.05078125)
    assert binomial_tail(0, 5, 0.3) == pytest.approx(1.0)


def test_markdown_table_marks_missing_values():
    row = {"task": "t", "order_dependent": True, "n": 4, "chance": 0.25, "order_blind": 0.75,
           "sft_ordered": 0.5, "sft_shuffled": None, "grpo_ordered": 1.0, "grpo_shuffled": None,
           "p_value": 0.0039}  # fmt: skip
    line = markdown_table([row]).splitlines()[-1]
    assert line == "| t | yes | 4 | 25.0 | 75.0 | 50.0 | - | 100.0 | - | yes (0.0039) |"


def test_full_scale_keeps_the_training_records_and_extends_the_old_test_split():
    """The full demo's enlarged test split (README "What the demo budget buys") leaves the
    training records of the earlier 1000-record benchmark (850) within one clip per task and
    starts with its 25-38 test clips per task, so figures on either compare clip for clip."""
    from video_r1.synth.generate import TASKS, generate_samples, plan_counts
    from video_r1.synth.tasks import SynthConfig

    full = SCALES["full"]
    weights = {name: TASKS[name].weight for name in full.tasks}
    now, before = plan_counts(weights, full.records), plan_counts(weights, 1000)
    test_now = {name: round(n * full.test_fraction) for name, n in now.items()}
    assert sum(n - test_now[name] for name, n in now.items()) == 849  # 850 before (rounding)
    assert min(test_now.values()) >= 71 and test_now["direction"] == 212
    cfg = SynthConfig(size=full.size, frames=full.frames, fps=float(full.frames))
    task = TASKS["appear"]
    old = generate_samples(task, "test", round(before["appear"] * 0.15), 0, cfg)  # 25 clips
    new = generate_samples(task, "test", test_now["appear"], 0, cfg)  # 142 clips
    assert [s.answer for s in new[: len(old)]] == [s.answer for s in old]
    assert all((a.media == b.media).all() for a, b in zip(old, new, strict=False))
