"""Scoring one prompt group: reward functions, the T-GRPO temporal rule, the length rule.

T-GRPO is data plus a pure function here: shuffled rollouts are another group of completions
of the same record; the temporal bonus is a function of the two groups' accuracies. Only the
ordered rollouts are trained on, so only they get a total reward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from video_r1.rewards import length_bonus, temporal_bonus
from video_r1.rl.overlong import overlong_penalty


@dataclass(frozen=True)
class RewardTerm:
    """A reward function (TRL signature) and its weight in the total reward."""

    name: str
    fn: Callable[..., list[float]]
    weight: float = 1.0


@dataclass(frozen=True)
class ScoringSettings:
    """How a group's total reward is made; the defaults are the published run's
    (docs/spec.md#t-grpo) and the one source of `RLConfig`'s defaults of the same names."""

    accuracy_term: str = "accuracy"  # the term whose values feed the temporal and length rules
    temporal: bool = True  # T-GRPO's temporal bonus (when shuffled rollouts are given)
    alpha: float = 0.3  # temporal bonus of a correct ordered rollout in a passing group
    mu: float = 0.8  # a group passes when p >= mu * p_shuffled
    temporal_strict: bool = False  # pass only when p > mu * p_shuffled (the paper's wording)
    correct_threshold: float = 0.1  # accuracy above which a rollout counts as correct
    len_control: bool = True  # the length bonus of the published code
    length_bonus_min_tokens: int = 320  # length bonus window, tokens incl. EOS
    length_bonus_max_tokens: int = 512
    length_bonus: float = 0.2
    # DAPO's soft overlong penalty (rl/overlong.py); 0 buffer or 0 penalty: off, as published
    overlong_buffer_tokens: int = 0  # the window's width, ending at max_completion_length
    overlong_penalty: float = 0.0  # the penalty at max_completion_length
    max_completion_length: int = 768  # the generation limit the window ends at


@dataclass(frozen=True)
class GroupScores:
    """Scores of one prompt's ordered rollouts (and its shuffled ones, for the temporal rule).

    total: [G] weighted sum of the terms plus temporal and length bonuses (what is trained on).
    terms: term name -> [G] raw values of each reward function on the ordered rollouts.
    accuracy: [G] the accuracy term's values (feeds the temporal and length rules).
    shuffled_accuracy: accuracies of the shuffled rollouts (empty when there are none).
    temporal_passed: None when the temporal rule does not apply (images, temporal off).
    """

    total: list[float]
    terms: dict[str, list[float]]
    accuracy: list[float]
    shuffled_accuracy: list[float]
    temporal_bonus: list[float]
    temporal_passed: bool | None
    p: float
    p_shuffled: float | None
    length_bonus: list[float]
    overlong_penalty: list[float] = field(default_factory=list)  # [G] (0 or negative), or []


def _call(
    term: RewardTerm,
    completions: Sequence[str],
    lengths: Sequence[int] | None,
    columns: dict[str, Any],
) -> list[float]:
    """Call a reward function as TRL does: each column repeated per completion, and the
    completions' token lengths as `completion_length` (when known)."""
    n = len(completions)
    kwargs = {k: [v] * n for k, v in columns.items()}
    if lengths is not None:
        kwargs["completion_length"] = [int(x) for x in lengths]
    values = term.fn(list(completions), **kwargs)
    if len(values) != n:
        raise ValueError(
            f"reward function {term.name!r} returned {len(values)} values for {n} completions"
        )
    return [float(v) for v in values]


def _check_lengths(which: str, completions: Sequence[str], lengths: Sequence[int] | None) -> None:
    if lengths is not None and len(lengths) != len(completions):
        raise ValueError(f"{len(completions)} {which} completions but {len(lengths)} lengths")


def _temporal_rule(
    settings: ScoringSettings, accuracy: list[float], shuffled_accuracy: list[float]
) -> tuple[list[float], bool | None, float | None]:
    """(bonus per ordered rollout, passed, p_shuffled); no bonus and None, None when the rule
    does not apply (temporal off, or no shuffled rollouts)."""
    if not (settings.temporal and shuffled_accuracy):
        return [0.0] * len(accuracy), None, None
    result = temporal_bonus(
        accuracy,
        shuffled_accuracy,
        alpha=settings.alpha,
        mu=settings.mu,
        correct_threshold=settings.correct_threshold,
        comparison=">" if settings.temporal_strict else ">=",
    )
    return list(result.bonus), result.passed, result.p_shuffled


def score_group(
    columns: dict[str, Any],
    ordered: Sequence[str],
    ordered_lengths: Sequence[int],
    shuffled: Sequence[str],
    terms: Sequence[RewardTerm],
    settings: ScoringSettings,
    shuffled_lengths: Sequence[int] | None = None,
) -> GroupScores:
    """Score one prompt group.

    columns: the record's dataset columns (solution, problem_type, ...), passed to every reward
        function as TRL does (one value per completion), with `completion_length`.
    ordered / ordered_lengths: the trained rollouts' texts and token lengths (incl. first EOS).
    shuffled: rollouts of the same prompt on time-shuffled frames (empty for images or when the
        temporal rule is off); only their accuracy is computed.
    shuffled_lengths: their token lengths (None: the accuracy function gets no
        `completion_length` for them).

    Example (published settings; accuracy and format terms; no shuffled rollouts):
        >>> from video_r1.rewards import accuracy_reward, format_reward
        >>> terms = [RewardTerm("accuracy", accuracy_reward), RewardTerm("format", format_reward)]
        >>> s = score_group({"solution": "<answer>B</answer>", "problem_type": "multiple choice"},
        ...     ["<think>x</think><answer>B</answer>", "<answer>A</answer>"], [400, 10], [],
        ...     terms, ScoringSettings())
        >>> s.total  # 1 + 1, 0 + 0; the length bonus needs more than one correct rollout
        [2.0, 0.0]
    """
    by_name = {t.name: t for t in terms}
    if settings.accuracy_term not in by_name:
        raise ValueError(
            f"the accuracy term {settings.accuracy_term!r} is not among the reward functions "
            f"{sorted(by_name)}; the temporal and length rules need it"
        )
    _check_lengths("ordered", ordered, ordered_lengths)
    _check_lengths("shuffled", shuffled, shuffled_lengths)
    values = {t.name: _call(t, ordered, ordered_lengths, columns) for t in terms}
    accuracy = values[settings.accuracy_term]
    total = [sum(t.weight * values[t.name][i] for t in terms) for i in range(len(ordered))]

    shuffled_accuracy: list[float] = []
    if settings.temporal and shuffled:
        shuffled_accuracy = _call(
            by_name[settings.accuracy_term], shuffled, shuffled_lengths, columns
        )
    bonus, passed, p_shuffled = _temporal_rule(settings, accuracy, shuffled_accuracy)
    p = sum(accuracy) / max(1, len(accuracy))

    lengths_bonus = [0.0] * len(ordered)
    if settings.len_control:
        lengths_bonus = list(
            length_bonus(
                accuracy,
                list(ordered_lengths),
                l_min=settings.length_bonus_min_tokens,
                l_max=settings.length_bonus_max_tokens,
                bonus=settings.length_bonus,
                correct_threshold=settings.correct_threshold,
            )
        )
    total = [t + b + lb for t, b, lb in zip(total, bonus, lengths_bonus, strict=True)]
    overlong = overlong_penalty(
        list(ordered_lengths), settings.max_completion_length, settings.overlong_buffer_tokens,
        settings.overlong_penalty,
    )  # fmt: skip
    total = [t + p for t, p in zip(total, overlong, strict=True)]
    return GroupScores(
        total=total,
        terms=values,
        accuracy=accuracy,
        shuffled_accuracy=shuffled_accuracy,
        temporal_bonus=bonus,
        temporal_passed=passed,
        p=p,
        p_shuffled=p_shuffled,
        length_bonus=lengths_bonus,
        overlong_penalty=overlong,
    )
