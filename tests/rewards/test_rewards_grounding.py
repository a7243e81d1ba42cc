"""Temporal grounding answers and rewards: the formats models write, IoU by hand, and the
published variants (Time-R1, VideoChat-R1) against their code re-stated."""

from __future__ import annotations

import ast
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from video_r1.rewards import accuracy_reward, score_answer
from video_r1.rewards.grounding import (
    _TIME_R1_RE,
    last_answer_block,
    parse_interval,
    parse_interval_time_r1,
    parse_intervals_videochat,
    score_grounding,
    solution_problem,
    temporal_iou,
    union_iou,
)

GT = "<answer>[1.0, 3.0]</answer>"


@pytest.mark.parametrize(
    "answer, interval",
    [
        ("[1.0, 3.0]", (1.0, 3.0)),
        ("(1, 3)", (1.0, 3.0)),
        ("1.0 - 3.0", (1.0, 3.0)),
        ("1.0-3.0", (1.0, 3.0)),
        ("1.0 – 3.0", (1.0, 3.0)),
        ("1.0 to 3.0", (1.0, 3.0)),
        ("from 1.0 to 3.0 seconds", (1.0, 3.0)),
        ("From 1 seconds to 3 seconds.", (1.0, 3.0)),
        ("The event happens between 2.5 and 4 s", (2.5, 4.0)),
        ("1.0s-3.0s", (1.0, 3.0)),
        ("1.0 sec ~ 3.0 sec", (1.0, 3.0)),
        ("00:01.5 - 00:03", (1.5, 3.0)),
        ("01:02 to 01:10", (62.0, 70.0)),
        ("1:00:00 - 1:00:30", (3600.0, 3630.0)),
        ("12.54 to 17.83", (12.54, 17.83)),  # Time-R1's example
        ("5 to 2", (5.0, 2.0)),  # read as written; the score rejects it
    ],
)
def test_parse_interval_reads_what_models_write(answer, interval):
    assert parse_interval(answer) == pytest.approx(interval)


@pytest.mark.parametrize(
    "answer",
    ["", "soon", "3.0", "[1.0, 3.0] or [5, 7]", "1-2, 4-5", "-1 to 3", "0:75 - 0:80", "nan to 3"],
)
def test_parse_interval_refuses_what_is_not_one_interval(answer):
    assert parse_interval(answer) is None


# (prediction, ground truth, expected IoU, how it was computed by hand)
IOU_TABLE = [
    ("[1.0, 3.0]", "[1.0, 3.0]", 1.0, "identical"),
    ("2 to 4", "[1.0, 3.0]", 1 / 3, "1 s shared / 3 s hull"),
    ("from 0 to 10 seconds", "[1.0, 3.0]", 0.2, "2 s / 10 s"),
    ("00:01.5 - 00:02.5", "[1.0, 3.0]", 0.5, "1 s inside a 2 s truth"),
    ("4.0s-6.0s", "[1.0, 3.0]", 0.0, "disjoint"),
    ("3 to 5", "[1.0, 3.0]", 0.0, "touching: no overlap"),
    ("3 to 1", "[1.0, 3.0]", 0.0, "reversed scores 0, though it names the truth's ends"),
    ("2 to 2", "[1.0, 3.0]", 0.0, "a point has no length"),
    ("no idea", "[1.0, 3.0]", 0.0, "unparsable"),
    ("[1, 3]", "[3.0, 1.0]", 0.0, "a reversed truth scores nothing"),
]


@pytest.mark.parametrize("pred, gt, expected, how", IOU_TABLE)
def test_iou_table(pred, gt, expected, how):
    assert score_answer(pred, gt, "temporal grounding") == pytest.approx(expected), how
    assert 0.0 <= score_grounding(pred, gt) <= 1.0


def test_accuracy_reward_scores_grounding_with_each_variant():
    completions = [
        "<think>x</think><answer>2 to 4</answer>",
        "<answer>[(1, 2), (2.5, 3)]</answer>",
        "<answer>0 to 1</answer> then <answer>1 and 3</answer>",
    ]
    sols = [GT] * 3
    # iou: first answer tag; a list of intervals is no single interval
    assert accuracy_reward(completions, sols, "temporal grounding") == pytest.approx(
        [1 / 3, 0.0, 0.0]
    )
    # VideoChat-R1: the union 1-2 + 2.5-3 = 1.5 s inside the 2 s truth
    assert accuracy_reward(
        completions, sols, "temporal grounding", grounding_reward="videochat_r1"
    ) == pytest.approx([1 / 3, 0.75, 0.0])
    # Time-R1: the last answer block, "1 and 3"
    assert accuracy_reward(
        completions, sols, "temporal grounding", grounding_reward="time_r1"
    ) == pytest.approx([1 / 3, 0.0, 1.0])
    # other types are untouched by the setting
    assert accuracy_reward(["<answer>B</answer>"], ["<answer>B</answer>"], "multiple choice",
                           grounding_reward="time_r1") == [1.0]  # fmt: skip
    with pytest.raises(ValueError, match="unknown grounding reward 'tiou'"):
        accuracy_reward(completions, sols, "temporal grounding", grounding_reward="tiou")


