"""DAPO's soft overlong penalty at the window's edges, by hand, and the truncation mask."""

import pytest
import torch

from video_r1.rewards import accuracy_reward
from video_r1.rl.group_scores import RewardTerm, ScoringSettings, score_group
from video_r1.rl.overlong import mask_truncated, overlong_penalty


def test_penalty_is_zero_before_the_window_and_minus_factor_at_the_limit():
    # L_max 768, buffer 128, factor 0.5: free up to 768 - 128 = 640 tokens, then
    # 0.5 x (640 - L) / 128
    lengths = [1, 640, 641, 672, 704, 767, 768]
    assert overlong_penalty(lengths, 768, 128, 0.5) == pytest.approx([
        0.0,  # far inside
        0.0,  # the last free length
        -0.5 * 1 / 128,  # the first penalised token: -0.00390625
        -0.5 * 32 / 128,  # a quarter into the window: -0.125
        -0.5 * 64 / 128,  # halfway: -0.25
        -0.5 * 127 / 128,  # -0.49609375
        -0.5,  # the limit (every truncated rollout)
    ])  # fmt: skip
    assert overlong_penalty([800], 768, 128, 1.0) == [-1.0]  # beyond the limit: -factor
    assert overlong_penalty([768, 10], 768, 0, 1.0) == [0.0, 0.0]  # buffer 0: off
    assert overlong_penalty([768], 768, 128, 0.0) == [0.0]  # factor 0: off


def test_penalty_enters_the_group_total():
    settings = ScoringSettings(temporal=False, len_control=False, overlong_buffer_tokens=4,
                               overlong_penalty=1.0, max_completion_length=12)  # fmt: skip
    columns = {"solution": "<answer>B</answer>", "problem_type": "multiple choice"}
    scores = score_group(columns, ["<answer>B</answer>"] * 3, [8, 10, 12], [],
                         [RewardTerm("accuracy", accuracy_reward)], settings)  # fmt: skip
    # accuracy 1 each; window 9..12: 8 -> 0, 10 -> -2/4, 12 -> -1
    assert scores.overlong_penalty == [0.0, -0.5, -1.0]
    assert scores.total == [1.0, 0.5, 0.0]


def test_truncated_rollouts_leave_the_loss():
    mask = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 1, 1]])
    truncated = torch.tensor([False, True, False])
    assert mask_truncated(mask, truncated).tolist() == [[1, 1, 0], [0, 0, 0], [1, 1, 1]]
