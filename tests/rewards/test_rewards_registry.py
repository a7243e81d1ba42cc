"""Reward functions by name, by module reference and by file reference."""

from __future__ import annotations

import pytest

from video_r1.rewards import (
    REWARD_FUNCTIONS,
    RewardSpecError,
    accuracy_reward,
    format_reward,
    resolve_reward_function,
)


def test_registered_names():
    assert resolve_reward_function("accuracy") is accuracy_reward
    assert resolve_reward_function(" format ") is format_reward
    assert {"accuracy", "format", "length"} <= set(REWARD_FUNCTIONS)
    with pytest.raises(RewardSpecError, match="unknown reward function 'acc'.*accuracy, "):
        resolve_reward_function("acc")


def test_module_reference():
    fn = resolve_reward_function("video_r1.rewards.functions:format_reward")
    assert fn is format_reward
    with pytest.raises(RewardSpecError, match="cannot import 'no_such_pkg.mod'"):
        resolve_reward_function("no_such_pkg.mod:f")
    with pytest.raises(RewardSpecError, match="has no attribute 'nope'"):
        resolve_reward_function("video_r1.rewards.functions:nope")
    with pytest.raises(RewardSpecError, match="is not callable"):
        resolve_reward_function("video_r1.rewards.registry:REWARD_FUNCTIONS")


def test_file_reference_with_a_trl_style_function(tmp_path):
    # Written as one would for TRL: completions are conversational, columns are kwargs.
    path = tmp_path / "my_rewards.py"
    path.write_text(
        "def brevity(completions, **kwargs):\n"
        "    return [1.0 if len(c[0]['content']) < 10 else 0.0 for c in completions]\n"
        "THRESHOLD = 3\n"
    )
    fn = resolve_reward_function(f"{path}:brevity")
    batch = [
        [{"role": "assistant", "content": "short"}],
        [{"role": "assistant", "content": "x" * 20}],
    ]
    assert fn(batch, solution=["a", "b"], problem_type=["OCR", "OCR"]) == [1.0, 0.0]
    with pytest.raises(RewardSpecError, match="is not callable"):
        resolve_reward_function(f"{path}:THRESHOLD")
    with pytest.raises(RewardSpecError, match="does not exist"):
        resolve_reward_function(f"{tmp_path / 'missing.py'}:f")
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(RewardSpecError, match="error while loading .*boom"):
        resolve_reward_function(f"{broken}:f")
    with pytest.raises(RewardSpecError, match="must be 'module_or_file:function'"):
        resolve_reward_function("video_r1.rewards:")


def test_registered_functions_share_the_trl_signature():
    comps = [[{"role": "assistant", "content": "<think>x</think><answer>B</answer>"}]] * 2
    cols = {
        "solution": ["<answer>B</answer>"] * 2,
        "problem_type": ["multiple choice"] * 2,
        "prompts": ["p", "p"],
        "completion_ids": [[1] * 400, [1] * 400],
        "trainer_state": None,
    }
    for name, fn in REWARD_FUNCTIONS.items():
        values = fn(comps, **cols)
        assert len(values) == 2 and all(isinstance(v, float) for v in values), name
    assert REWARD_FUNCTIONS["length"](comps, **cols) == [0.2, 0.2]


def test_the_removed_lenient_name_points_at_the_one_switch():
    # rl.lenient_accuracy and an `accuracy_lenient` reward were two switches for one thing
    assert "accuracy_lenient" not in REWARD_FUNCTIONS
    with pytest.raises(RewardSpecError, match="removed: use 'accuracy' with rl.lenient_accuracy"):
        resolve_reward_function("accuracy_lenient")
