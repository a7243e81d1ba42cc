"""Tables and plot of the temporal experiment, from the runs' eval summaries and metrics.

Per variant, per task (video tasks) and overall: ordered accuracy, shuffled accuracy, their
gap (ordered - shuffled), as mean and standard deviation over seeds; and the fraction of
prompt groups that passed the temporal rule during training (mean over steps, then seeds).
`write_results` adds the paired differences to GRPO (temporal_paired.py) and the channel of
the published bonus (channel.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from video_r1.utils.io import read_metrics

OVERALL = "(all video)"


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (std None for one value: no spread to show; both
    None for none).

    Example:
        >>> mean, std = mean_std([0.5, 0.7])
        >>> mean, round(std, 12)
        (0.6, 0.141421356237)
    """
    if not values:
        return None, None
    mean = math.fsum(values) / len(values)
    if len(values) == 1:
        return mean, None
    var = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return round(mean, 12), math.sqrt(var)


def run_measures(summary: dict[str, Any], metrics: list[dict]) -> dict[str, dict[str, float]]:
    """task -> {ordered, shuffled, gap} of one run (video tasks, plus OVERALL), and the run's
    mean temporal pass fraction under OVERALL["passed"] (absent without the temporal rule).

    Uses the eval's drop table, which compares the samples scored in both orders.
    """
    rows: dict[str, dict[str, float]] = {}
    for row in summary.get("order_drop", []):
        task = OVERALL if row["task"] == "(all)" else row["task"]
        rows[task] = {
            "ordered": row["ordered"],
            "shuffled": row["shuffled"],
            "gap": row["drop_shuffled"],
        }
    passed = [m["train/temporal/passed"] for m in metrics if "train/temporal/passed" in m]
    if passed and OVERALL in rows:
        rows[OVERALL]["passed"] = math.fsum(passed) / len(passed)
    return rows


def aggregate(per_seed: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, Any]]:
    """task -> measure -> (mean, std) over seeds.

    Example:
        aggregate([{"t": {"gap": 0.1}}, {"t": {"gap": 0.3}}])["t"]["gap"] -> (0.2, 0.1414...)
    """
    tasks = sorted({t for run in per_seed for t in run}, key=lambda t: (t == OVERALL, t))
    out: dict[str, dict[str, Any]] = {}
    for task in tasks:
        measures = sorted({m for run in per_seed for m in run.get(task, {})})
        out[task] = {
            m: mean_std([run[task][m] for run in per_seed if m in run.get(task, {})])
            for m in measures
        }
    return out


def _cell(stat: tuple[float | None, float | None] | None) -> str:
    if stat is None or stat[0] is None:
        return "-"
    if stat[1] is None:  # a single seed: no "±" that would read as a measured spread
        return f"{100 * stat[0]:.1f}"
    return f"{100 * stat[0]:.1f} ± {100 * stat[1]:.1f}"


def results_table(
    results: dict[str, dict[str, dict]], seeds: list[int],
    per_variant: dict[str, list[int]] | None = None,
) -> str:  # fmt: skip
    """The Markdown table: one row per (task, variant), mean ± std over seeds, in %.
    per_variant: each variant's seeds, when they differ from `seeds`."""
    lines = [
        "| task | variant | ordered acc. | shuffled acc. | gap | temporal rule passed |",
        "|---|---|---|---|---|---|",
    ]
    tasks = sorted({t for r in results.values() for t in r}, key=lambda t: (t == OVERALL, t))
    for task in tasks:
        for variant, by_task in results.items():
            row = by_task.get(task, {})
            lines.append(
                f"| {task} | {variant} | {_cell(row.get('ordered'))} | "
                f"{_cell(row.get('shuffled'))} | {_cell(row.get('gap'))} | "
                f"{_cell(row.get('passed'))} |"
            )
    spread = "mean ± standard deviation over seeds" if len(seeds) > 1 else "one run, seed"
    if per_variant and any(s != seeds for s in per_variant.values()):
        listed = "; ".join(f"{v} {_seed_list(s)} ({len(s)})" for v, s in per_variant.items())
        return "\n".join(lines) + f"\n\nmean ± standard deviation over seeds: {listed}; in %.\n"
    return "\n".join(lines) + f"\n\n{spread} {seeds}, in %.\n"


def _seed_list(seeds: list[int]) -> str:
    """Seeds, a consecutive run as a range.

    Example:
        >>> _seed_list([0, 1, 2, 3, 7])
        '0-3, 7'
    """
    parts: list[str] = []
    for seed in seeds:
        if parts and seed == int(parts[-1].split("-")[-1]) + 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{seed}"
        else:
            parts.append(str(seed))
    return ", ".join(parts)


def _not_finished(missing: dict[str, list[int]]) -> str:
    if not missing:
        return ""
    listed = "; ".join(f"{v} seeds {_seed_list(s)}" for v, s in missing.items())
    return f"\nNot finished (left out): {listed}.\n"


