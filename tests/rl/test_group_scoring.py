"""score_group: reward terms, the T-GRPO temporal bonus and the length bonus of one group."""

from __future__ import annotations

import pytest

from video_r1.rewards import accuracy_reward, format_reward, resolve_reward_function
from video_r1.rl.group_scores import RewardTerm, ScoringSettings, score_group

COLUMNS = {"solution": "<answer>B</answer>", "problem_type": "multiple choice"}
TERMS = [RewardTerm("accuracy", accuracy_reward), RewardTerm("format", format_reward)]
RIGHT = "<think>hm</think><answer>B</answer>"  # accuracy 1, format 1
WRONG = "<think>hm</think><answer>A</answer>"  # accuracy 0, format 1


def test_temporal_and_length_bonus_add_to_the_correct_rollouts():
    scores = score_group(
        COLUMNS, [RIGHT, RIGHT, WRONG, WRONG], [400, 100, 400, 400], [RIGHT, WRONG], TERMS,
        ScoringSettings(),
    )  # fmt: skip
    # p = 2/4 = 0.5 >= 0.8 * p~ = 0.8 * 1/2 = 0.4: the group passes, correct rollouts get +0.3.
    # Two correct rollouts (> 1): those with length in [320, 512] get +0.2 (400 yes, 100 no).
    # totals: 1 + 1 + 0.3 + 0.2 = 2.5; 1 + 1 + 0.3 = 2.3; 0 + 1 = 1.0; 0 + 1 = 1.0
    assert scores.total == pytest.approx([2.5, 2.3, 1.0, 1.0])
    assert scores.temporal_bonus == [0.3, 0.3, 0.0, 0.0]
    assert scores.length_bonus == [0.2, 0.0, 0.0, 0.0]
    assert scores.terms == {"accuracy": [1.0, 1.0, 0.0, 0.0], "format": [1.0] * 4}
    assert scores.shuffled_accuracy == [1.0, 0.0]
    assert (scores.temporal_passed, scores.p, scores.p_shuffled) == (True, 0.5, 0.5)


def test_no_temporal_bonus_when_shuffled_frames_do_better():
    scores = score_group(
        COLUMNS, [RIGHT, WRONG, WRONG, WRONG], [400] * 4, [RIGHT, RIGHT], TERMS, ScoringSettings()
    )
    # p = 1/4 = 0.25 < 0.8 * p~ = 0.8 * 1.0: no bonus; a single correct rollout: no length bonus
    assert scores.temporal_passed is False and (scores.p, scores.p_shuffled) == (0.25, 1.0)
    assert scores.temporal_bonus == [0.0] * 4 and scores.length_bonus == [0.0] * 4
    assert scores.total == pytest.approx([2.0, 1.0, 1.0, 1.0])  # accuracy + format only


def test_strict_comparison_gives_no_bonus_when_shuffled_frames_do_as_well():
    group = (COLUMNS, [RIGHT, RIGHT, WRONG, WRONG], [400] * 4, [RIGHT, WRONG], TERMS)
    # p = 0.5 = p~: the published ">=" passes (with mu = 1.0, the paper's rule), ">" does not
    loose = score_group(*group, ScoringSettings(mu=1.0))
    strict = score_group(*group, ScoringSettings(mu=1.0, temporal_strict=True))
    assert loose.temporal_passed is True and loose.temporal_bonus == [0.3, 0.3, 0.0, 0.0]
    assert strict.temporal_passed is False and strict.temporal_bonus == [0.0] * 4


def test_registered_length_reward_receives_completion_lengths():
    """The `length` reward function needs each completion's token length (TRL's
    `completion_length`); score_group passes it, so the reward works from a config."""
    terms = [*TERMS, RewardTerm("length", resolve_reward_function("length"))]
    scores = score_group(
        COLUMNS, [RIGHT, RIGHT, RIGHT, WRONG], [320, 600, 512, 400], [], terms,
        ScoringSettings(temporal=False, len_control=False),
    )  # fmt: skip
    # three correct (> 1): +0.2 where the length is in [320, 512]: 320 and 512 yes, 600 no;
    # the wrong one never. totals: 2 + 0.2, 2, 2 + 0.2, 1
    assert scores.terms["length"] == [0.2, 0.0, 0.2, 0.0]
    assert scores.total == pytest.approx([2.2, 2.0, 2.2, 1.0])


def test_shuffled_lengths_reach_a_length_dependent_accuracy_term():
    def short_is_right(completions, completion_length, **columns):
        return [1.0 if n < 10 else 0.0 for n in completion_length]

    terms = [RewardTerm("accuracy", short_is_right)]
    scores = score_group(
        COLUMNS, ["a", "b"], [5, 50], ["c", "d"], terms, ScoringSettings(len_control=False),
        shuffled_lengths=[50, 50],
    )  # fmt: skip
    # p = 1/2 >= 0.8 * p~ = 0: passes; the short ordered rollout gets +0.3
    assert scores.shuffled_accuracy == [0.0, 0.0]
    assert scores.total == pytest.approx([1.3, 0.0])


def test_lengths_must_match_the_completions():
    with pytest.raises(ValueError, match="2 ordered completions but 1 lengths"):
        score_group(COLUMNS, [RIGHT, WRONG], [400], [], TERMS, ScoringSettings())
