"""Evaluation metrics: MRA under both semantics, per-sample scoring, per-type means, VSI-Bench."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from video_r1.evaluation.benchmark_metrics import (
    accuracy_by_type,
    mean_relative_accuracy,
    score_evaluation,
    vsibench_official_score,
    vsibench_score,
)


def torch_published_mra(pred: float, target: float) -> float:
    # The published eval script's formula, in torch float32 as it runs there.
    pred_t, target_t = (
        torch.tensor(pred, dtype=torch.float32),
        torch.tensor(target, dtype=torch.float32),
    )
    rel = torch.abs(pred_t - target_t) / (torch.abs(target_t) + 1e-8)
    thresholds = torch.arange(0.5, 0.95 + 0.05 / 2, 0.05, dtype=torch.float32)
    return (rel < (1 - thresholds)).float().mean().item()


def numpy_official_mra(pred: float, target: float) -> float:
    # VSI-Bench lmms-eval: linspace thresholds, |pred - gt| / gt, "<=".
    conf = np.linspace(0.5, 0.95, int((0.95 - 0.5) / 0.05 + 2))
    return float((abs(pred - target) / target <= 1 - conf).mean())


def test_mra_hand_values():
    # relative error 0.2: below 1 - t for t in 0.50..0.75 (6 thresholds), not at t = 0.8
    assert mean_relative_accuracy(8.0, 10.0) == pytest.approx(0.6)
    # relative error 0.1 with t = 0.9: in the published float32, 1 - 0.9 = 0.10000002 > 0.1
    # (0.10000000149), so "<" holds there too: 9 of 10, not the 8 of exact arithmetic
    assert mean_relative_accuracy(9.0, 10.0) == pytest.approx(0.9)
    # relative error exactly 0.5: "<" never holds, "<=" holds at t = 0.5
    assert mean_relative_accuracy(15.0, 10.0) == 0.0
    assert mean_relative_accuracy(15.0, 10.0, "official") == pytest.approx(0.1)
    assert mean_relative_accuracy(10.0, 10.0) == 1.0
    assert mean_relative_accuracy(float("nan"), 10.0) == 0.0
    assert mean_relative_accuracy(1.0, 0.0, "official") == 0.0
    with pytest.raises(ValueError, match="semantics"):
        mean_relative_accuracy(1.0, 1.0, "lmms")  # type: ignore[arg-type]


boundary = st.sampled_from([0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5])


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.floats(0.01, 1000), st.integers(1, 100).map(float)),
    st.one_of(st.floats(-1, 1), boundary, boundary.map(lambda b: -b)),
)
def test_mra_matches_both_reference_formulas(target, rel):
    pred = target * (1 + rel)  # lands on threshold boundaries often
    # same count of thresholds passed; torch returns the mean as float32 (0.8 -> 0.80000001)
    assert mean_relative_accuracy(pred, target) == pytest.approx(
        torch_published_mra(pred, target), abs=1e-6
    )
    assert mean_relative_accuracy(pred, target, "official") == numpy_official_mra(pred, target)


def test_score_evaluation_published_and_official():
    out = "<think>...</think><answer>b.</answer>"
    assert score_evaluation(out, "B", "multiple choice") == 0.0
    assert score_evaluation(out, "B", "multiple choice", "official") == 1.0
    assert score_evaluation("B. the red one", "B", "multiple choice", "official") == 1.0
    # no tag: the whole output is the answer (published eval fallback)
    assert score_evaluation("B", "B", "multiple choice") == 1.0
    assert score_evaluation("<answer>8</answer>", "10", "regression") == pytest.approx(0.6)
    # official reads the first word: "3 meters" -> 3; published float() fails -> 0
    assert score_evaluation("<answer>3 meters</answer>", "3.3", "regression") == 0.0
    assert score_evaluation(
        "<answer>3 meters</answer>", "3.3", "regression", "official"
    ) == pytest.approx(0.9)
    # official does not remove commas: "1,000" is unparsable -> worst case 0
    assert score_evaluation("<answer>1,000</answer>", "1000", "regression", "official") == 0.0
    assert score_evaluation("<answer>1,000</answer>", "1000", "regression") == 1.0
    assert score_evaluation("<answer>hello</answer>", "hello world", "OCR") == 0.5
    with pytest.raises(ValueError, match="unknown problem_type"):
        score_evaluation("x", "x", "essay")


def test_accuracy_by_type_and_vsibench():
    types = ["multiple choice", "multiple choice", "regression", "regression", "OCR"]
    scores = [1.0, 0.0, 0.8, 0.4, 0.5]
    by_type = accuracy_by_type(types, scores)
    assert by_type["multiple choice"] == 0.5
    assert by_type["regression"] == pytest.approx(0.6)
    assert by_type["OCR"] == 0.5
    assert by_type["overall"] == pytest.approx(2.7 / 5)
    assert vsibench_score(types, scores) == pytest.approx((0.5 + 0.6) / 2)
    with pytest.raises(ValueError, match="no regression"):
        vsibench_score(["multiple choice"], [1.0])
    with pytest.raises(ValueError, match="2 problem types but 1 scores"):
        accuracy_by_type(types[:2], [1.0])
    assert accuracy_by_type([], []) == {}


# A converted VSI-Bench file whose numerical-answer questions are labelled "numerical"
# (output, ground truth, question_type); each record's problem_type is "numerical".
VSI_AS_NUMERICAL = [
    ("<answer>3</answer>", "3", "object_counting"),
    ("<answer>5</answer>", "5", "object_counting"),
    ("<answer>7.2</answer>", "10", "object_counting"),
    ("<answer>18.3</answer>", "20.0", "room_size_estimation"),
]


def _per_question_type(semantics: str) -> dict[str, float]:
    scores = [
        score_evaluation(out, gt, "numerical", semantics, question_type=qtype)  # type: ignore[arg-type]
        for out, gt, qtype in VSI_AS_NUMERICAL
    ]
    return vsibench_official_score([q for *_, q in VSI_AS_NUMERICAL], scores)[1]


def test_official_metric_follows_the_vsi_question_type_not_the_problem_type():
    official = _per_question_type("official")
    # counting by MRA with "<=": 1, 1, and |7.2 - 10| / 10 = 0.28 <= 1 - t for t = 0.50, 0.55,
    # 0.60, 0.65, 0.70 (5 of 10; at t = 0.75, 0.25 < 0.28) -> (1 + 1 + 0.5) / 3 = 0.833
    assert official["object_counting"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert round(official["object_counting"], 3) == 0.833
    # room size: |18.3 - 20| / 20 = 0.085 <= 1 - t for t = 0.50..0.90 (9 of 10) -> 0.9
    assert official["room_size_estimation"] == pytest.approx(0.9)
    # the published column as the published script scores "numerical": exact match; "7.2"
    # has a "." and "10" none -> 0, and 18.3 != 20.0 -> 0: (1 + 1 + 0) / 3 = 0.667 and 0.0
    published = _per_question_type("published")
    assert published == {"object_counting": pytest.approx(2 / 3), "room_size_estimation": 0.0}
    # which is what "official" gave before it read question_type, and still gives without one
    assert score_evaluation("<answer>7.2</answer>", "10", "numerical", "official") == 0.0
    # a multiple-choice question type is exact match on the first word whatever its label;
    # a question_type that is not VSI-Bench's (MMVU's "multiple-choice") changes nothing
    assert score_evaluation("<answer>b. left</answer>", "B", "free-form", "official",
                            question_type="route_planning") == 1.0  # fmt: skip
    assert score_evaluation("<answer>7.2</answer>", "10", "numerical", "official",
                            question_type="multiple-choice") == 0.0  # fmt: skip
