"""Scoring evaluation outputs and summarising per-sample lines: pure functions.

A per-sample line (see video_r1.evaluation.cli) carries `benchmark`, `task`, `problem_type`,
`frame_order`, `score` ({"published": x, "official": y}) and `error` (None, or why the sample
could not run). Failed samples are counted as failed, never as wrong: every mean below is
over the scored samples only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from video_r1.evaluation.benchmark_metrics import (
    VSI_QUESTION_TYPES,
    score_evaluation,
    scored_answer,
    vsibench_official_score,
)
from video_r1.rewards.grounding import GROUNDING

SEMANTICS = ("published", "official")
# What the mean score of each problem type is called (docs/spec.md#rewards).
METRIC_NAMES = {
    "multiple choice": "accuracy",
    "numerical": "accuracy",
    "regression": "MRA",
    "OCR": "1-WER",
    "free-form": "ROUGE",
    GROUNDING: "mIoU",
}
# Temporal grounding's recall thresholds: R@m = share of samples with IoU >= m (Time-R1's
# evaluate.py, `thresh <= iou`); an unreadable answer is IoU 0 and stays in the denominator.
RECALL_THRESHOLDS = (0.3, 0.5, 0.7)
GROUNDING_CORRECT_IOU = 0.5  # a grounding answer counts as `correct` at IoU >= 0.5 (R@0.5)


def score_output(
    output: str, ground_truth: str, problem_type: str, question_type: str | None = None
) -> dict[str, Any]:
    """The answer scored (the <answer> tag's content, or the whole output without one), scores
    under both semantics, and whether it is fully correct. `question_type` (the record's
    VSI-Bench question type, if any) picks the official metric; the published one ignores it.

    `correct` means a published score of 1 (for regression: within 5% of the truth; for
    temporal grounding: IoU >= 0.5, the field's R@0.5).
    Example:
        score_output("<think>..</think><answer>B</answer>", "B", "multiple choice")
        -> {"answer": "B", "score": {"published": 1.0, "official": 1.0}, "correct": True}
        score_output("<answer>9</answer>", "10", "numerical", "object_counting")
        -> {"answer": "9", "score": {"published": 0.0, "official": 0.9}, "correct": False}
    """
    score = {
        s: score_evaluation(output, ground_truth, problem_type, s, question_type) for s in SEMANTICS
    }
    bar = GROUNDING_CORRECT_IOU if problem_type == GROUNDING else 1.0
    return {"answer": scored_answer(output), "score": score, "correct": score["published"] >= bar}


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _means(lines: Sequence[dict]) -> dict[str, float | None]:
    return {s: _mean([float(line["score"][s]) for line in lines]) for s in SEMANTICS}


def summarize_lines(lines: Sequence[dict], vsibench: bool = False) -> dict[str, Any]:
    """Counts and mean scores of one group of lines (a benchmark, or all, in one frame order).

    Example:
        two scored multiple-choice lines (scores 1 and 0) and one failed line ->
        {"n": 3, "failed": 1, "scored": 2, "score": {"published": 0.5, ...},
         "by_type": {"multiple choice": {"metric": "accuracy", "n": 2, ...}}, "by_task": ...}
    """
    scored = [line for line in lines if line.get("error") is None]
    summary: dict[str, Any] = {
        "n": len(lines),
        "failed": len(lines) - len(scored),
        "scored": len(scored),
        "correct": sum(1 for line in scored if line["correct"]),
        "score": _means(scored),
        "by_type": {},
        "by_task": {},
    }
    for problem_type in sorted({line["problem_type"] for line in scored}):
        group = [line for line in scored if line["problem_type"] == problem_type]
        summary["by_type"][problem_type] = {
            "metric": METRIC_NAMES[problem_type],
            "n": len(group),
            **_means(group),
        }
    for task in sorted({line["task"] for line in lines}):
        group = [line for line in lines if line["task"] == task]
        ok = [line for line in group if line.get("error") is None]
        summary["by_task"][task] = {"n": len(group), "failed": len(group) - len(ok), **_means(ok)}
    grounding = [line for line in scored if line["problem_type"] == GROUNDING]
    if grounding:
        summary["grounding"] = grounding_metrics(grounding)
    if vsibench:
        summary["vsibench"] = vsibench_scores(summary["by_type"], scored)
    return summary


def grounding_metrics(lines: Sequence[dict]) -> dict[str, Any]:
    """mIoU and R@0.3 / R@0.5 / R@0.7 (share of samples with IoU >= m) of scored temporal
    grounding lines, per semantics; an unreadable answer scored IoU 0 counts in every
    denominator, as in Time-R1's evaluate.py.

    Example:
        lines of IoU 1.0, 0.5 and 0.0 (unreadable) -> {"n": 3, "miou": {"published": 0.5, ...},
        "recall@0.3": {"published": 0.667, ...}, "recall@0.5": 0.667, "recall@0.7": 0.333}
    """
    out: dict[str, Any] = {"n": len(lines), "miou": _means(lines)}
    for m in RECALL_THRESHOLDS:
        out[f"recall@{m}"] = {
            s: _mean([1.0 if float(line["score"][s]) >= m else 0.0 for line in lines])
            for s in SEMANTICS
        }
    return out


def vsibench_scores(by_type: dict[str, dict], scored: Sequence[dict]) -> dict[str, Any]:
    """The VSI-Bench figure per semantics. "published": the mean of multiple-choice accuracy
    and regression MRA, as Video-R1 reports it (None where either kind has no scored sample).
    "official": the official overall, the mean over question-type categories (relative
    direction levels merged; video_r1.evaluation.benchmark_metrics.vsibench_official_score) of the official
    scores; None, with `official_missing` saying why, when a scored line has no `category`
    (the record's `question_type`).

    Example:
        by_type {"multiple choice": {"published": 0.6, ...}, "regression": {"published": 0.2,
        ...}} and lines of categories "object_counting" (official 0.5) and "route_planning"
        (official 1.0) -> {"published": 0.4, "official": 0.75, "categories": {...}}
    """
    mc, reg = by_type.get("multiple choice"), by_type.get("regression")
    out: dict[str, Any] = {
        "published": (mc["published"] + reg["published"]) / 2 if mc and reg else None
    }
    if not (mc and reg):
        # a converted file may label its numerical-answer questions "numerical": the published
        # figure, built on problem_type, then has no MRA half
        absent = " or ".join(t for t, s in (("multiple choice", mc), ("regression", reg)) if not s)
        out["published_missing"] = (
            f"no scored {absent} sample (by problem_type): the published figure "
            "(mc acc + regression MRA) / 2 cannot be computed"
        )
    uncategorised = sum(1 for line in scored if not line.get("category"))
    if uncategorised or not scored:
        out["official"] = None
        out["official_missing"] = (
            f"{uncategorised} scored sample(s) have no question_type: the official overall "
            "(a mean over question types) cannot be computed"
            if uncategorised
            else "no scored sample"
        )
        return out
    overall, categories = vsibench_official_score(
        [line["category"] for line in scored], [float(line["score"]["official"]) for line in scored]
    )
    out.update(official=overall, categories=categories)
    return out


def benchmark_figure(summary: dict[str, Any], semantics: str) -> float | None:
    """A benchmark's own headline figure: VSI-Bench's figure for a VSI-Bench file, else the
    mean score over its scored samples."""
    if "vsibench" in summary:
        return summary["vsibench"][semantics]
    return summary["score"][semantics] if summary["scored"] else None


def is_vsibench(benchmark: str) -> bool:
    """Whether a benchmark file is VSI-Bench by its name.

    Example: is_vsibench("eval_vsibench.json") -> True
    """
    name = benchmark.lower().replace("-", "").replace("_", "")
    return "vsibench" in name


def _is_vsi_line(line: dict) -> bool:
    return line.get("category") in VSI_QUESTION_TYPES or is_vsibench(
        str(line.get("data_source") or "")
    )


def vsibench_recognition(benchmark: str, lines: Sequence[dict]) -> tuple[bool, str | None]:
    """Whether a benchmark file is VSI-Bench, so its VSI-Bench figures are reported, and a note
    for the summary when its name alone did not decide: by its name, else when every record
    has a VSI-Bench `question_type` (line `category`) or a `data_source` naming VSI-Bench. A
    file where only some records do gets no VSI-Bench figure (it would pool other questions
    in), and the note says why.

    Example:
        vsibench_recognition("eval_vsibench.json", []) -> (True, None)
        vsibench_recognition("spatial.jsonl", lines all of category "object_counting")
        -> (True, "recognised as VSI-Bench by its records ...")
        vsibench_recognition("mvbench.json", lines without VSI-Bench fields) -> (False, None)
    """
    if is_vsibench(benchmark):
        return True, None
    vsi = sum(1 for line in lines if _is_vsi_line(line))
    if not vsi:
        return False, None
    if vsi == len(lines):
        return True, (
            "recognised as VSI-Bench by its records (VSI-Bench question_type or data_source), "
            "not by its file name"
        )
    return False, (
        f"{vsi} of {len(lines)} records are VSI-Bench questions (question_type or data_source) "
        "but the others are not, and the file name does not say VSI-Bench: no VSI-Bench "
        "figure over a mixed file (split the VSI-Bench records into their own file)"
    )


def summarize_run(
    lines: Iterable[dict], benchmarks: Sequence[str], orders: Sequence[str]
) -> dict[str, Any]:
    """The whole summary: for each frame order, each benchmark's summary and the overall one.

    "overall" pools every sample of every benchmark; "macro" is, per semantics, the mean of the
    benchmarks' own figures (`benchmark_figure`; None if one of them cannot be computed). With more than one order, `order_drop` holds the per-task drop table.
    """
    lines = list(lines)
    out: dict[str, Any] = {"orders": {}}
    for order in orders:
        mine = [line for line in lines if line["frame_order"] == order]
        per_bench = {}
        for b in benchmarks:
            group = [x for x in mine if x["benchmark"] == b]
            vsi, note = vsibench_recognition(b, group)
            per_bench[b] = summarize_lines(group, vsi)
            if note:
                per_bench[b]["vsibench_note"] = note
        overall = summarize_lines(mine)
        overall["macro"] = {sem: _macro(per_bench.values(), sem) for sem in SEMANTICS}
        out["orders"][order] = {"benchmarks": per_bench, "overall": overall}
    if len(orders) > 1 and "ordered" in orders:
        out["order_drop"] = order_drop_table(lines, orders)
    return out


def _macro(summaries: Iterable[dict[str, Any]], semantics: str) -> float | None:
    # a benchmark whose samples all failed has no figure: the macro mean over the others
    # would be a mean over fewer benchmarks under the same name
    figures = [benchmark_figure(s, semantics) for s in summaries]
    return None if not figures or None in figures else _mean(figures)


def order_drop_table(lines: Sequence[dict], orders: Sequence[str]) -> list[dict[str, Any]]:
    """Per task (video samples only): published score in each frame order and the drops
    ordered - other, over the samples scored in every order (so the drop compares like with
    like), then an "(all)" row.

    Example:
        a task whose 2 samples score [1, 1] ordered and [1, 0] shuffled ->
        {"task": t, "n": 2, "ordered": 1.0, "shuffled": 0.5, "drop_shuffled": 0.5}
    """
    by_key: dict[tuple, dict[str, dict]] = {}
    for line in lines:
        if line.get("data_type") != "video" or line["frame_order"] not in orders:
            continue
        key = (line["benchmark"], str(line["problem_id"]))
        by_key.setdefault(key, {})[line["frame_order"]] = line
    complete = [
        group
        for group in by_key.values()
        if all(o in group and group[o].get("error") is None for o in orders)
    ]
    rows = []
    tasks = sorted({group["ordered"]["task"] for group in complete})
    for task, groups in [(t, [g for g in complete if g["ordered"]["task"] == t]) for t in tasks] + [
        ("(all)", complete)
    ]:
        if not groups:
            continue
        row: dict[str, Any] = {"task": task, "n": len(groups)}
        for order in orders:
            row[order] = _mean([float(g[order]["score"]["published"]) for g in groups])
        for order in orders:
            if order != "ordered":
                row[f"drop_{order}"] = row["ordered"] - row[order]
        rows.append(row)
    return rows
