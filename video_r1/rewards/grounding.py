"""Temporal grounding: reading the interval a model answers and scoring it by temporal IoU.

A grounding record's solution is `<answer>[start, end]</answer>`, in seconds of the original
video (docs/spec.md#temporal-grounding). What a model writes is read by `parse_interval`;
scores are in [0, 1] and an answer that cannot be read, or whose start lies after its end,
scores 0. Three published ways to score (the `rl.grounding_reward` setting):

- `iou` (default): video-r1's parser on the (first) answer tag, temporal IoU.
- `time_r1`: Time-R1 (arXiv 2503.13377, www-Ye/Time-R1 `src/open_r1/grpo_video.py`,
  `iou_timestamp_reward`): the last `<answer>` block, the last `NUMBER (to|and) NUMBER` in it,
  IoU = max(0, intersection) / (max(end) - min(start)). No other term.
- `videochat_r1`: VideoChat-R1 (arXiv 2504.06958, OpenGVLab/VideoChat-R1
  `Videochat-R1.5/src/open_r1/reward_funcs.py`, `iou_timestamp_reward`): up to 3 intervals
  `[(s, e), ...]`, each s <= e, scored by the IoU of the merged unions.

Everything here is total: any string in, a value out, never an exception.
"""

from __future__ import annotations

import json
import math
import re

GROUNDING = "temporal grounding"  # the problem type
GROUNDING_REWARDS: tuple[str, ...] = ("iou", "time_r1", "videochat_r1")
MAX_VIDEOCHAT_INTERVALS = 3  # VideoChat-R1's `is_valid_two_d_list_format`: len(lst) <= 3

Interval = tuple[float, float]

# A time: seconds (12.54), mm:ss(.f) or hh:mm:ss(.f), not followed by more of a number. An
# interval's first time is not preceded by a digit, '.', ':' or '-' ("-1 to 3" is no 1 to 3).
_TIME = r"(\d+(?::\d+){0,2}(?:\.\d+)?)(?![\d:]|\.\d)"
_UNIT = r"(?:\s*(?:seconds|second|secs|sec|s)\b)?"
_SEP = r"\s*(?:-|–|—|~|,|\bto\b|\band\b|\buntil\b|\btill\b)\s*"
_INTERVAL_RE = re.compile(r"(?<![\d.:\-])" + _TIME + _UNIT + _SEP + _TIME + _UNIT, re.IGNORECASE)
# Time-R1's pattern `(\d+\.?\d*) (to|and) (\d+\.?\d*)` (one space either side of "to"/"and";
# plain decimals only), written to find the same matches in linear time: Time-R1's form splits
# a run of digits in every way at every start (cubic: a 5000-digit answer took 7 minutes to
# score). Each number is `\d+(?:\.\d*)?` (one way to read it), and no match starts inside
# a run of digits (one starting at the run's first digit would have matched first).
_TIME_R1_RE = re.compile(r"(?<!\d)(\d+(?:\.\d*)?) (to|and) (\d+(?:\.\d*)?)", re.IGNORECASE)
_NUMBER = r"\s*(\d+(?:\.\d+)?)\s*"
_PAIR_RE = re.compile(r"\(" + _NUMBER + "," + _NUMBER + r"\)|\[" + _NUMBER + "," + _NUMBER + r"\]")


def parse_time(text: str) -> float | None:
    """Seconds from `12.5`, `mm:ss(.f)` or `hh:mm:ss(.f)`; None if it is none of these (or
    minutes/seconds fields are 60 or more).

    Example:
        >>> parse_time("12.5"), parse_time("00:01.5"), parse_time("1:02:03"), parse_time("0:75")
        (12.5, 1.5, 3723.0, None)
    """
    parts = text.strip().split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    if len(values) > 3 or not all(math.isfinite(v) and v >= 0 for v in values):
        return None
    if any(v >= 60 for v in values[1:]):
        return None
    seconds = 0.0
    for v in values:
        seconds = seconds * 60 + v
    return seconds


