"""Markdown tables of an evaluation summary (video_r1.evaluation.scoring.summarize_run)."""

from __future__ import annotations

from typing import Any


def _pct(value: float | None) -> str:
    """A score in [0, 1] as a percentage with one decimal; "-" when absent.

    Example: _pct(0.3456) -> "34.6"; _pct(None) -> "-"
    """
    return "-" if value is None else f"{100 * value:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _group_rows(name: str, summary: dict[str, Any]) -> list[list[str]]:
    """One row for the group, then one per problem type and one per task (indented)."""
    rows = [
        [
            f"**{name}**",
            "all",
            str(summary["n"]),
            str(summary["failed"]),
            _pct(summary["score"]["published"]),
            _pct(summary["score"]["official"]),
        ]
    ]
    for problem_type, s in summary["by_type"].items():
        rows.append(
            [
                f"{name} / {problem_type}",
                s["metric"],
                str(s["n"]),
                "",
                _pct(s["published"]),
                _pct(s["official"]),
            ]
        )
    vsi = summary.get("vsibench")
    if vsi:
        rows.append(
            [
                f"{name} / VSI-Bench score",
                "(mc acc + MRA) / 2",
                "",
                "",
                _pct(vsi["published"]),
                _pct(vsi["official"]),
            ]
        )
    for task, s in summary["by_task"].items():
        rows.append(
            [
                f"{name} / task {task}",
                "",
                str(s["n"]),
                str(s["failed"]),
                _pct(s["published"]),
                _pct(s["official"]),
            ]
        )
    return rows


def markdown_report(summary: dict[str, Any]) -> str:
    """Per frame order: a table per benchmark and overall; then the frame-order drop table.

    Scores are percentages; "published" follows the published eval script, "official" the
    VSI-Bench scorer (see video_r1.rewards.metrics).
    """
    lines: list[str] = ["# Evaluation", ""]
    header = ["benchmark / part", "metric", "n", "failed", "published %", "official %"]
    for order, result in summary["orders"].items():
        lines += [f"## Frame order: {order}", ""]
        rows = []
        for bench, s in result["benchmarks"].items():
            rows += _group_rows(bench, s)
        rows += _group_rows("overall", result["overall"])
        lines += _table(header, rows)
        lines += ["", f"Macro mean over benchmarks: {_pct(result['overall']['macro'])}", ""]
    drops = summary.get("order_drop")
    if drops:
        orders = [k for k in drops[0] if k not in ("task", "n") and not k.startswith("drop_")]
        drop_keys = [k for k in drops[0] if k.startswith("drop_")]
        lines += [
            "## Reliance on frame order (video samples scored in every order)",
            "",
            "drop = ordered - other, in points: how much of the score needs the true order.",
            "",
        ]
        rows = [
            [
                r["task"],
                str(r["n"]),
                *(_pct(r[o]) for o in orders),
                *(_pct(r[k]) for k in drop_keys),
            ]
            for r in drops
        ]
        lines += _table(["task", "n", *orders, *drop_keys], rows)
        lines.append("")
    return "\n".join(lines) + "\n"
