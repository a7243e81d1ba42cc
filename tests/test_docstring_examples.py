"""The `Example:` blocks in docstrings are run, so they stay true."""

import doctest
import importlib

import pytest

MODULES = [
    "video_r1.rl.advantages",
    "video_r1.rl.loss",
    "video_r1.rl.overlong",
    "video_r1.rl.dynamic_sampling",
    "video_r1.rollout.merge",
    "video_r1.media.frame_order",
    "video_r1.rl.step_metrics",
    "video_r1.rl.group_scores",
    "video_r1.rollout.generate",
    "video_r1.rollout.sampling",
    "video_r1.rollout.logprobs",
    "video_r1.rollout.cascade",
    "video_r1.rollout.grouped",
    "video_r1.recipes.grpo",
    "video_r1.recipes.grpo_step",
    "video_r1.train.config_load",
    "video_r1.train.sampler",
    "video_r1.train.model",
    "video_r1.rewards.parsing",
    "video_r1.rewards.accuracy",
    "video_r1.rewards.group",
    "video_r1.evaluation.benchmark_metrics",
    "video_r1.rewards.lenient",
    "video_r1.rewards.grounding",
    "video_r1.data.convert",
    "video_r1.data.records",
    "video_r1.synth.grounding_task",
    "video_r1.prompts.templates",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} failing example(s) in {name}"
