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
from video_r1.demo.report import (
    curves_figure,
    is_smoke_run,
    moving_average,
    render_report,
    smoothing_window,
    task_accuracy_figure,
)


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


def test_moving_average_by_hand() -> None:
    # window 2: 1, (1+3)/2, (3+2)/2, (2+6)/2; window 3 starts with the means of 1 and 2 values
    assert moving_average([1.0, 3.0, 2.0, 6.0], 2) == [1.0, 2.0, 2.5, 4.0]
    assert moving_average([3.0, 0.0, 6.0, 3.0], 3) == [3.0, 1.5, 3.0, 3.0]
    assert moving_average([5.0], 1) == [5.0]
    with pytest.raises(ValueError, match="window"):
        moving_average([1.0], 0)
    assert (smoothing_window(400), smoothing_window(40), smoothing_window(39)) == (20, 2, 1)


def test_long_rl_curves_draw_a_named_moving_average_over_the_raw_points() -> None:
    steps = 400
    sft = [{"step": s, "train/loss": 1.0} for s in range(1, 11)]
    grpo = [{"step": s, "train/reward/total": float(s % 2)} for s in range(1, steps + 1)]
    _, right = curves_figure(sft, grpo).axes
    raw, smooth = right.get_lines()
    assert list(raw.get_ydata()) == [float(s % 2) for s in range(1, steps + 1)]
    assert list(smooth.get_ydata())[19:] == [0.5] * (steps - 19)  # 20 steps: ten 1s, ten 0s
    assert raw.get_color() == smooth.get_color()
    labels = [t.get_text() for t in right.get_legend().get_texts()]
    assert labels == ["total reward (mean of last 20 steps)"]


def test_short_rl_curves_stay_raw() -> None:
    _, right = curves_figure(*_rows(4)).axes
    assert [len(line.get_ydata()) for line in right.get_lines()] == [4, 4]
    assert [t.get_text() for t in right.get_legend().get_texts()] == [
        "total reward", "accuracy reward",
    ]  # fmt: skip