def plot_results(results: dict[str, dict[str, dict]], path: Path) -> None:
    """Overall ordered and shuffled accuracy per variant, with the spread over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = list(results)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for i, (measure, label) in enumerate((("ordered", "ordered frames"),
                                          ("shuffled", "shuffled frames"),
                                          ("gap", "gap (ordered - shuffled)"))):  # fmt: skip
        stats = [results[v].get(OVERALL, {}).get(measure, (None, None)) for v in variants]
        means = [100 * (s[0] or 0.0) for s in stats]
        errs = None if any(s[1] is None for s in stats) else [100 * s[1] for s in stats]
        xs = [x + (i - 1) * 0.27 for x in range(len(variants))]
        ax.bar(xs, means, 0.27, yerr=errs, capsize=3, label=label)  # no bars for one seed
    ax.set_xticks(range(len(variants)), variants)
    ax.set(ylabel="test accuracy, video tasks (%)", title="GRPO vs T-GRPO variants")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def order_dependent_tasks(tasks_json: Path) -> list[str]:
    """The video tasks whose answer needs the frame order, from a benchmark's tasks.json."""
    tasks = json.loads(tasks_json.read_text())["tasks"]
    return [name for name, info in tasks.items() if info["order_dependent"]]


def channel_table(channels: dict[str, dict[str, float | None]]) -> str:
    """Markdown: per variant, the share of logged groups through which the published bonus
    can act (varying format / other terms, varying length bonus) and how often it did."""
    lines = [
        "| variant | groups | format etc. varies | length bonus varies | either | bonus given | "
        "bonus changed the advantages (of bonus groups, run's scaling) |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, c in channels.items():
        cells = [_share(c.get(k)) for k in ("varying_terms", "varying_length", "varying_any",
                                            "bonus_groups", "bonus_effective")]  # fmt: skip
        lines.append(f"| {variant} | {int(c['groups'] or 0)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def read_runs(out: Path, variants: list[str], seeds: list[int], finished_only: bool):
    """(variant -> seed -> run measures, variant -> each seed's metrics rows, variant ->
    channel fractions, variant -> seeds not evaluated) of the evaluated runs; see
    `write_results` for `finished_only`. Variants without an evaluated run are left out."""
    from video_r1.experiments.channel import channel_fractions, run_channel

    runs: dict[str, dict[int, dict]] = {}
    metrics: dict[str, list[list[dict]]] = {}
    channels: dict[str, dict] = {}
    missing: dict[str, list[int]] = {}
    for variant in variants:
        runs[variant], metrics[variant], counts = {}, [], []
        for seed in seeds:
            run_dir = out / "runs" / variant / f"seed{seed}"
            summary_path = run_dir / "eval" / "summary.json"
            if not summary_path.exists() and finished_only:
                missing.setdefault(variant, []).append(seed)
                continue
            if not summary_path.exists():
                raise FileNotFoundError(f"{summary_path}: run {variant} seed {seed} not evaluated")
            summary = json.loads(summary_path.read_text())
            metrics[variant].append(read_metrics(run_dir / "metrics.jsonl"))
            runs[variant][seed] = run_measures(summary, metrics[variant][-1])
            counts.append(run_channel(run_dir))
        if counts and all(c is not None for c in counts):
            channels[variant] = channel_fractions(counts)
    runs = {v: per_seed for v, per_seed in runs.items() if per_seed}
    if not runs:
        raise FileNotFoundError(f"{out / 'runs'}: no evaluated run of {variants}, seeds {seeds}")
    return runs, {v: rows for v, rows in metrics.items() if rows}, channels, missing


def base_fingerprint(base: Path) -> str:
    """The SFT checkpoint every run starts from, named by the sha256 of its weights (first 16
    hex digits): the same code and data give other checkpoints on other machines (CPU float
    kernels differ, and this benchmark's SFT amplifies it), so reports record which one."""
    from video_r1.utils.hashing import weights_sha256

    digest = weights_sha256(base / "sft" / "final")
    if digest is None:
        raise FileNotFoundError(f"{base / 'sft' / 'final'}: no SFT checkpoint weights")
    return digest[:16]


def write_results(
    out: Path, variants: list[str], seeds: list[int], steps: int, order_tasks: list[str],
    finished_only: bool = False, earlier: list[Path] | None = None, base: Path | None = None,
    comparisons: int = 1,
) -> str:  # fmt: skip
    """Read every run, write OUT/results.json, OUT/results.md, OUT/temporal.png,
    OUT/paired.png and OUT/curves.png; return the Markdown. A run without an eval summary raises
    FileNotFoundError naming it; with `finished_only` it is left out and listed in the report
    (each variant then has its own seeds; differences pair the seeds both runs have).
    `base` (default OUT/base): the runs' base folder, whose SFT checkpoint results.json names.
    `earlier`: results.json files of earlier reports (other seeds, same base) whose paired rows
    are pooled with this report's in a section of their own (temporal_paired.with_earlier);
    ValueError for an unreadable one, another base or a seed in two of them, before anything is
    written. `comparisons`: how many comparisons the verdicts are among (variants x looks); the
    tables add the ordered difference's familywise interval (temporal_paired.paired_table)."""
    from video_r1.experiments.temporal_curves import (
        curves_table,
        flatness_line,
        last_window_rise,
        plot_curves,
        reward_curves,
    )
    from video_r1.experiments.temporal_paired import (
        load_earlier,
        paired_rows,
        rows_to_json,
        with_earlier,
    )
    from video_r1.utils.io import atomic_write_json, atomic_write_text

    runs, metrics, channels, missing = read_runs(out, variants, seeds, finished_only)
    per_variant = {v: sorted(per_seed) for v, per_seed in runs.items()}
    results = {v: aggregate(list(per_seed.values())) for v, per_seed in runs.items()}
    paired = paired_rows(runs, order_tasks)
    base_sft = base_fingerprint(base or out / "base")
    pooled_rows = (
        with_earlier(paired, {p: load_earlier(p, base_sft, steps) for p in earlier})
        if earlier
        else []
    )
    rise = last_window_rise(metrics["grpo"]) if "grpo" in metrics else None
    atomic_write_json(out / "results.json", {
        "seeds": seeds, "steps": steps, "order_dependent_tasks": order_tasks, "base_sft": base_sft,
        "seeds_per_variant": per_variant, "not_finished": missing,
        "results": results, "paired": rows_to_json(paired), "channel": channels,
        "grpo_last_window_rise": None if rise is None else vars(rise),
        "per_seed": runs,  # what later reports need to pool these seeds with theirs
        "earlier": [str(p) for p in earlier or []], "paired_with_earlier": rows_to_json(pooled_rows),
        "comparisons": comparisons,
    })  # fmt: skip
    plot_results(results, out / "temporal.png")
    markdown = (
        f"# Temporal experiment: GRPO vs T-GRPO variants ({steps} RL steps per run)\n\n"
        + results_table(results, seeds, per_variant)
        + _not_finished(missing)
        + "\n![overall](temporal.png)\n"
    )
    markdown += _paired_sections(out, paired, pooled_rows, earlier or [], order_tasks, comparisons)
    curves = reward_curves(metrics)
    plot_curves(curves, out / "curves.png")
    markdown += (
        "\n## Training curves: has GRPO's own curve flattened?\n\n"
        "Training accuracy reward of the ordered rollouts (%), mean over seeds, by window of "
        "steps.\n\n"
        + curves_table(curves)
        + "\n![curves](curves.png)\n\n"
        + (flatness_line("grpo", rise) if "grpo" in metrics else "")
    )
    if channels:
        markdown += (
            "\n## Where the published bonus can act (groups logged during training)\n\n"
            "Under group std scaling the bonus cancels in groups with 0/1 accuracy and equal "
            "format and length terms; it acts only where these vary.\n\n" + channel_table(channels)
        )
    atomic_write_text(out / "results.md", markdown)
    return markdown


def _paired_sections(
    out: Path, paired: list[dict], pooled_rows: list[dict], earlier: list[Path],
    order_tasks: list[str], comparisons: int = 1,
) -> str:  # fmt: skip
    """The Markdown of the paired differences to GRPO (and OUT/paired.png), then, with
    earlier reports, the same pooled with their seeds (and OUT/paired_with_earlier.png); ""
    without pairs."""
    from video_r1.experiments.temporal_paired import paired_table, plot_paired

    markdown = ""
    if paired:
        plot_paired(paired, out / "paired.png", comparisons)
        counted = sorted({len(r["differences"]) for r in paired})
        markdown += (
            f"\n## Paired differences to GRPO (same seed), "
            f"{'/'.join(map(str, counted))} seeds\n\n"
            "Mean [95% t-interval] over seeds of (variant - GRPO), in points; pooled = mean "
            f"over the order-dependent tasks {order_tasks}.\n\n"
            + paired_table(paired, comparisons)
            + "\n![paired](paired.png)\n"
        )
    if pooled_rows:
        plot_paired(pooled_rows, out / "paired_with_earlier.png", comparisons)
        sources = sorted({s for row in pooled_rows for s in row["sources"]})
        markdown += (
            "\n## Paired differences to GRPO, with the earlier seeds\n\n"
            f"This report's seeds pooled with those of {', '.join(map(str, earlier))} "
            f"(each seed once; parts: {'; '.join(sources)}). Mean [95% t-interval] over all "
            "their seeds, in points.\n\n"
            + paired_table(pooled_rows, comparisons)
            + "\n![paired, with the earlier seeds](paired_with_earlier.png)\n"
        )
    return markdown
