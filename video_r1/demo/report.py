"""The demo's report: OUT/report.md and OUT/plots/*.png from the files the stages wrote.

Inputs: synth/tasks.json (chance per task), sft/metrics.jsonl, grpo/metrics.jsonl,
eval_sft/summary.json and eval_grpo/summary.json (per-task accuracy per frame order),
timings.json (seconds per stage). Everything here reads files; nothing runs a model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from video_r1.utils.io import read_metrics

MODELS = ("sft", "grpo")
MODEL_NAMES = {"sft": "SFT", "grpo": "SFT + T-GRPO"}
ORDERS = ("ordered", "shuffled")


def binomial_tail(correct: int, n: int, p: float) -> float:
    """P(X >= correct) for X ~ Binomial(n, p): how likely guessing at chance does this well.

    Example:
        >>> round(binomial_tail(2, 2, 0.5), 3)
        0.25
    """
    return min(1.0, math.fsum(
        math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(correct, n + 1)
    ))  # fmt: skip


def task_accuracy(summary: dict[str, Any], order: str) -> dict[str, tuple[float, int]]:
    """task -> (published score, scored samples) in one frame order of an eval summary.json.

    Example:
        summary["orders"]["ordered"]["overall"]["by_task"]["direction"] =
        {"n": 4, "failed": 0, "published": 0.75, ...} -> {"direction": (0.75, 4)}
    """
    part = summary.get("orders", {}).get(order)
    if part is None:
        return {}
    rows = {}
    for task, row in part["overall"]["by_task"].items():
        if row.get("published") is not None:
            rows[task] = (float(row["published"]), int(row["n"]) - int(row["failed"]))
    return rows


def per_task_rows(tasks: dict[str, Any], summaries: dict[str, dict]) -> list[dict[str, Any]]:
    """One row per task: chance, order-blind ceiling, accuracy per (model, order), p-value.

    `summaries` maps "sft" / "grpo" to their eval summary.json. Accuracies are None where a
    model or order was not evaluated (images have no shuffled order). The p-value is that of
    the final model's ordered accuracy under guessing at chance.
    """
    acc = {(m, o): task_accuracy(summaries.get(m, {}), o) for m in MODELS for o in ORDERS}
    final = "grpo" if summaries.get("grpo") else "sft"
    rows = []
    for name, info in tasks.items():
        row: dict[str, Any] = {
            "task": name,
            "data_type": info["data_type"],
            "order_dependent": info["order_dependent"],
            "chance": info["chance_accuracy"],
            "order_blind": info["order_blind_accuracy"],
            "n": acc[(final, "ordered")].get(name, (None, 0))[1],
        }
        for m in MODELS:
            for o in ORDERS:
                row[f"{m}_{o}"] = acc[(m, o)].get(name, (None, 0))[0]
        score = row[f"{final}_ordered"]
        row["p_value"] = (
            binomial_tail(round(score * row["n"]), row["n"], row["chance"])
            if score is not None and row["n"] else None
        )  # fmt: skip
        rows.append(row)
    return rows


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The per-task table of the report (accuracies in %)."""
    head = (
        "| task | order matters | n test | chance | order-blind best | SFT ordered | "
        "SFT shuffled | T-GRPO ordered | T-GRPO shuffled | above chance (p) |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        p = r["p_value"]
        verdict = "-" if p is None else f"{'yes' if p < 0.05 else 'no'} ({p:.2g})"
        lines.append(
            f"| {r['task']} | {'yes' if r['order_dependent'] else 'no'} | {r['n']} | "
            f"{_pct(r['chance'])} | {_pct(r['order_blind'])} | {_pct(r['sft_ordered'])} | "
            f"{_pct(r['sft_shuffled'])} | {_pct(r['grpo_ordered'])} | "
            f"{_pct(r['grpo_shuffled'])} | {verdict} |"
        )
    return head + "\n".join(lines) + "\n"


def pooled_order_dependent(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Mean over the order-dependent tasks of each accuracy column (the issue's pooled measure:
    every task weighs the same, whatever its test count); None where a task lacks the column.

    Example:
        >>> rows = [{"order_dependent": True, "sft_ordered": 0.5, "grpo_ordered": 0.75},
        ...         {"order_dependent": True, "sft_ordered": 0.7, "grpo_ordered": 0.95},
        ...         {"order_dependent": False, "sft_ordered": 0.1, "grpo_ordered": 0.1}]
        >>> {k: round(v, 2) for k, v in pooled_order_dependent(rows).items() if v is not None}
        {'sft_ordered': 0.6, 'grpo_ordered': 0.85}
    """
    chosen = [r for r in rows if r["order_dependent"]]
    pooled: dict[str, float | None] = {}
    for m in MODELS:
        for o in ORDERS:
            values = [r.get(f"{m}_{o}") for r in chosen]
            ok = bool(chosen) and all(v is not None for v in values)
            pooled[f"{m}_{o}"] = math.fsum(values) / len(values) if ok else None
    return pooled


def pooled_sentence(rows: list[dict[str, Any]]) -> str:
    """What RL added over the SFT checkpoint on the order-dependent tasks, pooled."""
    names = [r["task"] for r in rows if r["order_dependent"]]
    p = pooled_order_dependent(rows)
    if p["sft_ordered"] is None or p["grpo_ordered"] is None:
        return "Order-dependent tasks pooled: not every model was evaluated."
    gain = 100 * (p["grpo_ordered"] - p["sft_ordered"])
    text = (
        f"**Order-dependent tasks pooled** (mean over {', '.join(names)}): ordered frames "
        f"SFT {_pct(p['sft_ordered'])}% -> {MODEL_NAMES['grpo']} {_pct(p['grpo_ordered'])}% "
        f"({gain:+.1f} points from RL)"
    )
    if p["sft_shuffled"] is not None and p["grpo_shuffled"] is not None:
        text += (
            f"; shuffled frames {_pct(p['sft_shuffled'])}% -> {_pct(p['grpo_shuffled'])}% "
            f"(ordered - shuffled gap {_pct(p['sft_ordered'] - p['sft_shuffled'])} -> "
            f"{_pct(p['grpo_ordered'] - p['grpo_shuffled'])} points)"
        )
    return text + "."


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    return plt


def _whole_steps(ax: Any) -> None:
    """Ticks on whole optimizer steps only (a 4-step run is not labelled 0.5, 1.5, ...)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def curves_figure(sft: list[dict], grpo: list[dict], loss_scale: str = "log") -> Any:
    """SFT loss (log or linear axis), and GRPO reward and accuracy per step, side by side."""
    if loss_scale not in ("log", "linear"):
        raise ValueError(f"loss_scale must be 'log' or 'linear', got {loss_scale!r}")
    fig, (left, right) = _pyplot().subplots(1, 2, figsize=(10, 3.6))
    left.plot([m["step"] for m in sft], [m["train/loss"] for m in sft], color="tab:blue")
    left.set(title="SFT", xlabel="step", ylabel="loss per target token", yscale=loss_scale)
    _plot_series(right, grpo, (("train/reward/total", "total reward"),
                               ("train/reward/accuracy", "accuracy reward"),
                               ("train/temporal/passed", "groups passing the temporal rule")))  # fmt: skip
    right.set(title="T-GRPO", xlabel="step", ylabel="mean over rollouts / groups")
    right.legend(fontsize=8)
    _whole_steps(left)
    _whole_steps(right)
    fig.tight_layout()
    return fig


def moving_average(values: list[float], window: int) -> list[float]:
    """Trailing mean over the last `window` values (fewer at the start, never padded).

    Example:
        moving_average([1.0, 3.0, 2.0, 6.0], 2) -> [1.0, 2.0, 2.5, 4.0]
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def smoothing_window(steps: int) -> int:
    """The moving average's window for a curve of `steps` points: a twentieth of the run
    (20 steps for the demo's 400), 1 (no smoothing) below 40 points.

    Example:
        smoothing_window(400) -> 20; smoothing_window(30) -> 1
    """
    return max(1, steps // 20) if steps >= 40 else 1


def _plot_series(ax, rows: list[dict], series) -> None:
    """Per (metric key, label), over the logged steps that have the key: the raw values, and
    for long runs a moving average over them in the same colour, its window in the legend
    (RL's per-step values are too noisy for a trend to show in 400 raw points)."""
    for key, label in series:
        points = [(m["step"], m[key]) for m in rows if key in m]
        if not points:
            continue
        steps, values = zip(*points, strict=True)
        window = smoothing_window(len(values))
        if window == 1:
            ax.plot(steps, values, marker=".", label=label)
            continue
        [raw] = ax.plot(steps, values, linewidth=0.6, alpha=0.3)
        ax.plot(steps, moving_average(list(values), window), color=raw.get_color(),
                linewidth=1.8, label=f"{label} (mean of last {window} steps)")  # fmt: skip


def plot_curves(sft: list[dict], grpo: list[dict], path: Path, loss_scale: str = "log") -> None:
    """Write `curves_figure` to `path`."""
    fig = curves_figure(sft, grpo, loss_scale)
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)


def plot_lengths(grpo: list[dict], path: Path) -> None:
    """Mean (and max) completion length per GRPO step."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    _plot_series(ax, grpo, (("train/completion/length_mean", "mean"),
                            ("train/completion/length_max", "max")))  # fmt: skip
    ax.set(title="T-GRPO completion length", xlabel="step", ylabel="tokens")
    ax.legend(fontsize=8)
    _whole_steps(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def task_accuracy_figure(rows: list[dict[str, Any]]) -> Any:
    """Bars per task (n test samples under its name): each model on ordered and shuffled
    frames, chance marked; the legend sits right of the axes, never over a bar."""
    series = [(f"{m}_{o}", f"{MODEL_NAMES[m]}, {o}") for m in MODELS for o in ORDERS]
    width = 0.8 / len(series)
    fig, ax = _pyplot().subplots(figsize=(max(6.0, 1.6 * len(rows)) + 2.5, 3.8))
    for i, (key, label) in enumerate(series):
        xs = [t + (i - (len(series) - 1) / 2) * width for t in range(len(rows))]
        ys = [100 * (r[key] or 0.0) for r in rows]
        ax.bar(xs, ys, width, label=label, hatch="//" if "shuffled" in key else None)
    for t, r in enumerate(rows):
        ax.hlines(100 * r["chance"], t - 0.45, t + 0.45, colors="black", linestyles="dashed",
                  label="chance" if t == 0 else None)  # fmt: skip
    ax.set_xticks(range(len(rows)), [f"{r['task']}\n(n={r['n']})" for r in rows])
    ax.set(ylabel="test accuracy (%)", ylim=(0, 105), title="Per-task accuracy")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return fig


def plot_task_accuracy(rows: list[dict[str, Any]], path: Path) -> None:
    """Write `task_accuracy_figure` to `path`."""
    fig = task_accuracy_figure(rows)
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)


def write_report(out: Path, timings: dict[str, float]) -> Path:
    """Write OUT/report.md and OUT/plots/{training_curves,completion_length,task_accuracy}.png."""
    from video_r1.utils.io import atomic_write_text

    tasks = json.loads((out / "synth" / "tasks.json").read_text())["tasks"]
    summaries = {m: json.loads(p.read_text()) for m in MODELS
                 if (p := out / f"eval_{m}" / "summary.json").exists()}  # fmt: skip
    sft, grpo = (
        read_metrics(out / "sft" / "metrics.jsonl"),
        read_metrics(out / "grpo" / "metrics.jsonl"),
    )
    rows = per_task_rows(tasks, summaries)
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    plot_curves(sft, grpo, plots / "training_curves.png")
    plot_lengths(grpo, plots / "completion_length.png")
    plot_task_accuracy(rows, plots / "task_accuracy.png")
    report = render_report(rows, summaries, grpo, timings, smoke=is_smoke_run(out))
    atomic_write_text(out / "report.md", report)
    return out / "report.md"


def is_smoke_run(out: Path) -> bool:
    """Whether OUT/demo.json records the `quick` scale (every stage, too small to learn)."""
    from dataclasses import asdict

    from video_r1.demo.pipeline import SCALES

    path = out / "demo.json"
    if not path.exists():
        return False
    scale = json.loads(path.read_text()).get("scale")
    return scale == json.loads(json.dumps(asdict(SCALES["quick"])))


SMOKE_NOTICE = """**This is a smoke run (`--scale quick`)**: every stage ran end to end, but on too
few records and steps for the model to learn; the accuracies below are noise, not results.
Run `video-r1 demo` (the full scale) for the demo proper.

"""


def _overall_sentence(model: str, summary: dict) -> str:
    """All tasks on ordered frames, then the video tasks in both orders (same samples)."""
    ordered = summary.get("orders", {}).get("ordered", {}).get("overall", {})
    video = next((r for r in summary.get("order_drop", []) if r["task"] == "(all)"), None)
    text = f"{MODEL_NAMES[model]}: {_pct(ordered.get('score', {}).get('published'))}% on all tasks"
    if video is not None:
        text += (
            f"; video tasks {_pct(video['ordered'])}% ordered vs {_pct(video['shuffled'])}% "
            f"shuffled (gap {_pct(video['drop_shuffled'])} points)"
        )
    return text + "."


def _rl_share(timings: dict[str, float]) -> str:
    total = sum(timings.values())
    return f"{100 * timings.get('grpo', 0.0) / total:.0f}%" if total else "-"


def render_report(rows: list[dict], summaries: dict[str, dict], grpo: list[dict],
                  timings: dict[str, float], smoke: bool = False) -> str:  # fmt: skip
    """The Markdown of the report (opening with a warning for a smoke run)."""
    above = [r["task"] for r in rows if r["p_value"] is not None and r["p_value"] < 0.05]
    chance = math.fsum(r["chance"] for r in rows) / max(len(rows), 1)
    overall = " ".join(_overall_sentence(m, s) for m, s in summaries.items())
    last = grpo[-1] if grpo else {}
    stage_times = ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
    return f"""# video-r1 demo report

{SMOKE_NOTICE if smoke else ""}A tiny randomly initialised Qwen2.5-VL, trained from scratch on the synthetic benchmark:
SFT on the rationales, then T-GRPO (the published rule, alpha 0.3, mu 0.8, with the bonus
added after the group normalisation: `rl.temporal_variant=after_norm`), then greedy evaluation on the test split with the frames in order and shuffled in time.

## Per-task test accuracy (%) against chance

{markdown_table(rows)}
*chance*: a uniform guess over the task's answers; *order-blind best*: the best accuracy
reachable without the frame order (a static shortcut cue); *above chance*: the final model's
ordered accuracy under a one-sided binomial test against chance (p < 0.05).
Tasks above chance: {", ".join(above) or "none"} ({len(above)} of {len(rows)}).
Mean chance over tasks: {_pct(chance)}%. {overall}

{pooled_sentence(rows)}

![per-task accuracy](plots/task_accuracy.png)

## Training

![training curves](plots/training_curves.png)
![completion length](plots/completion_length.png)

Last T-GRPO step: total reward {last.get("train/reward/total", float("nan")):.3f}, accuracy
reward {last.get("train/reward/accuracy", float("nan")):.3f}, completion length
{last.get("train/completion/length_mean", float("nan")):.1f} tokens.

## Time

{stage_times} (total {sum(timings.values()):.0f} s, RL {_rl_share(timings)} of it; stages skipped on
a rerun keep their first time).
"""
