"""Paired comparison of each T-GRPO variant with GRPO: per-seed differences, 95% t-intervals.

A variant's run and GRPO's run with the same seed start from the same SFT checkpoint with the
same record order, so the per-seed difference of a test measure is the paired measure; its mean
gets a t-interval over seeds (video_r1.experiments.stats). Measures: ordered accuracy and the
ordered - shuffled gap, per order-dependent task and pooled over them (each task weighs the
same). The verdict applies the issue's bar: +5 points with an interval excluding 0, or a
powered null (half-width at most 2 points). A verdict that is one of several comparisons
(variants compared, looks at seeds added batch by batch) uses the familywise interval
(`--comparisons`, Bonferroni); the tables give the plain 95% one beside it, with the sign,
sign-flip and Wilcoxon tests of the ordered differences.

Seeds accumulate across sessions and machines: a report's results.json keeps every row's
per-seed differences with their seeds and the SFT checkpoint the runs started from, and
`with_earlier` pools the rows of this report with those of earlier reports of the same base,
refusing a seed counted twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from video_r1.experiments.stats import (
    Interval,
    familywise_level,
    paired_differences,
    pooled,
    seeds_for_half_width,
    sign_flip_test,
    sign_test,
    summarise,
    t_interval,
    wilcoxon_test,
)

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
                values = seed_values(per_seed, task, measure, order_tasks)
                baseline = seed_values(runs[BASELINE], task, measure, order_tasks)
                diffs = paired_differences(values, baseline)
                if len(diffs) >= 2:
                    rows.append({"variant": variant, "task": task, "measure": measure,
                                 "seeds": sorted(set(values) & set(baseline)),
                                 "differences": diffs, "interval": t_interval(diffs)})  # fmt: skip
    return rows


def verdict(ordered: Interval, gap: Interval | None, familywise: Interval | None = None) -> str:
    """The issue's bar applied to a variant's pooled ordered-accuracy difference.

    familywise: the same differences' interval at the familywise level (`familywise_level`),
    when this verdict is one of several comparisons: whether the effect's interval excludes 0
    is then read from it (the gap's and a null's half-width stay at 95%).

    Example:
        >>> verdict(Interval(0.06, 0.02, 0.10, 8), Interval(0.03, 0.01, 0.05, 8))
        'beats GRPO: +6.0 points, interval excludes 0, gap wider'
        >>> verdict(Interval(0.005, -0.01, 0.02, 8), None)
        'powered null: +0.5 points, half-width 1.5 <= 2'
        >>> verdict(Interval(-0.04, -0.059, -0.021, 40), None)  # narrow, but not a null
        'worse than GRPO: -4.0 [-5.9, -2.1] points, half-width 1.9, interval excludes 0'
        >>> v = verdict(Interval(0.047, 0.005, 0.090, 24), None)  # wide, but away from 0
        >>> v.startswith("better than GRPO, below the +5 goal: +4.7 [+0.5, +9.0] points")
        True
        >>> v.endswith("interval excludes 0 (+5 neither shown nor ruled out)")
        True
        >>> v = verdict(Interval(0.01, 0.01 - 0.0418, 0.01 + 0.0418, 8), None)  # sd 5 points
        >>> v.startswith("inconclusive: +1.0 points, half-width 4.2"), v.endswith("about 27 seeds")
        (True, True)
        >>> v = verdict(Interval(0.06, 0.02, 0.10, 8), Interval(0.03, 0.01, 0.05, 8),
        ...             familywise=Interval(0.06, -0.01, 0.13, 8))  # 0 inside once corrected
        >>> v.startswith("inconclusive: +6.0 points, half-width 4.0 (> 2), familywise [-1.0, +13.0]")
        True
        >>> v = verdict(Interval(0.047, 0.005, 0.090, 24), None, Interval(0.047, 0.001, 0.093, 24))
        >>> v.endswith("half-width 4.2, familywise [+0.1, +9.3] excludes 0 (+5 neither shown nor ruled out)")
        True
    """
    points, half = 100 * ordered.mean, 100 * ordered.half_width
    effect = familywise or ordered  # the interval an effect is claimed from
    cell = _interval_cell(ordered)
    where = "interval"
    if familywise is not None:
        where = f"familywise [{100 * familywise.low:+.1f}, {100 * familywise.high:+.1f}]"
    if ordered.mean >= EFFECT and effect.excludes_zero:
        if gap is not None and gap.low > 0:
            return f"beats GRPO: {points:+.1f} points, {where} excludes 0, gap wider"
        return (f"ordered accuracy {points:+.1f} points, {where} excludes 0, but the gap is not "
                "shown wider: not the goal")  # fmt: skip
    if effect.excludes_zero:  # a measured effect, however wide: not "inconclusive"
        if points < 0:
            return f"worse than GRPO: {cell} points, half-width {half:.1f}, {where} excludes 0"
        five = "neither shown nor ruled out" if effect.high >= EFFECT else "ruled out"
        return (f"better than GRPO, below the +5 goal: {cell} points, half-width {half:.1f}, "
                f"{where} excludes 0 (+5 {five})")  # fmt: skip
    shown = _half_width_text(half)
    if ordered.half_width <= NULL_HALF_WIDTH:
        return f"powered null: {points:+.1f} points, half-width {shown} <= 2"
    needed = seeds_for_half_width(ordered, NULL_HALF_WIDTH)
    held = f"), {where} holds 0" if familywise is not None else ", and no +5 effect)"
    return (f"inconclusive: {points:+.1f} points, half-width {shown} (> 2{held}; "
            f"at this spread a half-width of 2 needs about {needed} seeds")  # fmt: skip


def _half_width_text(half: float) -> str:
    """A half-width in points to one decimal, or to as many more (up to 3) as it takes to show
    which side of the null's 2 points it lies on: 2.02 as "2.0 (> 2)" reads as a contradiction.

    Example:
        >>> _half_width_text(1.5), _half_width_text(2.0202), _half_width_text(1.96)
        ('1.5', '2.02', '1.96')
    """
    limit = 100 * NULL_HALF_WIDTH
    for digits in (1, 2):
        text = f"{half:.{digits}f}"
        if float(text) != limit:
            return text
    return f"{half:.3f}"


def _interval_cell(interval: Interval) -> str:
    return f"{100 * interval.mean:+.1f} [{100 * interval.low:+.1f}, {100 * interval.high:+.1f}]"


def paired_table(rows: list[dict[str, Any]], comparisons: int = 1) -> str:
    """Markdown: per variant and task, the paired difference to GRPO of ordered accuracy and of
    the gap, mean [95% interval] in points, the ordered differences' sign, sign-flip and
    Wilcoxon tests, then each variant's verdict. comparisons > 1: the ordered difference's
    familywise interval too (`familywise_level`), from which the verdicts read an effect."""
    level = familywise_level(comparisons)
    head = "| variant | task | ordered acc. - GRPO | gap - GRPO | seeds | ordered: won / lost (sign p) | ordered: sign-flip p, Wilcoxon p |"
    if comparisons > 1:
        head += f" ordered, {100 * level:.2f}% ({comparisons} comparisons) |"
    lines = [head, "|---" * head.count(" | ") + "|---|"]
    cells: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in rows:
        cells.setdefault((row["variant"], row["task"]), {})[row["measure"]] = row
    familywise: dict[tuple[str, str], Interval] = {}
    for key, by_measure in cells.items():
        ordered, gap = by_measure.get("ordered"), by_measure.get("gap")
        interval = (ordered or gap)["interval"]
        # all-or-nothing tasks: the t-interval's normality fails there, these tests assume none
        tests = "- | -"
        if ordered is not None:
            o, diffs = ordered["interval"], ordered["differences"]
            tests = (f"{o.won} / {o.lost} ({sign_test(o.won, o.lost):.3f}) | "
                     f"{sign_flip_test(diffs):.3f}, {wilcoxon_test(diffs):.3f}")  # fmt: skip
        line = (f"| {key[0]} | {key[1]} | {_interval_cell(ordered['interval']) if ordered else '-'}"
                f" | {_interval_cell(gap['interval']) if gap else '-'} | {interval.n} | {tests} |")  # fmt: skip
        if comparisons > 1:
            cell = "-"
            if ordered is not None:
                familywise[key] = t_interval(ordered["differences"], level)
                cell = _interval_cell(familywise[key])
            line += f" {cell} |"
        lines.append(line)
    verdicts = [
        f"- {variant}: "
        + verdict(
            by["ordered"]["interval"],
            by["gap"]["interval"] if "gap" in by else None,
            familywise.get((variant, task)),
        )  # fmt: skip
        for (variant, task), by in cells.items()
        if task == POOLED and "ordered" in by
    ]
    note = (
        "\nThe p-values are two-sided, of the ordered differences: the sign test (ties "
        "left out), the sign-flip test of the mean, Wilcoxon's signed-rank test."
    )
    if comparisons > 1:
        note += (f" The familywise interval holds at {100 * level:.2f}% so that all "
                 f"{comparisons} comparisons hold together at 95% (Bonferroni); the verdicts "
                 "claim an effect only from it.")  # fmt: skip
    return "\n".join(lines) + "\n" + note + "\n\n" + "\n".join(verdicts) + "\n"


def plot_paired(rows: list[dict[str, Any]], path: Path, comparisons: int = 1) -> None:
    """Pooled paired differences to GRPO per variant, 95% intervals as error bars;
    comparisons > 1: the ordered difference's familywise interval as a thin, wider bar."""
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
        if measure == "ordered" and comparisons > 1:
            level = familywise_level(comparisons)
            diffs = {r["variant"]: r["differences"] for r in pooled_rows if r["measure"] == measure}
            wide = [100 * t_interval(diffs[v], level).half_width for v in variants if v in found]
            ax.errorbar(xs, means, yerr=wide, fmt="none", capsize=8, elinewidth=0.8, color="grey", zorder=1,
                        label=f"ordered, {100 * level:.2f}% ({comparisons} comparisons)")  # fmt: skip
    ax.axhline(0, color="black", linewidth=0.6)
    for level in (-100 * EFFECT, 100 * EFFECT):
        ax.axhline(level, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xticks(range(len(variants)), variants)
    ax.set_xlim(-0.6, len(variants) - 0.4)  # one variant: its two bars stay near its label
    seeds = "/".join(str(n) for n in sorted({r["interval"].n for r in pooled_rows}))
    title = f"Paired difference to GRPO, order-dependent tasks pooled ({seeds} seeds)"
    ax.set(ylabel="variant - GRPO, points (95% CI)", title=title)
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


RowKey = tuple[str, str, str]  # (variant, task, measure)

# SFT from the same code, data and seed rounds differently under other CPU kernels (torch's,
# MKL's, oneDNN's), and the demo's SFT carries the rounding to other weights. On an AMD EPYC
# with AVX-512 these variables rebuilt the AMD AVX2 machines' checkpoint; on an Intel Xeon
# they did not (docs/experiment_temporal.md, "Rebuilding the base on another machine"): an
# exported checkpoint (--export-base, --base-sft) is the way that works on any machine.
_KERNEL_HINT = (
    "The same demo builds other weights under other CPU kernels (this process: {}). Start "
    "from the earlier runs' exported checkpoint with --base-sft where there is one; an AMD "
    "EPYC with AVX-512 rebuilt the AMD AVX2 machines' checkpoint with ATEN_CPU_CAPABILITY=avx2 "
    "MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 (an Intel Xeon did not)"
)


def _cpu_kernels() -> str:
    import torch  # here, not at the top: the rest of this module is torch-free statistics

    return torch.backends.cpu.get_cpu_capability()


def load_earlier(
    path: Path, base_sft: str | None = None, steps: int | None = None
) -> dict[RowKey, tuple[list[int], list[float]]]:
    """The paired rows of an earlier report's results.json, as (seeds, the per-seed
    differences, in the same order) per (variant, task, measure).

    base_sft: this report's SFT checkpoint (`base_fingerprint`); the earlier runs must have
    started from the same one: a seed's outcome depends on it, and the same code builds other
    checkpoints on other machines (docs/experiment_temporal.md), so seeds of two bases measure
    two things. steps: this report's RL steps per run; the earlier runs must have made as
    many (a 300-step difference is not a 900-step one).
    """
    try:
        report = json.loads(path.read_text())
        rows = report["paired"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a results.json with paired rows ({e})") from None
    if base_sft is not None and report.get("base_sft") != base_sft:
        raise ValueError(f"{path}: its runs started from SFT checkpoint "
                         f"{report.get('base_sft') or '(not recorded)'}, these from {base_sft}; "
                         "seeds of different bases are not pooled. " + _KERNEL_HINT.format(
                             _cpu_kernels()))  # fmt: skip
    if steps is not None and report.get("steps") != steps:
        raise ValueError(f"{path}: its runs made {report.get('steps') or '(not recorded)'} RL "
                         f"steps, these {steps}; runs of other lengths are not pooled")  # fmt: skip
    out = {}
    for i, row in enumerate(rows):
        try:
            key = (row["variant"], row["task"], row["measure"])
            seeds = [int(s) for s in row["seeds"]]
            differences = [float(d) for d in row["differences"]]
            summary = summarise(differences)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: paired row {i}: {e!r}; each row needs variant, task, "
                             "measure, seeds and differences") from None  # fmt: skip
        if summary.n != len(seeds) or key in out:
            raise ValueError(f"{path}: paired row {i} {key}: {summary.n} differences for "
                             f"{len(seeds)} seeds, or the row is repeated")  # fmt: skip
        out[key] = (seeds, differences)
    return out


def with_earlier(
    rows: list[dict[str, Any]], earlier: dict[Path, dict[RowKey, tuple[list[int], list[float]]]]
) -> list[dict[str, Any]]:
    """This report's paired rows pooled with the earlier reports' rows of the same (variant,
    task, measure): one row per key found in any, its differences over all their seeds (in
    seed order) with their interval, and where each part came from. ValueError if a seed of a key is in two parts.

    Example: seeds 0-1 now, 2-3 earlier: the interval of the four differences
        >>> now = [{"variant": "m", "task": "t", "measure": "ordered", "seeds": [0, 1],
        ...         "differences": [0.1, 0.2], "interval": t_interval([0.1, 0.2])}]
        >>> old = {Path("a.json"): {("m", "t", "ordered"): ([2, 3], [0.3, 0.4])}}
        >>> row = with_earlier(now, old)[0]
        >>> row["seeds"], round(row["interval"].mean, 9), row["interval"].n
        ([0, 1, 2, 3], 0.25, 4)
    """
    parts: dict[RowKey, list[tuple[str, list[int], list[float]]]] = {}
    for row in rows:
        key = (row["variant"], row["task"], row["measure"])
        parts.setdefault(key, []).append(("this report", row["seeds"], row["differences"]))
    for path, earlier_rows in earlier.items():
        for key, (seeds, differences) in earlier_rows.items():
            parts.setdefault(key, []).append((str(path), seeds, differences))
    out = []
    for (variant, task, measure), sources in parts.items():
        seen: dict[int, str] = {}
        for source, seeds, _ in sources:
            twice = sorted(s for s in seeds if s in seen)
            if twice:
                raise ValueError(f"{variant} {task} {measure}: seeds {twice} are in both "
                                 f"{seen[twice[0]]} and {source}; pool each seed once")  # fmt: skip
            seen.update(dict.fromkeys(seeds, source))
        by_seed = {s: d for _, seeds, diffs in sources for s, d in zip(seeds, diffs, strict=True)}
        differences = [by_seed[s] for s in sorted(by_seed)]
        out.append({
            "variant": variant, "task": task, "measure": measure, "seeds": sorted(by_seed),
            "sources": [f"{source}: {len(seeds)} seeds" for source, seeds, _ in sources],
            "differences": differences, "interval": t_interval(differences),
        })  # fmt: skip
    return out
