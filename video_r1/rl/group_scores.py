"""Scoring one prompt group: reward functions, the T-GRPO temporal rule, the length rule.

T-GRPO is data plus a pure function here: shuffled rollouts are another group of completions
of the same record; the temporal bonus is a function of the two groups' accuracies. Only the
ordered rollouts are trained on, so only they get a total reward.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from video_r1.rewards import length_bonus, temporal_bonus
from video_r1.rl.overlong import overlong_penalty


@dataclass(frozen=True)
class RewardTerm:
    """A reward function (TRL's calling convention, `_call`) and its weight in the total."""

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
    # TRL's dataset formats: completions (and prompts) as strings, or as chat messages
    reward_format: Literal["standard", "conversational"] = "standard"


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


@dataclass(frozen=True)
class RewardInputs:
    """What TRL passes every reward function besides the completions and the dataset columns.

    prompt: the prompt the policy saw, given as `prompts` (repeated per completion): the
        chat-templated text (rl.reward_format=standard) or the chat messages (conversational).
    ordered_ids / shuffled_ids: each completion's token ids, cut after the first EOS (TRL's
        `completion_ids`); None where unknown.
    trainer_state: a transformers.TrainerState (global_step = steps done, max_steps, epoch).
    """

    prompt: Any = None
    ordered_ids: Sequence[Sequence[int]] | None = None
    shuffled_ids: Sequence[Sequence[int]] | None = None
    trainer_state: Any = None


# TRL's keywords win over a dataset column of the same name; TRL never passes `prompt`
_TRL_KEYWORDS = ("prompts", "completions", "completion_ids", "trainer_state", "prompt")


class RewardFunctionError(ValueError):
    """A reward function raised or returned something unusable; the message names it and
    its file."""


def _where(fn: Callable[..., Any]) -> str:
    """`file:line` of a function's definition (or its module, for what inspect cannot place)."""
    try:
        target = inspect.unwrap(fn)
        source = inspect.getsourcefile(target) or inspect.getfile(target)
        return f"{source}:{inspect.getsourcelines(target)[1]}"
    except (OSError, TypeError):
        return getattr(fn, "__module__", None) or type(fn).__name__


def _value(term: RewardTerm, k: int, value: Any) -> float:
    """One returned reward as a float: None -> NaN (TRL: the function does not apply)."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RewardFunctionError(
            f"reward function {term.name!r} ({_where(term.fn)}) returned {value!r} "
            f"({type(value).__name__}) for completion {k}: expected a float or None"
        )
    return float(value)


def _call(
    term: RewardTerm,
    completions: Sequence[str],
    lengths: Sequence[int] | None,
    columns: dict[str, Any],
    settings: ScoringSettings,
    prompt: Any = None,
    completion_ids: Sequence[Sequence[int]] | None = None,
    trainer_state: Any = None,
) -> list[float]:
    """Call a reward function as TRL's GRPOTrainer does, every argument by keyword: `prompts`,
    `completions` (strings, or `[{"role": "assistant", "content": ...}]` per completion when
    rl.reward_format is conversational), `completion_ids`, `trainer_state`, each dataset column
    repeated per completion, and video-r1's `completion_length` (tokens, when known).
    Returns one float per completion, NaN where the function returned None."""
    n = len(completions)
    kwargs: dict[str, Any] = {k: [v] * n for k, v in columns.items() if k not in _TRL_KEYWORDS}
    if settings.reward_format == "conversational":
        kwargs["completions"] = [[{"role": "assistant", "content": c}] for c in completions]
    else:
        kwargs["completions"] = list(completions)
    kwargs["prompts"] = [prompt] * n
    kwargs["completion_ids"] = None if completion_ids is None else [list(i) for i in completion_ids]
    kwargs["trainer_state"] = trainer_state
    if lengths is not None:
        kwargs["completion_length"] = [int(x) for x in lengths]
    try:
        values = term.fn(**kwargs)
        if inspect.isawaitable(values):  # TRL takes `async def` reward functions too
            values = _run_coroutine(_awaited(values))
    except Exception as e:
        raise RewardFunctionError(
            f"reward function {term.name!r} ({_where(term.fn)}) raised {type(e).__name__}: {e}"
        ) from e
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise RewardFunctionError(
            f"reward function {term.name!r} ({_where(term.fn)}) returned a "
            f"{type(values).__name__}: expected a list of {n} floats (one per completion)"
        )
    if len(values) != n:
        raise RewardFunctionError(
            f"reward function {term.name!r} ({_where(term.fn)}) returned {len(values)} values "
            f"for {n} completions"
        )
    return [_value(term, k, v) for k, v in enumerate(values)]


async def _awaited(values: Any) -> Any:
    return await values


def _run_coroutine(coroutine: Any) -> Any:
    """Run a coroutine to its end; inside a running event loop (a notebook), on a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _accuracy_values(term: RewardTerm, values: list[float]) -> list[float]:
    """The accuracy term's values: the temporal and length rules need a number for each."""
    for k, v in enumerate(values):
        if math.isnan(v):
            raise RewardFunctionError(
                f"reward function {term.name!r} ({_where(term.fn)}) returned None for "
                f"completion {k}, but it is rl.accuracy_reward, whose values feed the temporal "
                "and length rules: it must return a number for every completion"
            )
    return values


def weighted_total(terms: Sequence[RewardTerm], values: dict[str, list[float]]) -> list[float]:
    """Per completion, the weighted sum of the terms that apply (TRL's nansum: a None is
    left out, not counted as 0 x weight; a completion no term applies to totals 0).

    Example:
        >>> terms = [RewardTerm("a", len, 1.0), RewardTerm("b", len, 0.5)]
        >>> weighted_total(terms, {"a": [1.0, float("nan")], "b": [2.0, 4.0]})
        [2.0, 2.0]
    """
    n = len(next(iter(values.values()), []))
    return [
        math.fsum(t.weight * values[t.name][i] for t in terms if not math.isnan(values[t.name][i]))
        for i in range(n)
    ]


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


def _term_values(
    columns: dict[str, Any], ordered: Sequence[str], ordered_lengths: Sequence[int],
    shuffled: Sequence[str], shuffled_lengths: Sequence[int] | None,
    terms: Sequence[RewardTerm], by_name: dict[str, RewardTerm], settings: ScoringSettings,
    inputs: RewardInputs,
) -> tuple[dict[str, list[float]], list[float], list[float]]:  # fmt: skip
    """Each term's values on the ordered rollouts, their accuracy, and the accuracy of the
    shuffled ones (only the accuracy term runs on those; [] without the temporal rule)."""
    values = {
        t.name: _call(t, ordered, ordered_lengths, columns, settings, inputs.prompt,
                      inputs.ordered_ids, inputs.trainer_state)
        for t in terms
    }  # fmt: skip
    accuracy_term = by_name[settings.accuracy_term]
    accuracy = _accuracy_values(accuracy_term, values[settings.accuracy_term])
    shuffled_accuracy: list[float] = []
    if settings.temporal and shuffled:
        shuffled_accuracy = _accuracy_values(accuracy_term, _call(
            accuracy_term, shuffled, shuffled_lengths, columns, settings, inputs.prompt,
            inputs.shuffled_ids, inputs.trainer_state,
        ))  # fmt: skip
    return values, accuracy, shuffled_accuracy


def score_group(
    columns: dict[str, Any],
    ordered: Sequence[str],
    ordered_lengths: Sequence[int],
    shuffled: Sequence[str],
    terms: Sequence[RewardTerm],
    settings: ScoringSettings,
    shuffled_lengths: Sequence[int] | None = None,
    inputs: RewardInputs | None = None,
) -> GroupScores:
    """Score one prompt group.

    columns: the record's dataset columns (solution, problem_type, ...), passed to every reward
        function as TRL does (one value per completion), with `completion_length`.
    ordered / ordered_lengths: the trained rollouts' texts and token lengths (incl. first EOS).
    shuffled: rollouts of the same prompt on time-shuffled frames (empty for images or when the
        temporal rule is off); only their accuracy is computed.
    shuffled_lengths: their token lengths (None: the accuracy function gets no
        `completion_length` for them).
    inputs: the prompt, token ids and trainer state TRL also passes (None: all None).
    A term's None (it does not apply to that completion) is NaN in `terms` and left out of
    the total (`weighted_total`); the accuracy term must return a number for every completion.

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
    values, accuracy, shuffled_accuracy = _term_values(
        columns, ordered, ordered_lengths, shuffled, shuffled_lengths, terms, by_name,
        settings, inputs or RewardInputs(),
    )  # fmt: skip
    total = weighted_total(terms, values)
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
