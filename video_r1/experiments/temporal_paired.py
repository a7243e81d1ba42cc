"""Paired comparison of each T-GRPO variant with GRPO: per-seed differences, 95% t-intervals.

A variant's run and GRPO's run with the same seed start from the same SFT checkpoint with the
same record order, so the per-seed difference of a test measure is the paired measure; its mean
gets a t-interval over seeds (video_r1.experiments.stats). Measures: ordered accuracy and the
ordered - shuffled gap, per order-dependent task and pooled over them (each task weighs the
same). The verdict applies the issue's bar: +5 points with an interval excluding 0, or a
powered null (half-width at most 2 points).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from video_r1.experiments.stats import Interval, paired_differences, pooled, t_interval

POOLED = "(order-dependent, pooled)"
MEASURES = ("ordered", "gap")
BASELINE = "grpo"
# the bar: an effect of at least 5 points, or a null whose interval is at most +-2
EFFECT, NULL_HALF_WIDTH = 0.05, 0.02

RunMeasures = dict[str, dict[str, float]]  # task -> measure -> value, one run


def seed_values(
    per_seed: dict[int, RunMeasures], task: str, measure: str, order_tasks: list[str]
) -> dict[int, float]:
    """seed -> value of `measure` on `task` (POOLED: mean over `order_tasks`)."""
    out = {}
    for seed, run in per_seed.items():
        if task == POOLED:
            value = pooled({t: m[measure] for t, m in run.items() if measure in m}, order_tasks)
        else:
            value = run.get(task, {}).get(measure)
        if value is not None:
            out[seed] = value
    return out


def paired_rows(
    runs: dict[str, dict[int, RunMeasures]], order_tasks: list[str]
) -> list[dict[str, Any]]:
    """One row per (variant, task, measure) against GRPO: differences per seed and interval.

    runs: variant -> seed -> run measures; must hold BASELINE. Rows without two paired seeds
    are left out (an interval needs two).
    """
    if BASELINE not in runs:
        return []
    rows = []
    for variant, per_seed in runs.items():
        if variant == BASELINE:
            continue
        for task in [*order_tasks, POOLED]:
            for measure in MEASURES:
                diffs = paired_differences(
                    seed_values(per_seed, task, measure, order_tasks),
                    seed_values(runs[BASELINE], task, measure, order_tasks),
                )
                if len(diffs) >= 2:
                    rows.append({"variant": variant, "task": task, "measure": measure,
                                 "differences": diffs, "interval": t_interval(diffs)})  # fmt: skip
    return rows


def verdict(ordered: Interval, gap: Interval | None) -> str:
    """The issue's bar applied to a variant's pooled ordered-accuracy difference.

    Example:
        >>> verdict(Interval(0.06, 0.02, 0.10, 8), Interval(0.03, 0.01, 0.05, 8))
        'beats GRPO: +6.0 points, interval excludes 0, gap wider'
        >>> verdict(Interval(0.005, -0.01, 0.02, 8), None)
        'powered null: +0.5 points, half-width 1.5 <= 2'
    """
    points, half = 100 * ordered.mean, 100 * ordered.half_width
    if ordered.mean >= EFFECT and ordered.excludes_zero:
        wider = gap is not None and gap.low > 0
        return (f"beats GRPO: {points:+.1f} points, interval excludes 0, "
                f"gap {'wider' if wider else 'not shown wider'}")  # fmt: skip
    if ordered.half_width <= NULL_HALF_WIDTH:
        return f"powered null: {points:+.1f} points, half-width {half:.1f} <= 2"
    return f"inconclusive: {points:+.1f} points, half-width {half:.1f} (> 2, and no +5 effect)"


def _interval_cell(interval: Interval) -> str:
    return f"{100 * interval.mean:+.1f} [{100 * interval.low:+.1f}, {100 * interval.high:+.1f}]"


def paired_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per variant and task, the paired difference to GRPO of ordered accuracy and of
    the gap, mean [95% interval] in points, then each variant's verdict."""
    lines = [
        "| variant | task | ordered acc. - GRPO | gap - GRPO | seeds |",
        "|---|---|---|---|---|",
    ]
    cells: dict[tuple[str, str], dict[str, Interval]] = {}
    for row in rows:
        cells.setdefault((row["variant"], row["task"]), {})[row["measure"]] = row["interval"]
    for (variant, task), by_measure in cells.items():
        ordered, gap = by_measure.get("ordered"), by_measure.get("gap")
        lines.append(
            f"| {variant} | {task} | {_interval_cell(ordered) if ordered else '-'} | "
            f"{_interval_cell(gap) if gap else '-'} | {(ordered or gap).n} |"
        )
    verdicts = [
        f"- {variant}: {verdict(by['ordered'], by.get('gap'))}"
        for (variant, task), by in cells.items()
        if task == POOLED and "ordered" in by
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(verdicts) + "\n"


def plot_paired(rows: list[dict[str, Any]], path: Path) -> None:
    """Pooled paired differences to GRPO per variant, 95% intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pooled_rows = [r for r in rows if r["task"] == POOLED]
    variants = list(dict.fromkeys(r["variant"] for r in pooled_rows))
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for i, (measure, label) in enumerate((("ordered", "ordered accuracy"),
                                          ("gap", "ordered - shuffled gap"))):  # fmt: skip
        found = {r["variant"]: r["interval"] for r in pooled_rows if r["measure"] == measure}
        xs = [x + (i - 0.5) * 0.3 for x, v in enumerate(variants) if v in found]
        means = [100 * found[v].mean for v in variants if v in found]
        errs = [100 * found[v].half_width for v in variants if v in found]
        ax.errorbar(xs, means, yerr=errs, fmt="o", capsize=4, label=label)
    ax.axhline(0, color="black", linewidth=0.6)
    for level in (-100 * EFFECT, 100 * EFFECT):
        ax.axhline(level, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xticks(range(len(variants)), variants)
    ax.set(ylabel="variant - GRPO, points (95% CI)",
           title="Paired difference to GRPO, order-dependent tasks pooled")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def rows_to_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with their intervals as plain numbers (for results.json)."""
    return [
        {**{k: v for k, v in r.items() if k != "interval"},
         "mean": r["interval"].mean, "low": r["interval"].low, "high": r["interval"].high}
        for r in rows
    ]  # fmt: skip