def parse_interval(answer: str) -> Interval | None:
    """The one interval an answer states, as (start, end) in seconds; None if it states none
    or more than one. Not checked for order: `parse_interval("5 to 2")` is (5.0, 2.0).

    Read: two times joined by `-`, `–`, `~`, `,`, `to`, `and`, `until`; each time in seconds
    or mm:ss / hh:mm:ss, optionally with a unit (s, sec, seconds); any words or brackets
    around them ("from ... seconds", "[...]").

    Example:
        >>> parse_interval("[1.0, 3.0]"), parse_interval("from 1 to 3 seconds")
        ((1.0, 3.0), (1.0, 3.0))
        >>> parse_interval("1.0s-3.0s"), parse_interval("00:01.5 - 00:03")
        ((1.0, 3.0), (1.5, 3.0))
        >>> parse_interval("12.54 to 17.83"), parse_interval("soon"), parse_interval("1-2, 4-5")
        ((12.54, 17.83), None, None)
    """
    if not isinstance(answer, str):
        return None
    matches = _INTERVAL_RE.findall(answer)
    if len(matches) != 1:
        return None
    start, end = parse_time(matches[0][0]), parse_time(matches[0][1])
    if start is None or end is None:
        return None
    return start, end


def parse_solution(answer: str) -> Interval | None:
    """A record's ground truth `[start, end]` (JSON: two finite numbers, 0 <= start < end);
    None otherwise. `solution_problem` says why.

    Example:
        >>> parse_solution("[1.0, 3.0]"), parse_solution("[3, 1]")
        ((1.0, 3.0), None)
    """
    return None if solution_problem(answer) else _json_pair(answer)


def solution_problem(answer: str) -> str | None:
    """Why a grounding record's answer is not a valid `[start, end]`; None if it is.

    Example:
        >>> solution_problem("[1.0, 3.0]") is None
        True
        >>> solution_problem("[3.0, 1.0]")
        'start 3.0 is not before end 1.0'
    """
    pair = _json_pair(answer)
    if pair is None:
        return f"answer {answer!r} is not [start, end]: two numbers in seconds"
    start, end = pair
    if start < 0:
        return f"start {start} is negative"
    if start >= end:
        return f"start {start} is not before end {end}"
    return None


def _json_pair(answer: str) -> Interval | None:
    try:
        value = json.loads(answer)
    except (ValueError, TypeError):
        return None
    if not (isinstance(value, list) and len(value) == 2):
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return None
    start, end = float(value[0]), float(value[1])
    if not (math.isfinite(start) and math.isfinite(end)):
        return None
    return start, end


def temporal_iou(prediction: Interval, truth: Interval) -> float:
    """Intersection over union of two intervals in [0, 1]; 0 for a reversed prediction.

    The union of two intervals that overlap is their hull, so this equals Time-R1's
    `max(0, min(e) - max(s)) / (max(e) - min(s))` whenever the prediction is in order.

    Example:
        >>> temporal_iou((1.0, 3.0), (2.0, 4.0))  # 1 s shared / 3 s covered
        0.3333333333333333
        >>> temporal_iou((0.0, 1.0), (2.0, 4.0)), temporal_iou((3.0, 1.0), (1.0, 3.0))
        (0.0, 0.0)
    """
    (ps, pe), (gs, ge) = prediction, truth
    if ps > pe:
        return 0.0
    inter = max(0.0, min(pe, ge) - max(ps, gs))
    hull = max(pe, ge) - min(ps, gs)
    return inter / hull if hull > 0 else 0.0


def last_answer_block(text: str) -> str:
    """Content of the last `<answer>...</answer>` block as `re.findall(r"<answer>(.*?)</answer>",
    text, re.DOTALL)[-1]` finds it (Time-R1's parse), unstripped; "" when there is none.
    Found with `find`s: linear in the text.

    Example:
        >>> last_answer_block("<answer>1 to 2</answer> <answer>3 to 4</answer>")
        '3 to 4'
    """
    if not isinstance(text, str):
        return ""
    last, pos = "", 0
    while True:
        start = text.find("<answer>", pos)
        if start < 0:
            return last
        end = text.find("</answer>", start + len("<answer>"))
        if end < 0:
            return last
        last, pos = text[start + len("<answer>") : end], end + len("</answer>")


def parse_interval_time_r1(answer: str) -> Interval | None:
    """Time-R1's reading of an answer block: the last `NUMBER (to|and) NUMBER` match.

    Example:
        >>> parse_interval_time_r1("about 1.5 to 2 or 3 and 4.25"), parse_interval_time_r1("1-2")
        ((3.0, 4.25), None)
    """
    if not isinstance(answer, str):
        return None
    matches = _TIME_R1_RE.findall(answer)
    if not matches:
        return None
    return float(matches[-1][0]), float(matches[-1][2])


