"""Reward functions are called as TRL's GRPOTrainer calls them: TRL's documented examples
("Using a custom reward function", docs/source/grpo_trainer.md and the quickstart) run
unchanged; None means "does not apply"; a broken function is named with its file."""

# ruff: noqa: B905 - TRL's examples are copied unchanged
from __future__ import annotations

import asyncio
import math
import re

import pytest
from transformers import TrainerState

from video_r1.rewards import accuracy_reward
from video_r1.rl.group_scores import (
    RewardFunctionError,
    RewardInputs,
    RewardTerm,
    ScoringSettings,
    score_group,
)

# --- TRL's documented examples, copied unchanged ----------------------------------------------


def reward_len(completions, **kwargs):
    return [-abs(20 - len(completion)) for completion in completions]


def reward_func_chars(completions, **kwargs):
    """Reward function that assigns higher scores to longer completions (in terms of character count)."""
    return [float(len(completion)) for completion in completions]


def format_reward_func(completions, **kwargs):
    """Reward function that checks if the completion has a specific format."""
    pattern = r"^<think>.*?</think><answer>.*?</answer>$"
    completion_contents = [completion[0]["content"] for completion in completions]
    matches = [re.match(pattern, content) for content in completion_contents]
    return [1.0 if match else 0.0 for match in matches]


def reward_func_ground_truth(completions, ground_truth, **kwargs):
    # Regular expression to capture content inside \boxed{}
    matches = [re.search(r"\\boxed\{(.*?)\}", completion) for completion in completions]
    contents = [match.group(1) if match else "" for match in matches]
    # Reward 1 if the content is the same as the ground truth, 0 otherwise
    return [1.0 if c == gt else 0.0 for c, gt in zip(contents, ground_truth)]


def math_reward_func(prompts, completions, task, **kwargs):
    rewards = []
    for prompt, completion, t in zip(prompts, completions, task):
        if t == "math":
            # Calculate math-specific reward
            correct = check_math_solution(prompt, completion)
            reward = 1.0 if correct else -1.0
            rewards.append(reward)
        else:
            # Return None for non-math tasks
            rewards.append(None)
    return rewards


def coding_reward_func(prompts, completions, task, **kwargs):
    rewards = []
    for prompt, completion, t in zip(prompts, completions, task):
        if t == "coding":
            # Calculate coding-specific reward
            works = test_code_solution(prompt, completion)
            reward = 1.0 if works else -1.0
            rewards.append(reward)
        else:
            # Return None for non-coding tasks
            rewards.append(None)
    return rewards


async def async_reward_func(prompts, completions, **kwargs):
    # Simulate an I/O-bound call (e.g., HTTP request, database lookup)
    await asyncio.sleep(0.01)
    # Simple toy reward: 1.0 if the completion is non-empty, else 0.0
    return [1.0 if completion else 0.0 for completion in completions]


# The docs' token-count example names its parameter `completions_ids`, a keyword TRL's trainer
# never passes (it passes `completion_ids`); this is that example with the trainer's keyword.
def reward_func_tokens(completion_ids, **kwargs):
    """Reward function that assigns higher scores to longer completions (in terms of token count)."""
    return [float(len(ids)) for ids in completion_ids]


# what the two multi-task examples leave to the reader
def check_math_solution(prompt, completion):
    return "4" in completion


def test_code_solution(prompt, completion):  # noqa: PT028 - TRL's name, not a test
    return "def" in completion


test_code_solution.__test__ = False  # pytest: not a test

# -----------------------------------------------------------------------------------------------

COLUMNS = {"solution": "<answer>B</answer>", "problem_type": "multiple choice"}
PROMPT = "<|im_start|>user\nWhich colour? Output the final answer in <answer> </answer>."
NO_RULES = ScoringSettings(len_control=False, temporal=False)


def _score(columns, completions, *terms, settings=NO_RULES, inputs=None):
    terms = [RewardTerm("accuracy", accuracy_reward), *terms]
    lengths = [len(c) for c in completions]
    return score_group(columns, completions, lengths, [], terms, settings, None, inputs)


