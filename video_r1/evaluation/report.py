"""Markdown tables of an evaluation summary (video_r1.evaluation.summary.summarize_run)."""

from __future__ import annotations

from typing import Any

HEADER = [
    "Scores are percentages. Failed samples (a media file that could not be loaded, a "
    "generation error) are excluded from every denominator and counted under `failed`; the "
    "published eval script counted them as wrong answers. Rerun with `--retry-failed` to run "
    "them again.",
    "",
    "- published %: the published eval script's scoring (`src/eval_bench.py`): multiple choice "
    "and numerical by exact match, regression by MRA. That script scores OCR and free-form as "
    "0 (it has no rule for them); here they are scored as in training: OCR by 1 - WER, "
    "free-form by the mean of ROUGE-1/2/L F1.",
    "- official %: the official VSI-Bench scorer's rules (lmms-eval): multiple choice by the "
    "first word, case-insensitive; regression by MRA with <= thresholds. A record with a "
    "VSI-Bench `question_type` is scored by it, as that scorer does: the numerical-answer types "
    "by MRA, the others as multiple choice, whatever its problem_type. Otherwise numerical, "
    "OCR and free-form as in the published column.",
    "- temporal grounding: mIoU is the mean temporal IoU; R@m the share of samples with IoU >= "
    "m; an answer that states no interval (or a reversed one) is IoU 0 and counts in every "
    "denominator. published: video-r1's parser on the answer ([1, 3], 1 - 3, 1 to 3, 1s-3s, "
    "mm:ss); official: Time-R1's evaluate.py (the last 'A to B' in the whole output).",
    "- VSI-Bench score: published = (multiple-choice accuracy + regression MRA) / 2, as "
    "Video-R1 reports it; official = the mean over question types (`question_type` field), "
    "with the three relative-direction levels merged, as the official scorer computes it.",
]


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
    grounding = summary.get("grounding")
    for key in [k for k in grounding or {} if k.startswith("recall@")]:
        m = key.split("@")[1]
        rows.append([f"{name} / grounding R@{m}", f"IoU >= {m}", str(grounding["n"]), "",
                     _pct(grounding[key]["published"]), _pct(grounding[key]["official"])])  # fmt: skip
    vsi = summary.get("vsibench")
    if vsi:
        official = _pct(vsi["official"]) if vsi["official"] is not None else "n/a"
        rows.append(
            [
                f"{name} / VSI-Bench score",
                "published: (mc acc + MRA) / 2; official: mean over question types",
                "",
                "",
                _pct(vsi["published"]),
                official,
            ]
        )
        for category, value in vsi.get("categories", {}).items():
            rows.append([f"{name} / VSI {category}", "", "", "", "", _pct(value)])
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


def _notes(result: dict[str, Any]) -> list[str]:
    """The macro mean line, and why it or a VSI-Bench figure is missing (or how a VSI-Bench
    file was recognised when its name did not say)."""
    macro = {k: "n/a" if v is None else _pct(v) for k, v in result["overall"]["macro"].items()}
    notes = [
        "Macro mean over benchmarks (each benchmark's own figure, VSI-Bench's VSI score): "
        f"published {macro['published']}, official {macro['official']}"
    ]
    for bench, s in result["benchmarks"].items():
        if not s["scored"]:
            notes += ["", f"{bench}: no scored sample ({s['failed']} of {s['n']} failed): "
                          "no macro mean without it."]  # fmt: skip
        if s.get("vsibench_note"):
            notes += ["", f"{bench}: {s['vsibench_note']}."]
        for key in ("published_missing", "official_missing"):
            missing = s.get("vsibench", {}).get(key)
            if missing:
                notes += ["", f"{bench}: {missing}."]
    return notes


def markdown_report(summary: dict[str, Any]) -> str:
    """Per frame order: a table per benchmark and overall; then the frame-order drop table.

    Scores are percentages; "published" follows the published eval script, "official" the
    VSI-Bench scorer (see video_r1.evaluation.benchmark_metrics).
    """
    lines: list[str] = ["# Evaluation", "", *HEADER, ""]
    header = ["benchmark / part", "metric", "n", "failed", "published %", "official %"]
    for order, result in summary["orders"].items():
        lines += [f"## Frame order: {order}", ""]
        rows = []
        for bench, s in result["benchmarks"].items():
            rows += _group_rows(bench, s)
        rows += _group_rows("overall", result["overall"])
        lines += _table(header, rows)
        lines += ["", *_notes(result), ""]
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
