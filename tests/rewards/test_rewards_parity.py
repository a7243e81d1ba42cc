"""Parity with the published accuracy reward: a table of hand-computed cases per type (the
published quirks included), and random inputs checked against the re-stated published code."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rewards_published_reference import (
    _STOCK_ROUGE,
    published_accuracy_reward,
    published_score,
    published_wer,
)

from video_r1.data.records import PROBLEM_TYPES
from video_r1.rewards import SCORERS, accuracy_reward, score_answer
from video_r1.rewards.accuracy import rouge_scorer, word_error_rate

# (problem type, prediction, ground truth, expected, how)
TABLE = [
    ("multiple choice", "B", "B", 1.0, "equal"),
    ("multiple choice", " B\n", "B", 1.0, "stripped"),
    ("multiple choice", "B. blue", "B", 0.0, "published: raw strings"),
    ("multiple choice", "b", "B", 0.0, "published: case-sensitive"),
    ("multiple choice", "", "B", 0.0, "empty"),
    ("numerical", "42", "42", 1.0, "equal"),
    ("numerical", "42.0", "42", 0.0, "quirk: only one side has '.'"),
    ("numerical", "1,000", "1000", 0.0, "quirk: only one side has ','"),
    ("numerical", "1,000", "1,000", 1.0, "both have ',': 1000 == 1000"),
    ("numerical", "1,5", "1.5", 0.0, "both have a separator: 15 != 1.5"),
    ("numerical", "3.14159", "3.14", 1.0, "round(3.14159, 2) = 3.14"),
    ("numerical", "3.146", "3.14", 0.0, "round(3.146, 2) = 3.15"),
    ("numerical", "2.675", "2.67", 1.0, "round(2.675, 2) = 2.67 (binary float)"),
    ("numerical", "12 m", "12", 0.0, "units: float() fails"),
    ("numerical", "1_000", "1000", 1.0, "quirk: float() accepts '_'"),
    ("numerical", "-3", "-3", 1.0, "sign"),
    ("OCR", "hello world", "hello world", 1.0, "WER 0"),
    ("OCR", "hello", "hello world", 0.5, "1 deletion / 2 words"),
    ("OCR", "hello big world", "hello world", 0.5, "1 insertion / 2 words"),
    ("OCR", "Hello world", "hello world", 0.5, "case-sensitive: 1 substitution / 2"),
    ("OCR", "hello\n world", "hello world", 1.0, "any whitespace splits words"),
    ("OCR", "x y z w", "a", 0.0, "WER 4 clipped to reward 0"),
    ("OCR", "", "", 1.0, "empty reference, empty prediction: 0 / max(1, 0)"),
    ("OCR", "a", "", 0.0, "empty reference: 1 / max(1, 0)"),
    ("OCR", "", "a b c", 0.0, "3 deletions / 3"),
    ("free-form", "the cat sat", "the cat sat", 1.0, "identical"),
    # stems: cats->cat, sitting->sit, sat stays (len 3). r1: P 1/2 R 1/3 F .4; r2: 0; rL: .4
    ("free-form", "cats sitting", "the cat sat", (0.4 + 0.0 + 0.4) / 3, "ROUGE by hand"),
    ("free-form", "", "the cat sat", 0.0, "empty prediction"),
    # non-ASCII is dropped: tokens [only] vs [only]; r1 1, r2 0 (no bigrams on either side), rL 1
    ("free-form", "日本語 only", "only", (1 + 0 + 1) / 3, "non-ASCII dropped"),
    ("regression", "9", "10", 1 - (1 + 1e-9) / (10 + 1e-9), "relative error 0.1"),
    ("regression", "10", "10", 1 - 1e-9 / (10 + 1e-9), "exact: epsilon only"),
    ("regression", "25", "10", 0.0, "relative error 1.5 clipped"),
    ("regression", "0", "0", 0.0, "quirk: gt 0 gives (1e-9)/(1e-9) = 1 -> 0"),
    ("regression", "1,000", "1000", 1 - 1e-9 / (1000 + 1e-9), "commas removed"),
    ("regression", "x", "10", 0.0, "unparsable"),
    ("regression", "-5", "-4", 1 - (1 + 1e-9) / (4 + 1e-9), "negative ground truth"),
]


@pytest.mark.parametrize(("qtype", "pred", "gt", "expected", "how"), TABLE)
def test_parity_table(qtype, pred, gt, expected, how):
    assert score_answer(pred, gt, qtype) == pytest.approx(expected, abs=1e-6), how
    assert published_score(pred, gt, qtype) == pytest.approx(expected, abs=1e-6), how


def test_parity_table_covers_every_type():
    # temporal grounding is no Video-R1 type: its published parity is test_rewards_grounding's
    assert {row[0] for row in TABLE} | {"temporal grounding"} == set(PROBLEM_TYPES) == set(SCORERS)


def test_deliberate_difference_nan_is_unparsable():
    # Published: |nan - 10| is nan, max(0.0, nan) = 0.0, so "nan" scores 1.0: a reward hack.
    assert published_score("nan", "10", "regression") == 1.0
    assert score_answer("nan", "10", "regression") == 0.0
    assert score_answer("inf", "10", "regression") == 0.0
    assert score_answer("1e309", "10", "regression") == 0.0


numbers = st.one_of(
    st.integers(-10_000, 10_000).map(str),
    st.builds(lambda x, d: f"{x:.{d}f}", st.floats(-1e4, 1e4), st.integers(0, 4)),
    st.integers(1000, 10_000_000).map(lambda x: f"{x:,}"),
    st.sampled_from(["", "x", "12 m", "1,5", "-0", "+3", "1e3", ".5", "5.", "0.0", "1_0"]),
)


@settings(max_examples=300, deadline=None)
@given(numbers, numbers)
def test_numbers_match_published(pred, gt):
    for qtype in ("numerical", "regression"):
        assert score_answer(pred, gt, qtype) == pytest.approx(
            published_score(pred, gt, qtype), abs=1e-6
        )


words = st.lists(
    st.sampled_from(
        [
            "the",
            "cat",
            "Cat",
            "sat",
            "sitting",
            "mats",
            "on",
            "a",
            "running",
            "ran",
            "1",
            "x-y",
            "ÿ",
            "\n",
            "  ",
        ]
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(words.map(" ".join), words.map(" ".join))
def test_text_types_match_published(pred, gt):
    for qtype in ("OCR", "free-form", "multiple choice"):
        assert score_answer(pred, gt, qtype) == pytest.approx(
            published_score(pred, gt, qtype), abs=1e-6
        )


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_rouge_tokenizer_matches_stock_on_any_text(pred, gt):
    ours, stock = rouge_scorer().score(gt, pred), _STOCK_ROUGE.score(gt, pred)
    for key in ("rouge1", "rouge2", "rougeL"):
        assert ours[key].fmeasure == pytest.approx(stock[key].fmeasure, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_wer_matches_published_dp(ref, hyp):
    assert word_error_rate(ref, hyp) == pytest.approx(published_wer(ref, hyp), abs=1e-12)


def test_batch_matches_published_per_type_and_mixes_types():
    contents = [
        "<think>t</think><answer>B</answer>",
        "<answer>42.0</answer>",
        "<answer>hello big world</answer>",
        "<answer>cats sitting</answer>",
        "<answer>9</answer>",
        "no answer",
    ]
    solutions = [
        "<answer>B</answer>",
        "<answer>42</answer>",
        "<answer>hello world</answer>",
        "<answer>the cat sat</answer>",
        "<answer>10</answer>",
        "<answer>B</answer>",
    ]
    types = ["multiple choice", "numerical", "OCR", "free-form", "regression", "multiple choice"]
    conversational = [[{"role": "assistant", "content": c}] for c in contents]
    got = accuracy_reward(conversational, solutions, types)
    expected = [
        published_accuracy_reward([c], [s], t)[0]
        for c, s, t in zip(contents, solutions, types, strict=True)
    ]
    assert got == pytest.approx(expected, abs=1e-6)
    assert got == pytest.approx([1.0, 0.0, 0.5, 0.8 / 3, 1 - 1.000000001 / 10.000000001, 0.0])
