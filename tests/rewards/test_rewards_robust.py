"""No completion text makes a reward raise, and every reward stays in its documented range."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from video_r1.evaluation.benchmark_metrics import score_evaluation
from video_r1.rewards import (
    SCORERS,
    accuracy_reward,
    format_reward,
    length_reward,
    lenient_accuracy_reward,
    score_answer,
)

GROUND_TRUTH = {
    "multiple choice": "<answer>B</answer>",
    "numerical": "<answer>42</answer>",
    "OCR": "<answer>STOP here</answer>",
    "free-form": "<answer>the red car turns left</answer>",
    "regression": "<answer>3.5</answer>",
    "temporal grounding": "<answer>[1.0, 3.0]</answer>",
}

NASTY = [
    "",
    "<answer></answer>",
    "<answer>",
    "</answer><answer>",
    "<answer><answer>B</answer></answer>",
    "<think><think></think><answer>B",
    "<answer>nan</answer>",
    "<answer>inf</answer>",
    "<answer>-inf</answer>",
    "<answer>1e309</answer>",
    "<answer>-1e309</answer>",
    "<answer>3.5 meters</answer>",
    "<answer>١٢</answer>",  # Arabic-Indic digits: float() accepts them
    "<answer>\x00\ud7ff\U0001f600 é ß İ</answer>",
    "<answer>" + "9" * 5000 + "</answer>",  # 5000-digit integer: float() gives inf
    "<answer>" + "1," * 3000 + "</answer>",
]


def _assert_unit_range(values, n):
    assert len(values) == n
    for v in values:
        assert isinstance(v, float) and math.isfinite(v) and 0.0 <= v <= 1.0


@pytest.mark.parametrize("qtype", list(SCORERS))
def test_nasty_inputs_score_in_range(qtype):
    sols = [GROUND_TRUTH[qtype]] * len(NASTY)
    _assert_unit_range(accuracy_reward(NASTY, sols, qtype), len(NASTY))
    _assert_unit_range(lenient_accuracy_reward(NASTY, sols, qtype), len(NASTY))
    for text in NASTY:
        for semantics in ("published", "official"):
            v = score_evaluation(text, GROUND_TRUTH[qtype][8:-9], qtype, semantics)
            assert 0.0 <= v <= 1.0
    assert set(format_reward(NASTY)) <= {0.0, 1.0}


@pytest.mark.parametrize("qtype", list(SCORERS))
def test_one_megabyte_completion(qtype):
    body = ("word STOP here 42 the car, " * 40_000)[:1_000_000]
    texts = [body, f"<think>{body}</think><answer>{body}</answer>", "<answer>" * 125_000]
    sols = [GROUND_TRUTH[qtype]] * 3
    _assert_unit_range(accuracy_reward(texts, sols, qtype), 3)
    assert format_reward(texts) == [0.0, 1.0, 0.0]


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.sampled_from(list(SCORERS)), st.booleans())
def test_any_text_scores_in_range(text, qtype, lenient):
    completions = [text, f"<answer>{text}</answer>", [{"role": "assistant", "content": text}]]
    sols = [GROUND_TRUTH[qtype]] * 3
    _assert_unit_range(accuracy_reward(completions, sols, qtype, lenient=lenient), 3)
    assert set(format_reward(completions)) <= {0.0, 1.0}
    bonus = length_reward(completions, accuracy=[1.0, 1.0, 0.0], completion_length=[400] * 3)
    assert set(bonus) <= {0.0, 0.2}


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80), st.sampled_from(list(SCORERS)))
def test_any_prediction_and_ground_truth(pred, gt, qtype):
    for lenient in (False, True):
        v = score_answer(pred, gt, qtype, lenient)
        assert isinstance(v, float) and 0.0 <= v <= 1.0


def test_unknown_problem_type_is_an_error_not_a_zero():
    with pytest.raises(ValueError, match="unknown problem_type 'essay'.*'multiple choice'"):
        accuracy_reward(["<answer>B</answer>"], ["<answer>B</answer>"], ["essay"])
    with pytest.raises(ValueError, match="unknown problem_type"):
        score_answer("B", "B", "multiple-choice")
