"""The opt-in lenient scoring normalises option letters, numbers and OCR case."""

from __future__ import annotations

import pytest

from video_r1.rewards import accuracy_reward, score_answer


@pytest.mark.parametrize(
    ("pred", "gt", "expected"),
    [
        ("B. blue", "B", 1.0),
        ("(b)", "B", 1.0),
        ("Answer: B", "B", 1.0),
        ("The correct option is C.", "C", 1.0),
        ("[d]", "D", 1.0),
        ("b", "B", 1.0),
        ("B", "C", 0.0),
        ("a cat", "A", 0.0),  # a lower-case article is not an option letter
        ("I think it is B", "I", 0.0),  # the word "I" is not option I
        ("A cat sits", "A", 0.0),  # nor is the article "A" before a word
        ("I.", "I", 1.0),
        ("A) a cat", "A", 1.0),
        ("B blue", "B", 1.0),
        ("red car", "Red car.", 1.0),  # non-letter answers: case and trailing "." ignored
    ],
)
def test_lenient_multiple_choice(pred, gt, expected):
    assert score_answer(pred, gt, "multiple choice", lenient=True) == expected


@pytest.mark.parametrize(
    ("pred", "gt", "expected"),
    [
        ("42.0", "42", 1.0),
        ("1,000", "1000", 1.0),
        ("1,234,567.5", "1234567.50", 1.0),
        ("12 m", "12", 1.0),
        ("about 3.14159 meters", "3.14", 1.0),
        ("41", "42", 0.0),
        ("none", "42", 0.0),
        ("inf", "42", 0.0),
    ],
)
def test_lenient_numerical(pred, gt, expected):
    assert score_answer(pred, gt, "numerical", lenient=True) == expected


def test_lenient_regression_and_ocr():
    assert score_answer("3.5 m", "3.5", "regression", lenient=True) == pytest.approx(1.0)
    assert score_answer("3.5 m", "3.5", "regression") == 0.0
    assert score_answer("stop HERE", "STOP here", "OCR", lenient=True) == 1.0
    assert score_answer("stop HERE", "STOP here", "OCR") == 0.0


def test_lenient_flag_through_the_batch_function():
    got = accuracy_reward(
        ["<answer>B. blue</answer>", "<answer>42.0</answer>"],
        ["<answer>B</answer>", "<answer>42</answer>"],
        ["multiple choice", "numerical"],
        lenient=True,
    )
    assert got == [1.0, 1.0]


def test_one_solution_string_is_every_completions_solution():
    # a bare string is one solution for all, never taken apart into its characters
    completions = ["<answer>B</answer>"] * 18  # as many as "<answer>B</answer>" has characters
    assert accuracy_reward(completions, "<answer>B</answer>", "multiple choice") == [1.0] * 18
    with pytest.raises(ValueError, match="2 completions but 3 values of solution"):
        accuracy_reward(["<answer>B</answer>"] * 2, ["<answer>B</answer>"] * 3, "multiple choice")
