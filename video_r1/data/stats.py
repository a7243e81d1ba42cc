"""Dataset composition: counts by data_type, problem_type and data_source, and a figure."""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from video_r1.utils.io import atomic_write_bytes

STAT_FIELDS: tuple[str, ...] = ("data_type", "problem_type", "data_source")


def count_fields(rows: Iterable[Any]) -> dict[str, Counter]:
    """Count raw records by each of STAT_FIELDS; a missing or non-string value counts as "?".

    Example:
        >>> count_fields([{"data_type": "video"}, {"data_type": "image"}])["data_type"]
        Counter({'video': 1, 'image': 1})
    """
    counts: dict[str, Counter] = {name: Counter() for name in STAT_FIELDS}
    for row in rows:
        for name in STAT_FIELDS:
            value = row.get(name) if isinstance(row, dict) else None
            counts[name][value if isinstance(value, str) and value else "?"] += 1
    return counts


def format_table(counts: dict[str, Counter], total: int) -> str:
    """A plain-text table: one block per field, rows sorted by count, with percentages.

    Example:
        >>> print(format_table({"data_type": Counter({"video": 3, "image": 1})}, 4))
        data_type      count       %
          video            3    75.0
          image            1    25.0
    """
    blocks = []
    for name, counter in counts.items():
        width = max([len(name) + 2, *(len(k) + 4 for k in counter)])
        lines = [f"{name:<{width}} {'count':>5} {'%':>7}"]
        for key, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
            share = 100.0 * n / total if total else 0.0
            lines.append(f"  {key:<{width - 2}} {n:>5} {share:>7.1f}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def plot_counts(counts: dict[str, Counter], out: str | os.PathLike, title: str = "") -> Path:
    """Bar charts of the counts, one panel per field (like the paper's dataset figure).

    The figure grows with the longest panel (about 0.25 inch per bar), so 30 data sources
    stay legible instead of overlapping in a fixed-size panel.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    most = max((len(c) for c in counts.values()), default=1)
    height = max(4.0, 1.5 + 0.25 * most)
    fig, axes = plt.subplots(1, len(counts), figsize=(5 * len(counts), height), squeeze=False)
    for ax, (name, counter) in zip(axes[0], counts.items(), strict=True):
        items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        labels, values = [k for k, _ in items], [v for _, v in items]
        bars = ax.barh(labels[::-1], values[::-1], color="tab:blue")
        ax.bar_label(bars, padding=2, fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_title(name)
        ax.set_xlabel("records")
        ax.margins(x=0.15, y=0.01)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=Path(out).suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(out, buffer.getvalue())
    return Path(out)
