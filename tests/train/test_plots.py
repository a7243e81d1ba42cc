"""Figures a researcher reads: legible with many categories, whole-step axes, legends that
cover no bar, and a smoke run that says so."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pytest
from PIL import Image

from video_r1.data.stats import plot_counts
from video_r1.demo.report import curves_figure, is_smoke_run, render_report, task_accuracy_figure


def test_data_stats_plot_grows_with_the_categories(tmp_path: Path) -> None:
    few = {"data_source": Counter({f"source-{i}": 10 + i for i in range(3)})}
    many = {"data_source": Counter({f"LLaVA-Video-178K/source-{i}": 10 + i for i in range(30)})}
    height_few = Image.open(plot_counts(few, tmp_path / "few.png")).size[1]
    height_many = Image.open(plot_counts(many, tmp_path / "many.png")).size[1]
    assert height_few == 4 * 120  # the old fixed size for a handful of categories
    assert height_many / 30 >= 0.25 * 120 - 1  # about a quarter inch per bar at 120 dpi


def _rows(steps: int) -> tuple[list[dict], list[dict]]:
    sft = [{"step": s, "train/loss": 5.0 / s} for s in range(1, steps + 1)]
    grpo = [{"step": s, "train/reward/total": 0.1 * s, "train/reward/accuracy": 0.05 * s}
            for s in range(1, steps + 1)]  # fmt: skip
    return sft, grpo


@pytest.mark.parametrize("loss_scale", ["log", "linear"])
def test_training_curves_whole_step_ticks_and_loss_axis(loss_scale: str) -> None:
    fig = curves_figure(*_rows(4), loss_scale=loss_scale)
    left, right = fig.axes
    assert left.get_yscale() == loss_scale
    for ax in (left, right):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks  # was 1.5, 2.5, ...
    with pytest.raises(ValueError, match="loss_scale"):
        curves_figure(*_rows(2), loss_scale="symlog")


def test_task_accuracy_legend_outside_and_n_per_task() -> None:
    rows = [
        {"task": task, "n": n, "chance": 0.25, "sft_ordered": 0.5, "sft_shuffled": 0.4,
         "grpo_ordered": 1.0, "grpo_shuffled": 0.3}
        for task, n in (("direction", 12), ("count", 9), ("color", 10))
    ]  # fmt: skip
    fig = task_accuracy_figure(rows)
    fig.canvas.draw()
    [ax] = fig.axes
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # right of the bars, none covered
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "direction\n(n=12)", "count\n(n=9)", "color\n(n=10)",
    ]  # fmt: skip


def test_quick_demo_report_says_it_is_a_smoke_run(tmp_path: Path) -> None:
    from video_r1.demo.pipeline import SCALES

    assert not is_smoke_run(tmp_path)  # no demo.json
    for scale, smoke in (("quick", True), ("full", False)):
        (tmp_path / "demo.json").write_text(json.dumps({"scale": asdict(SCALES[scale])}))
        assert is_smoke_run(tmp_path) is smoke
    text = render_report([], {}, [], {"sft": 1.0}, smoke=True)
    assert "This is a smoke run (`--scale quick`)" in text.splitlines()[2]
    assert "smoke run" not in render_report([], {}, [], {"sft": 1.0})
