"""Scoring a generate call's rollouts: each record's group, with the inputs TRL gives reward
functions (the prompt the policy saw, completion token ids, the trainer state).

TRL's contract (docs/design.md#reward-functions): every argument by keyword, `prompts` and
`completions` as strings (rl.reward_format=standard) or chat messages (conversational),
None where a function does not apply.
"""

from __future__ import annotations

from typing import Any

from video_r1.prompts import prompt_text
from video_r1.recipes.grpo_types import StepContext
from video_r1.rl.group_scores import GroupScores, RewardInputs, score_group


def trainer_state(step: int, max_steps: int, steps_per_epoch: int) -> Any:
    """A transformers.TrainerState as TRL passes it to reward functions during step `step`
    (0-based): global_step is the number of steps done, epoch the fraction of epochs done.

    Example:
        >>> s = trainer_state(3, max_steps=10, steps_per_epoch=2)
        >>> s.global_step, s.max_steps, s.epoch
        (3, 10, 1.5)
    """
    from transformers import TrainerState

    return TrainerState(global_step=step, max_steps=max_steps, epoch=step / max(1, steps_per_epoch))


def score_records(
    ctx: StepContext,
    records: list,
    messages: list[list[dict]],
    sources: list[int],
    texts: list[str],
    ids: list[list[int]],
    lengths: list[int],
    members: list[tuple[list[int], list[int]]],
) -> list[GroupScores]:
    """Each record's scored group. messages / sources: per prompt row, its chat messages and
    record; texts / ids / lengths: per rollout, its text, token ids and length (first EOS
    included; ids are cut there); members: per record, (ordered, shuffled) rollout indices."""
    first_row = {}
    for row, b in enumerate(sources):
        first_row.setdefault(b, row)  # the ordered row: its text is the shuffled rows' too
    conversational = ctx.scoring.reward_format == "conversational"
    groups = []
    for b, (record, (ordered, shuffled)) in enumerate(zip(records, members, strict=True)):
        shown = messages[first_row[b]]
        inputs = RewardInputs(
            prompt=shown if conversational else prompt_text(ctx.processor, shown),
            ordered_ids=[ids[k][: lengths[k]] for k in ordered],
            shuffled_ids=[ids[k][: lengths[k]] for k in shuffled],
            trainer_state=ctx.trainer_state,
        )
        groups.append(
            score_group(record.to_json(), [texts[k] for k in ordered],
                        [lengths[k] for k in ordered], [texts[k] for k in shuffled],
                        ctx.terms, ctx.scoring, [lengths[k] for k in shuffled], inputs)
        )  # fmt: skip
    return groups
