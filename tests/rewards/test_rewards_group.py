"""The length bonus and the T-GRPO temporal rule on hand-worked groups."""

from __future__ import annotations

import pytest

from video_r1.rewards import length_bonus, length_reward, temporal_bonus


def test_temporal_pass_at_published_mu():
    # p = 5/8 = 0.625, p~ = 3/4 = 0.75: 0.625 >= 0.8 * 0.75 = 0.6 passes (fails at mu 1.0)
    ordered = [1, 1, 1, 1, 1, 0, 0, 0]
    shuffled = [1, 1, 1, 0]
    r = temporal_bonus(ordered, shuffled, mu=0.8)
    assert r.passed and r.p == 0.625 and r.p_shuffled == 0.75
    assert r.bonus == [0.3] * 5 + [0.0] * 3
    r1 = temporal_bonus(ordered, shuffled, mu=1.0)
    assert not r1.passed and r1.bonus == [0.0] * 8


def test_temporal_fail_at_published_mu():
    # p = 2/8 = 0.25, p~ = 2/4 = 0.5: 0.25 < 0.8 * 0.5 = 0.4 fails
    r = temporal_bonus([1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 0, 0])
    assert not r.passed and r.bonus == [0.0] * 8


def test_temporal_tie_at_mu_one_depends_on_comparison():
    # p = p~ = 0.5: ">=" (published form) passes, ">" (paper's "strictly exceeds") fails
    ordered, shuffled = [1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 0, 0]
    assert temporal_bonus(ordered, shuffled, mu=1.0, comparison=">=").passed
    strict = temporal_bonus(ordered, shuffled, mu=1.0, comparison=">")
    assert not strict.passed and strict.bonus == [0.0] * 8
    with pytest.raises(ValueError, match="comparison"):
        temporal_bonus(ordered, shuffled, comparison="=>")  # type: ignore[arg-type]


def test_temporal_continuous_rewards_against_threshold():
    # p = (0.1 + 0.11 + 0.5 + 0.05) / 4 = 0.19; p~ = 0.2: 0.19 >= 0.16 passes.
    # Only accuracies strictly above 0.1 get the bonus: 0.11 and 0.5, not 0.1 or 0.05.
    r = temporal_bonus([0.1, 0.11, 0.5, 0.05], [0.2, 0.2], alpha=0.2)
    assert r.passed and r.p == pytest.approx(0.19) and r.p_shuffled == pytest.approx(0.2)
    assert r.bonus == [0.0, 0.2, 0.2, 0.0]
    assert temporal_bonus([0.5, 0.5], [0.5], correct_threshold=0.5).bonus == [0.0, 0.0]


def test_temporal_image_group_gets_nothing():
    r = temporal_bonus([1, 1, 0, 1], [])
    assert r.bonus == [0.0] * 4 and not r.passed and r.p == 0.75 and r.p_shuffled is None


def test_temporal_all_wrong_and_all_correct():
    wrong = temporal_bonus([0.0] * 8, [0.0] * 4)
    assert wrong.passed and wrong.bonus == [0.0] * 8  # 0 >= 0.8 * 0, but nobody is correct
    assert not temporal_bonus([0.0] * 8, [0.0] * 4, comparison=">").passed
    right = temporal_bonus([1.0] * 8, [1.0] * 4)  # 1 >= 0.8: everyone gets alpha
    assert right.passed and right.bonus == [0.3] * 8
    assert not temporal_bonus([1.0] * 8, [1.0] * 4, mu=1.0, comparison=">").passed


def test_temporal_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one ordered"):
        temporal_bonus([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        temporal_bonus([float("nan")], [1.0])


def test_length_bonus_rules():
    # two correct (> 0.1): each in [320, 512] gets 0.2; bounds inclusive
    assert length_bonus([1, 1, 1, 1, 0], [320, 512, 319, 513, 400]) == [0.2, 0.2, 0, 0, 0]
    # one correct only: no bonus at all
    assert length_bonus([1, 0.1, 0, 0], [400] * 4) == [0.0] * 4
    # continuous: 0.15 counts as correct, 0.1 does not
    assert length_bonus([0.15, 0.5, 0.1], [400, 400, 400]) == [0.2, 0.2, 0.0]
    assert length_bonus([1, 1], [100, 100], l_min=50, l_max=150, bonus=0.5) == [0.5, 0.5]
    with pytest.raises(ValueError, match="2 accuracies but 1 lengths"):
        length_bonus([1, 1], [100])


def test_length_reward_groups_and_trl_columns():
    # groups of 2: the first group has 2 correct, the second only 1
    out = length_reward(
        ["a"] * 4, accuracy=[1, 1, 1, 0], completion_ids=[[0] * 400] * 4, group_size=2
    )
    assert out == [0.2, 0.2, 0.0, 0.0]
    # without accuracy it scores the completions from the TRL columns
    out = length_reward(
        ["<answer>B</answer>", "<answer>B</answer>", "<answer>C</answer>"],
        solution=["<answer>B</answer>"] * 3,
        problem_type=["multiple choice"] * 3,
        completion_length=[400, 600, 400],
    )
    assert out == [0.2, 0.0, 0.0]
    with pytest.raises(ValueError, match="groups of 3"):
        length_reward(["a"] * 4, accuracy=[1] * 4, completion_length=[1] * 4, group_size=3)
    with pytest.raises(ValueError, match="completion_length"):
        length_reward(["a"], accuracy=[1])