def test_videochat_reads_up_to_three_ordered_intervals():
    assert parse_intervals_videochat("[[0, 1], [2, 3], [4, 5]]") == [(0, 1), (2, 3), (4, 5)]
    assert parse_intervals_videochat("[(0, 1), (2, 3), (4, 5), (6, 7)]") is None  # 4 > 3
    assert parse_intervals_videochat("[(0, 1), (3, 2)]") is None  # one reversed: all rejected
    assert parse_intervals_videochat("[(0, 1), x]") is None
    # overlapping predictions are merged before the union is measured: 0-2.5 vs 1-3
    assert union_iou([(0.0, 2.0), (1.5, 2.5)], [(1.0, 3.0)]) == pytest.approx(1.5 / 3.0)


def test_solution_problems_name_the_fault():
    assert solution_problem("[1.0, 3.0]") is None
    assert "not [start, end]" in solution_problem("1.0 to 3.0")
    assert "not [start, end]" in solution_problem("[1.0, 2.0, 3.0]")
    assert "not [start, end]" in solution_problem("[true, 3]")
    assert "not [start, end]" in solution_problem("[1, Infinity]")
    assert solution_problem("[-1, 3]") == "start -1.0 is negative"
    assert solution_problem("[3, 3]") == "start 3.0 is not before end 3.0"


# --- the published code, re-stated (www-Ye/Time-R1 src/open_r1/grpo_video.py; OpenGVLab/
# VideoChat-R1 Videochat-R1.5/src/open_r1/reward_funcs.py), to check the variants against it


def time_r1_reward(content: str, gt: tuple[float, float]) -> float:
    blocks = re.findall(r"<answer>(.*?)</answer>", content, re.DOTALL)
    if not blocks:
        return 0.0
    matches = re.findall(r"(\d+\.?\d*) (to|and) (\d+\.?\d*)", blocks[-1], re.IGNORECASE)
    if not matches:
        return 0.0
    ps, pe = float(matches[-1][0]), float(matches[-1][2])
    s, e = gt
    inter = max(0, min(pe, e) - max(ps, s))
    union = max(pe, e) - min(ps, s)
    return inter / union if union > 0 else 0.0


def videochat_reward(content: str, gt: tuple[float, float]) -> float:
    match = re.search(r"<answer>(.*?)</answer>", content, re.DOTALL)
    if not match:
        return 0.0
    glue = match.group(1)
    pattern = r"^\[(\(\d+(\.\d+)?,\s*\d+(\.\d+)?\)(,\s*\(\d+(\.\d+)?,\s*\d+(\.\d+)?\))*(,)?|)\]$"
    if not re.match(pattern, glue):
        return 0.0
    pred = ast.literal_eval(glue)
    if len(pred) > 3 or any(a > b for a, b in pred):
        return 0.0
    return union_iou([(float(a), float(b)) for a, b in pred], [gt])


times = st.one_of(st.integers(0, 30), st.floats(0, 30).map(lambda x: round(x, 2)))
truths = st.tuples(times, times).filter(lambda p: p[0] < p[1])


@settings(max_examples=300, deadline=None)
@given(times, times, st.sampled_from(["to", "and", "TO"]), truths, st.text(max_size=10))
def test_time_r1_variant_matches_time_r1_code(a, b, word, gt, noise):
    content = f"<think>{noise}</think><answer>{noise} {a} {word} {b}</answer>"
    expected = time_r1_reward(content, gt)
    got = accuracy_reward([content], [f"<answer>[{gt[0]}, {gt[1]}]</answer>"],
                          "temporal grounding", grounding_reward="time_r1")  # fmt: skip
    assert got == pytest.approx([expected], abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["7", "31", "0.5", "2.", ".", " ", " to ", " and ", "TO", "x"]),
                max_size=20).map("".join))  # fmt: skip
@example("1.2.3 to 4. and 5..6 TO 7")
@example("x12 to 3 and 45 and 6")
def test_time_r1_reading_is_time_r1s_regex_on_any_numbers_and_words(text):
    """Ours is written to be linear on long digit runs: on text made of numbers, dots, spaces
    and the words it finds Time-R1's matches."""
    matches = re.findall(r"(\d+\.?\d*) (to|and) (\d+\.?\d*)", text, re.IGNORECASE)
    assert _TIME_R1_RE.findall(text) == matches  # every match, not only the last
    expected = (float(matches[-1][0]), float(matches[-1][2])) if matches else None
    assert parse_interval_time_r1(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(times, times), min_size=1, max_size=4), truths)
def test_videochat_variant_matches_videochat_code(pairs, gt):
    content = "<answer>[" + ", ".join(f"({a}, {b})" for a, b in pairs) + "]</answer>"
    expected = videochat_reward(content, gt)
    got = accuracy_reward([content], [f"<answer>[{gt[0]}, {gt[1]}]</answer>"],
                          "temporal grounding", grounding_reward="videochat_r1")  # fmt: skip
    assert got == pytest.approx([expected], abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(times, times, truths)
def test_iou_is_symmetric_bounded_and_one_only_on_the_truth(a, b, gt):
    pred = (min(a, b), max(a, b))
    iou = temporal_iou(pred, gt)
    assert 0.0 <= iou <= 1.0
    assert iou == pytest.approx(temporal_iou(gt, pred))
    assert (iou == 1.0) == (pred == gt)


def test_last_answer_block_matches_findall():
    for text in ["", "<answer>a", "<answer>a</answer>", "<answer>a<answer>b</answer>x</answer>",
                 "<answer>1</answer><answer>2</answer><answer>3"]:  # fmt: skip
        blocks = re.findall(r"<answer>(.*?)</answer>", text, re.DOTALL)
        assert last_answer_block(text) == (blocks[-1] if blocks else "")
