"""Reward functions with the TRL signature `fn(completions, **columns) -> list[float]`.

`completions` are strings or conversational `[{"role": "assistant", "content": str}]`; the
dataset columns arrive as keyword lists with one value per completion (TRL repeats each
prompt's columns for its G completions). Extra keywords (prompts, completion_ids,
trainer_state, ...) are accepted and ignored unless named below.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from video_r1.rewards.accuracy import check_problem_type, score_answer
from video_r1.rewards.grounding import GROUNDING, check_grounding_reward, last_answer_block
from video_r1.rewards.group import length_bonus
from video_r1.rewards.parsing import completion_text, extract_answer, has_think_answer_format


def accuracy_reward(
    completions: Sequence[Any],
    solution: Sequence[str] | str,
    problem_type: Sequence[str] | str,
    lenient: bool = False,
    grounding_reward: str = "iou",
    **columns: Any,
) -> list[float]:
    """Accuracy of each completion's <answer> against its solution's <answer>, in [0, 1].

    `solution` and `problem_type` are one per completion (a batch may mix them) or one string
    for all (never a string taken apart into characters).
    Semantics per type: video_r1.rewards.accuracy. `grounding_reward` scores temporal
    grounding answers (iou, time_r1, videochat_r1: video_r1.rewards.grounding); time_r1 reads
    the last <answer> block, as Time-R1 does, the others the first. Raises ValueError on
    mismatched lengths or an unknown problem type or variant; never on what a completion says.

    Example:
        >>> accuracy_reward(["<answer>B</answer>", "<answer>C</answer>"],
        ...                 ["<answer>B</answer>"] * 2, ["multiple choice"] * 2)
        [1.0, 0.0]
    """
    types = _per_completion(problem_type, len(completions), "problem_type")
    solutions = _per_completion(solution, len(completions), "solution")  # a str: one for all
    for t in set(types):
        check_problem_type(t)
    check_grounding_reward(grounding_reward)

    def answer(completion: Any, problem_type: str) -> str:
        text = completion_text(completion)
        if problem_type == GROUNDING and grounding_reward == "time_r1":
            return last_answer_block(text)
        return extract_answer(text)

    return [
        score_answer(answer(c, t), extract_answer(sol), t, lenient, grounding_reward)
        for c, sol, t in zip(completions, solutions, types, strict=True)
    ]


def lenient_accuracy_reward(
    completions: Sequence[Any],
    solution: Sequence[str] | str,
    problem_type: Sequence[str] | str,
    **columns: Any,
) -> list[float]:
    """`accuracy_reward` with `lenient=True` (normalised letters and numbers): what
    `rl.lenient_accuracy=true` trains with, and a function to hand to TRL-style registries.

    Example:
        >>> lenient_accuracy_reward(["<answer>42.0</answer>"], ["<answer>42</answer>"], "numerical")
        [1.0]
    """
    columns.pop("lenient", None)
    return accuracy_reward(completions, solution, problem_type, lenient=True, **columns)


def format_reward(completions: Sequence[Any], **columns: Any) -> list[float]:
    """1.0 if the whole completion is `<think>...</think> <answer>...</answer>`, else 0.0.

    Example:
        >>> format_reward(["<think>hm</think>\\n<answer>B</answer>", "<answer>B</answer>"])
        [1.0, 0.0]
    """
    return [1.0 if has_think_answer_format(completion_text(c)) else 0.0 for c in completions]


def length_reward(
    completions: Sequence[Any],
    accuracy: Sequence[float] | None = None,
    completion_ids: Sequence[Sequence[int]] | None = None,
    completion_length: Sequence[int] | None = None,
    group_size: int | None = None,
    l_min: int = 320,
    l_max: int = 512,
    bonus: float = 0.2,
    correct_threshold: float = 0.1,
    **columns: Any,
) -> list[float]:
    """The published length bonus (video_r1.rewards.group.length_bonus) per completion.

    Inputs, all one per completion:
    - accuracy: the raw accuracy rewards; if absent they are computed with `accuracy_reward`
      from the `solution` and `problem_type` columns (so it works as a plain TRL reward).
    - completion_length (tokens, counting the first EOS; video-r1's GRPO passes it), or
      completion_ids (TRL passes these, cut after the first EOS) whose lengths are used.
    - group_size: completions per prompt (consecutive). None treats the whole batch as one
      group, which is what the published code does (it runs 1 prompt per device).

    Example:
        >>> length_reward(["a", "b", "c", "d"], accuracy=[1, 1, 1, 0],
        ...               completion_length=[320, 600, 512, 400], group_size=4)
        [0.2, 0.0, 0.2, 0.0]
    """
    n = len(completions)
    if n == 0:
        return []
    if accuracy is None:
        if "solution" not in columns or "problem_type" not in columns:
            raise ValueError(
                "length_reward needs `accuracy`, or the `solution` and `problem_type` columns"
            )
        accuracy = accuracy_reward(completions, columns["solution"], columns["problem_type"])
    if completion_length is None:
        if completion_ids is None:
            raise ValueError("length_reward needs `completion_length` or `completion_ids`")
        completion_length = [len(ids) for ids in completion_ids]
    if len(accuracy) != n or len(completion_length) != n:
        raise ValueError(
            f"{n} completions but {len(accuracy)} accuracies and {len(completion_length)} lengths"
        )
    size = n if group_size is None else group_size
    if size <= 0 or n % size:
        raise ValueError(f"{n} completions do not split into groups of {group_size}")
    out: list[float] = []
    for start in range(0, n, size):
        group = slice(start, start + size)
        out += length_bonus(
            list(accuracy[group]),
            list(completion_length[group]),
            l_min=l_min,
            l_max=l_max,
            bonus=bonus,
            correct_threshold=correct_threshold,
        )
    return out


def _per_completion(value: Sequence[str] | str, n: int, name: str) -> list[str]:
    if isinstance(value, str):
        return [value] * n
    if len(value) != n:
        raise ValueError(f"{n} completions but {len(value)} values of {name}")
    return list(value)