def parse_intervals_videochat(answer: str) -> list[Interval] | None:
    """The intervals of a VideoChat-R1 answer `[(s, e), (s, e)]` (pairs in parentheses or
    brackets, plain non-negative decimals), or one interval as `parse_interval` reads it.
    None when unreadable, with more than 3 intervals, or with any s > e (VideoChat-R1 rejects
    the whole answer then).

    Example:
        >>> parse_intervals_videochat("[(1, 2), (4.5, 6)]"), parse_intervals_videochat("1 to 3")
        ([(1.0, 2.0), (4.5, 6.0)], [(1.0, 3.0)])
        >>> parse_intervals_videochat("[(2, 1)]") is None
        True
    """
    if not isinstance(answer, str):
        return None
    body = answer.strip()
    inner = body[1:-1] if body.startswith("[") and body.endswith("]") else ""
    if _PAIR_RE.search(inner):  # a list of pairs: nothing else may stand in it
        if _PAIR_RE.sub("", inner).replace(",", "").strip():
            return None
        intervals = [(float(a or c), float(b or d)) for a, b, c, d in _PAIR_RE.findall(inner)]
    else:
        single = parse_interval(body)
        intervals = None if single is None else [single]
    if intervals is None or len(intervals) > MAX_VIDEOCHAT_INTERVALS:
        return None
    if any(s > e for s, e in intervals):
        return None
    return intervals


def merge_intervals(intervals: list[Interval]) -> list[Interval]:
    """Sorted, with overlapping or touching intervals merged (VideoChat-R1's `merge_intervals`).

    Example:
        >>> merge_intervals([(4.0, 5.0), (0.0, 3.0), (2.0, 4.0)])
        [(0.0, 5.0)]
    """
    merged: list[list[float]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def union_iou(prediction: list[Interval], truth: list[Interval]) -> float:
    """IoU of the unions of two interval lists (VideoChat-R1's `compute_iou`); 1.0 when both
    unions are empty, as published.

    Example:
        >>> union_iou([(0.0, 1.0), (2.0, 3.0)], [(0.0, 3.0)])  # 2 s shared / 3 s covered
        0.6666666666666666
    """
    a, b = merge_intervals(prediction), merge_intervals(truth)
    len_a = sum(e - s for s, e in a)
    len_b = sum(e - s for s, e in b)
    inter, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            inter += end - start
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    union = len_a + len_b - inter
    return 1.0 if union == 0 else inter / union


def score_time_r1_eval(output: str, ground_truth: str) -> float:
    """Time-R1's evaluation (www-Ye/Time-R1 `evaluate.py`): the last `NUMBER (to|and) NUMBER`
    anywhere in the whole output (no answer tag needed), IoU clipped at 0; 0 if none.

    Example:
        >>> score_time_r1_eval("<think>maybe 0 to 9</think> it is 2 to 4", "[1.0, 3.0]")
        0.3333333333333333
    """
    truth = _json_pair(ground_truth) or parse_interval(ground_truth)
    interval = parse_interval_time_r1(output)
    if truth is None or truth[0] >= truth[1] or interval is None:
        return 0.0
    return temporal_iou(interval, truth)


def check_grounding_reward(variant: str) -> None:
    """Raise ValueError naming the known variants if `variant` is not one.

    Example:
        >>> check_grounding_reward("time_r1")  # no error
    """
    if variant not in GROUNDING_REWARDS:
        raise ValueError(
            f"unknown grounding reward {variant!r}; expected one of {list(GROUNDING_REWARDS)}"
        )


def score_grounding(prediction: str, ground_truth: str, variant: str = "iou") -> float:
    """Temporal IoU of an answer against a `[start, end]` ground truth, in [0, 1]; 0 when
    either cannot be read or the prediction is reversed. `prediction` is the answer tag's
    content (for `time_r1`: the last answer block's). Raises ValueError for an unknown variant.

    Example:
        >>> score_grounding("from 2 to 4 seconds", "[1.0, 3.0]")  # 1 s / 3 s
        0.3333333333333333
        >>> score_grounding("4 to 2", "[1.0, 3.0]"), score_grounding("?", "[1.0, 3.0]")
        (0.0, 0.0)
        >>> score_grounding("[(0, 1), (2, 3)]", "[0, 3]", "videochat_r1")
        0.6666666666666666
    """
    check_grounding_reward(variant)
    truth = _json_pair(ground_truth) or parse_interval(ground_truth)
    if truth is None or truth[0] >= truth[1]:
        return 0.0
    if variant == "videochat_r1":
        intervals = parse_intervals_videochat(prediction)
        return 0.0 if intervals is None else union_iou(intervals, [truth])
    parse = parse_interval_time_r1 if variant == "time_r1" else parse_interval
    interval = parse(prediction)
    return 0.0 if interval is None else temporal_iou(interval, truth)
