"""Training curves of the temporal experiment: has GRPO's own curve flattened?

The experiment compares variants after a fixed budget; the comparison means something only
if that budget is long enough for GRPO to have learned what it will (issue 12: "enough RL
steps that GRPO's own curve has flattened"). From every run's metrics.jsonl: the training
accuracy reward (ordered rollouts, all prompts of a step), mean over seeds per step, shown
as a plot and as means over equal windows of steps, and a verdict on GRPO's last window:
per seed, its mean minus the window before's; the mean over seeds with a 95% t-interval.
"""

from __future__ import annotations

from pathlib import Path

from video_r1.experiments.stats import Interval, t_interval

ACCURACY = "train/reward/accuracy"
WINDOWS = 6  # the tables' windows: 50 steps of a 300-step run
# flat: the last window's rise has a 95% interval inside +-1 point; at that pace a whole
# 300-step run moves by under 6 points, and one window by less than the ~4-point sampling SD
# of a task's test accuracy (142 clips)
FLAT_POINTS = 1.0


def reward_curves(
    metrics: dict[str, list[list[dict]]], key: str = ACCURACY
) -> dict[str, list[float]]:
    """variant -> per step, the mean over seeds of `key` (steps every seed logged).

    metrics: variant -> each seed's metrics.jsonl rows."""
    curves = {}
    for variant, runs in metrics.items():
        per_seed = [[row[key] for row in rows if key in row] for rows in runs]
        steps = min(len(values) for values in per_seed)
        curves[variant] = [sum(v[i] for v in per_seed) / len(per_seed) for i in range(steps)]
    return curves


def window_means(curve: list[float], windows: int) -> list[tuple[int, int, float]]:
    """(first step, last step, mean) over `windows` equal runs of steps (1-based).

    Example:
        >>> window_means([0.0, 1.0, 2.0, 3.0], 2)
        [(1, 2, 0.5), (3, 4, 2.5)]
    """
    windows = max(1, min(windows, len(curve)))
    size = len(curve) // windows
    out = []
    for w in range(windows):
        end = len(curve) if w == windows - 1 else (w + 1) * size
        part = curve[w * size : end]
        out.append((w * size + 1, end, sum(part) / len(part)))
    return out


def last_window_rise(
    runs: list[list[dict]], windows: int = WINDOWS, key: str = ACCURACY
) -> Interval | None:
    """Per seed, `key`'s mean over the last of `windows` windows of steps minus its mean over
    the window before, in points; their mean over seeds with a 95% t-interval (None with
    fewer than 2 seeds or 2 windows).

    Example: two seeds rising by 10 and 20 points from steps 1-2 to steps 3-4
        >>> rows = lambda *acc: [{ACCURACY: a} for a in acc]
        >>> last_window_rise([rows(0.5, 0.5, 0.6, 0.6), rows(0.5, 0.5, 0.7, 0.7)], windows=2).mean
        15.0
    """
    rises = []
    for rows in runs:
        means = window_means([row[key] for row in rows if key in row], windows)
        if len(means) < 2:
            return None
        rises.append(round(100 * (means[-1][2] - means[-2][2]), 9))
    return t_interval(rises) if len(rises) >= 2 else None


def flatness_verdict(rise: Interval | None) -> str:
    """The verdict on a rise: "flat" (95% interval inside +-FLAT_POINTS), "still rising"
    (interval above 0), "falling" (below 0), else "undetermined"; "unknown" without one.

    Example:
        >>> flatness_verdict(Interval(mean=2.0, low=1.2, high=2.8, n=18))
        'still rising'
    """
    if rise is None:
        return "unknown"
    if -FLAT_POINTS <= rise.low and rise.high <= FLAT_POINTS:
        return "flat"
    if rise.low > 0:
        return "still rising"
    if rise.high < 0:
        return "falling"
    return "undetermined"


def flatness_line(variant: str, rise: Interval | None) -> str:
    """One sentence for the report: the variant's last-window rise and its verdict."""
    if rise is None:
        return f"{variant}: too few seeds or steps for a verdict on flatness.\n"
    return (
        f"{variant}, last window minus the one before, over {rise.n} seeds: {rise.mean:+.1f} "
        f"[{rise.low:+.1f}, {rise.high:+.1f}] points: **{flatness_verdict(rise)}** (flat: "
        f"interval inside +-{FLAT_POINTS:g} point).\n"
    )


def curves_table(curves: dict[str, list[float]], windows: int = WINDOWS) -> str:
    """Markdown: per variant, the mean training accuracy reward over each window of steps."""
    first = next(iter(curves.values()))
    spans = [(a, b) for a, b, _ in window_means(first, windows)]
    header = "| variant | " + " | ".join(f"steps {a}-{b}" for a, b in spans) + " |"
    lines = [header, "|---|" + "---|" * len(spans)]
    for variant, curve in curves.items():
        means = [f"{100 * m:.1f}" for _, _, m in window_means(curve, windows)]
        lines.append(f"| {variant} | " + " | ".join(means) + " |")
    return "\n".join(lines) + "\n"


def plot_curves(curves: dict[str, list[float]], path: Path, smooth: int = 25) -> None:
    """The curves, each a running mean over `smooth` steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    for variant, curve in curves.items():
        width = max(1, min(smooth, len(curve)))
        running = [sum(curve[i : i + width]) / width for i in range(len(curve) - width + 1)]
        ax.plot(range(width, len(curve) + 1), [100 * v for v in running], label=variant)
    ax.set(xlabel="RL step", ylabel=f"training accuracy reward (%), mean of {smooth} steps",
           title="Training curves, mean over seeds")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