def test_trl_examples_run_unchanged_on_strings():
    completions = [" blue.", r" The solution is \boxed{2}.", "<think>x</think><answer>B</answer>"]
    ids = [[6303, 13], [304, 279, 12884, 13], [1, 2, 3]]
    inputs = RewardInputs(prompt=PROMPT, ordered_ids=ids)
    s = _score(
        {**COLUMNS, "ground_truth": "2"}, completions,
        RewardTerm("reward_len", reward_len), RewardTerm("chars", reward_func_chars),
        RewardTerm("tokens", reward_func_tokens), RewardTerm("gt", reward_func_ground_truth),
        RewardTerm("async", async_reward_func), inputs=inputs,
    )  # fmt: skip
    assert s.terms["reward_len"] == [-14.0, -7.0, -14.0]
    assert s.terms["chars"] == [6.0, 27.0, 34.0]
    assert s.terms["tokens"] == [2.0, 4.0, 3.0]
    assert s.terms["gt"] == [0.0, 1.0, 0.0]
    assert s.terms["async"] == [1.0, 1.0, 1.0]
    assert s.terms["accuracy"] == [0.0, 0.0, 1.0]


def test_conversational_format_gives_messages_as_trl_does():
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Q?"}]}]
    seen = {}

    def keep(prompts, completions, **kwargs):
        seen.update(prompts=prompts, completions=completions)
        return [0.0] * len(completions)

    completions = ["<think>a</think><answer>B</answer>", "B"]
    s = _score(COLUMNS, completions, RewardTerm("format", format_reward_func),
               RewardTerm("keep", keep), settings=ScoringSettings(
                   len_control=False, temporal=False, reward_format="conversational"),
               inputs=RewardInputs(prompt=messages))  # fmt: skip
    assert s.terms["format"] == [1.0, 0.0]
    assert seen["prompts"] == [messages, messages]
    assert seen["completions"][1] == [{"role": "assistant", "content": "B"}]
    assert s.accuracy == [1.0, 0.0]  # the built-in functions take both formats


def test_every_argument_by_keyword_with_prompts_ids_and_trainer_state():
    seen = {}

    def uses_prompts(prompts, completions, **kw):  # the example: failed before
        seen.update(prompts=prompts, **kw)
        return [1.0] * len(completions)

    state = TrainerState(global_step=3, max_steps=10)
    inputs = RewardInputs(prompt=PROMPT, ordered_ids=[[5, 6], [7]], trainer_state=state)
    _score({**COLUMNS, "prompt": "dropped, as TRL does"}, ["a", "b"],
           RewardTerm("p", uses_prompts), inputs=inputs)  # fmt: skip
    assert seen["prompts"] == [PROMPT, PROMPT]
    assert seen["completion_ids"] == [[5, 6], [7]]
    assert seen["trainer_state"].global_step == 3
    assert seen["solution"] == [COLUMNS["solution"]] * 2 and "prompt" not in seen


def test_none_means_the_function_does_not_apply_nansum_as_trl():
    completions = ["x = 4", "def f(): pass", "neither"]
    columns = {**COLUMNS, "task": "coding"}
    s = _score(columns, completions, RewardTerm("math", math_reward_func),
               RewardTerm("code", coding_reward_func, 2.0))  # fmt: skip
    assert all(math.isnan(v) for v in s.terms["math"])
    assert s.terms["code"] == [-1.0, 1.0, -1.0]
    assert s.total == [-2.0, 2.0, -2.0]  # accuracy 0 + the code term; the None left out


def test_accuracy_term_must_not_return_none():
    def accuracy(completions, **kw):
        return [None] * len(completions)

    with pytest.raises(RewardFunctionError, match=r"'accuracy' \(.*test_reward_calling.py:\d+\)"):
        score_group(COLUMNS, ["a"], [1], [], [RewardTerm("accuracy", accuracy)], NO_RULES)


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (lambda n: "1.0", r"returned a str: expected a list of 2 floats"),
        (lambda n: [1.0], r"returned 1 values for 2 completions"),
        (lambda n: [1.0, "high"], r"returned 'high' \(str\) for completion 1"),
    ],
)
def test_a_wrong_return_names_the_function_and_its_file(returned, message):
    def mine(completions, **kw):
        return returned(len(completions))

    with pytest.raises(RewardFunctionError, match=r"'mine' \(.*test_reward_calling.py:\d+\)"):
        _score(COLUMNS, ["a", "b"], RewardTerm("mine", mine))
    with pytest.raises(RewardFunctionError, match=message):
        _score(COLUMNS, ["a", "b"], RewardTerm("mine", mine))


def test_an_exception_inside_names_the_function_and_its_file():
    def broken(completions, **kw):
        return [c["content"] for c in completions]  # a string completion: TypeError

    with pytest.raises(RewardFunctionError) as info:
        _score(COLUMNS, ["a"], RewardTerm("broken", broken))
    assert re.fullmatch(
        r"reward function 'broken' \(\S+test_reward_calling.py:\d+\) raised TypeError: .*",
        str(info.value),
    ), str(info.value)
    assert isinstance(info.value.__cause__, TypeError)
