"""Rewards: pure scoring functions called as TRL calls reward functions, and the T-GRPO rule.

- parsing: `extract_answer`, `completion_text`, `has_think_answer_format`
- accuracy: `score_answer(prediction, ground_truth, problem_type, lenient=False)` per type
- functions: `accuracy_reward`, `lenient_accuracy_reward`, `format_reward`, `length_reward`
- group: `length_bonus`, `temporal_bonus` -> `TemporalResult`
- registry: `REWARD_FUNCTIONS`, `resolve_reward_function(spec)`
"""

from video_r1.rewards.accuracy import SCORERS, check_problem_type, score_answer
from video_r1.rewards.functions import (
    accuracy_reward,
    format_reward,
    length_reward,
    lenient_accuracy_reward,
)
from video_r1.rewards.group import TemporalResult, length_bonus, temporal_bonus
from video_r1.rewards.parsing import completion_text, extract_answer, has_think_answer_format
from video_r1.rewards.registry import REWARD_FUNCTIONS, RewardSpecError, resolve_reward_function

__all__ = [
    "REWARD_FUNCTIONS",
    "SCORERS",
    "RewardSpecError",
    "TemporalResult",
    "accuracy_reward",
    "check_problem_type",
    "completion_text",
    "extract_answer",
    "format_reward",
    "has_think_answer_format",
    "length_bonus",
    "length_reward",
    "lenient_accuracy_reward",
    "resolve_reward_function",
    "score_answer",
    "temporal_bonus",
]
