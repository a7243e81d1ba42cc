"""Evaluation metrics: per-sample scores under the published or the official VSI-Bench
semantics, mean relative accuracy (MRA), accuracy per type, the VSI-Bench figures (the
pooled one Video-R1 reports and the official per-category mean).

Per-sample semantics (the answer is the first <answer> tag, or the whole output if none, as
the published eval script does):

- "published" (tulerfeng/Video-R1 `src/eval_bench.py` `reward_fn`): multiple choice and
  numerical as in training; regression scored by MRA with `<` thresholds, relative error
  |pred - gt| / (|gt| + 1e-8) in float32 (the script uses torch float32).
- "official" (VSI-Bench lmms-eval task): multiple choice reduced to its first word with a
  trailing "." removed, compared case-insensitively; regression from the first word parsed
  with `float` (no comma removal), MRA with `<=` thresholds and |pred - gt| / gt in float64;
  unparsable numbers score 0 (its "worst case"). It picks the metric by the record's VSI-Bench
  `question_type`, not its `problem_type` (`official_problem_type`): a counting question
  labelled "numerical" is still scored by MRA.

Temporal grounding (no Video-R1 type): "published" is the training `iou` scorer on the answer
(video_r1.rewards.grounding.parse_interval: one interval in any format it reads), "official"
is Time-R1's `evaluate.py`: the last `NUMBER (to|and) NUMBER` of the whole output. Both give
temporal IoU in [0, 1], 0 for an unreadable or reversed answer.

The published eval script scores OCR and free-form as 0 (it has no branch for them); here
both semantics use the training scorers for them instead, and numerical uses the training
rule under "official" too when no VSI-Bench `question_type` decides (VSI-Bench has no such
type).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from video_r1.rewards.accuracy import check_problem_type, score_answer
from video_r1.rewards.grounding import GROUNDING, score_time_r1_eval
from video_r1.rewards.parsing import extract_answer, parse_float

Semantics = Literal["published", "official"]

# VSI-Bench question types by how its official scorer scores them (thinking-in-space
# `vsibench_process_results`: MCA_QUESTION_TYPES by exact match, NA_QUESTION_TYPES by MRA).
VSI_NUMERICAL_TYPES = frozenset(
    {"object_counting", "object_abs_distance", "object_size_estimation", "room_size_estimation"}
)
VSI_MULTIPLE_CHOICE_TYPES = frozenset(
    {
        "object_rel_direction_easy",
        "object_rel_direction_medium",
        "object_rel_direction_hard",
        "object_rel_distance",
        "route_planning",
        "obj_appearance_order",
    }
)
VSI_QUESTION_TYPES = VSI_NUMERICAL_TYPES | VSI_MULTIPLE_CHOICE_TYPES

# Thresholds 0.50, 0.55, ..., 0.95 exactly as each scorer builds them.
# torch.arange(0.5, 0.975, 0.05, dtype=float32) computes 0.5 + i * 0.05 in float64, then casts
# (np.arange in float32 would accumulate in float32 and differ in the last bit).
_PUBLISHED_THRESHOLDS = np.array([0.5 + i * 0.05 for i in range(10)], dtype=np.float32)
_OFFICIAL_THRESHOLDS = np.linspace(0.5, 0.95, int((0.95 - 0.5) / 0.05 + 2))  # 10 points


def mean_relative_accuracy(
    prediction: float, target: float, semantics: Semantics = "published"
) -> float:
    """Mean over thresholds t in {0.50, ..., 0.95} of [relative error < 1 - t] ("published")
    or [relative error <= 1 - t] ("official"). Non-finite inputs score 0.0, and so does
    target 0 under "official" (its relative error divides by the target).

    Example:
        >>> mean_relative_accuracy(8.0, 10.0)  # error 0.2 < 1 - t for t in 0.50..0.75: 6 of 10
        0.6
        >>> # float32 quirk of the published script: 1 - 0.9 is 0.10000002 there, so an error
        >>> # of exactly 0.1 passes t = 0.9 ("<"), and official "<=" in float64 agrees.
        >>> mean_relative_accuracy(9.0, 10.0), mean_relative_accuracy(9.0, 10.0, "official")
        (0.9, 0.9)
        >>> mean_relative_accuracy(15.0, 10.0), mean_relative_accuracy(15.0, 10.0, "official")
        (0.0, 0.1)
    """
    if not (math.isfinite(prediction) and math.isfinite(target)):
        return 0.0
    if semantics == "published":
        pred32, target32 = np.float32(prediction), np.float32(target)
        relative = np.abs(pred32 - target32) / (np.abs(target32) + np.float32(1e-8))
        return float(np.mean(relative < (np.float32(1) - _PUBLISHED_THRESHOLDS)))
    if semantics == "official":
        if target == 0:
            return 0.0
        relative = abs(prediction - target) / target
        return float(np.mean(relative <= 1 - _OFFICIAL_THRESHOLDS))
    raise ValueError(f"semantics must be 'published' or 'official', got {semantics!r}")


def official_problem_type(problem_type: str, question_type: str | None) -> str:
    """The problem type the official VSI-Bench scorer scores a record as: "regression" (MRA)
    for its numerical-answer question types, "multiple choice" (exact match) for the others,
    whatever `problem_type` a converted file gives; `problem_type` itself when `question_type`
    is absent or not a VSI-Bench type (other benchmarks use the field name differently).

    Example:
        >>> official_problem_type("numerical", "object_counting")
        'regression'
        >>> official_problem_type("numerical", None), official_problem_type("OCR", "open-ended")
        ('numerical', 'OCR')
    """
    if question_type in VSI_NUMERICAL_TYPES:
        return "regression"
    if question_type in VSI_MULTIPLE_CHOICE_TYPES:
        return "multiple choice"
    return problem_type


def score_evaluation(
    output: str,
    ground_truth: str,
    problem_type: str,
    semantics: Semantics = "published",
    question_type: str | None = None,
) -> float:
    """Score one model output against the ground-truth answer (the content of the record's
    <answer> tag) for evaluation, in [0, 1]. `question_type` (a VSI-Bench record's) chooses
    the metric under "official" only: the published script knows only `problem_type`.

    Example:
        >>> score_evaluation("<think>..</think><answer>b.</answer>", "B", "multiple choice")
        0.0
        >>> score_evaluation("<think>..</think><answer>b.</answer>", "B", "multiple choice",
        ...                  "official")
        1.0
        >>> score_evaluation("<answer>3 meters</answer>", "3.3", "regression", "official")  # 9/10
        0.9
        >>> score_evaluation("<answer>9</answer>", "10", "numerical", "official", "object_counting")
        0.9
    """
    check_problem_type(problem_type)
    answer = scored_answer(output)
    if semantics == "published":
        if problem_type == "regression":
            pred, gt = parse_float(answer), parse_float(ground_truth)
            return 0.0 if pred is None or gt is None else mean_relative_accuracy(pred, gt)
        return score_answer(answer, ground_truth, problem_type)
    if semantics == "official":
        if problem_type == GROUNDING:
            return score_time_r1_eval(output if isinstance(output, str) else "", ground_truth)
        problem_type = official_problem_type(problem_type, question_type)
        if problem_type == "multiple choice":
            return 1.0 if _first_word(answer).lower() == ground_truth.lower() else 0.0
        if problem_type == "regression":
            pred, gt = _official_float(_first_word(answer)), _official_float(ground_truth)
            return (
                0.0 if pred is None or gt is None else mean_relative_accuracy(pred, gt, semantics)
            )
        return score_answer(answer, ground_truth, problem_type)
    raise ValueError(f"semantics must be 'published' or 'official', got {semantics!r}")


def scored_answer(output: str) -> str:
    """The text an evaluation scores: the first <answer> tag's content, or the whole output
    when it has none (as the published eval script does).

    Example:
        >>> scored_answer("<think>..</think><answer> B </answer>"), scored_answer("B")
        ('B', 'B')
    """
    if not isinstance(output, str):
        return ""
    answer = extract_answer(output)
    return answer if answer != "" else output


def _first_word(text: str) -> str:
    # VSI-Bench `fuzzy_matching`: pred.split(" ")[0].rstrip(".").strip()
    return text.split(" ")[0].rstrip(".").strip()


def _official_float(text: str) -> float | None:
    try:
        value = float(text)
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def accuracy_by_type(problem_types: Sequence[str], scores: Sequence[float]) -> dict[str, float]:
    """Mean score per problem type, plus "overall" (the mean over all samples).

    Example:
        >>> accuracy_by_type(["multiple choice", "multiple choice", "regression"], [1, 0, 0.5])
        {'multiple choice': 0.5, 'regression': 0.5, 'overall': 0.5}
    """
    if len(problem_types) != len(scores):
        raise ValueError(f"{len(problem_types)} problem types but {len(scores)} scores")
    groups: dict[str, list[float]] = {}
    for t, s in zip(problem_types, scores, strict=True):
        groups.setdefault(t, []).append(float(s))
    out = {t: math.fsum(v) / len(v) for t, v in groups.items()}
    if scores:
        out["overall"] = math.fsum(float(s) for s in scores) / len(scores)
    return out


def vsibench_score(problem_types: Sequence[str], scores: Sequence[float]) -> float:
    """The VSI-Bench figure Video-R1 reports: the mean of the multiple-choice accuracy and the
    regression MRA. Raises ValueError if either kind of question is missing.

    Example:
        >>> vsibench_score(["multiple choice", "multiple choice", "regression"], [1, 0, 0.9])
        0.7
    """
    by_type = accuracy_by_type(problem_types, scores)
    missing = [t for t in ("multiple choice", "regression") if t not in by_type]
    if missing:
        raise ValueError(f"VSI-Bench score needs both question kinds; no {' or '.join(missing)}")
    return (by_type["multiple choice"] + by_type["regression"]) / 2


# VSI-Bench's three relative-direction levels form one category in its official overall.
VSI_DIRECTION_LEVELS = (
    "object_rel_direction_easy",
    "object_rel_direction_medium",
    "object_rel_direction_hard",
)
VSI_DIRECTION = "object_rel_direction"


def vsibench_official_score(
    categories: Sequence[str], scores: Sequence[float]
) -> tuple[float, dict[str, float]]:
    """The official VSI-Bench overall (thinking-in-space `vsibench_aggregate_results`): the mean
    over question-type categories of each category's mean score, after the easy/medium/hard
    relative-direction categories are merged into one (the mean of their means). Returns
    (overall, mean per category). The official code counts an absent direction level as 0;
    here the merged category is the mean of the levels present (the same on the full set).

    Example:
        >>> vsibench_official_score(["object_counting", "object_rel_direction_easy",
        ...                          "object_rel_direction_hard"], [1, 1, 0])
        (0.75, {'object_counting': 1.0, 'object_rel_direction': 0.5})
    """
    if not scores:
        raise ValueError("VSI-Bench official score needs at least one scored sample")
    by_category = accuracy_by_type(categories, scores)
    by_category.pop("overall")
    levels = [by_category.pop(level) for level in VSI_DIRECTION_LEVELS if level in by_category]
    if levels:
        by_category[VSI_DIRECTION] = math.fsum(levels) / len(levels)
    by_category = dict(sorted(by_category.items()))
    return math.fsum(by_category.values()) / len(by_category), by_category
