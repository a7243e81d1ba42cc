"""The GRPO step's typed contracts: the run context, a prompt micro-batch, one generate call's
rollouts, and the experience the update trains on (shapes in each docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.rl.group_scores import GroupScores, ScoringSettings
from video_r1.rollout import EncodedPrompts, Rollouts


@dataclass
class StepContext:
    """What the step helpers use, built once per run (`grpo.setup_step`)."""

    cfg: GRPOConfig
    accelerator: Any
    model: Any  # as prepared by accelerate (DDP / DeepSpeed wrapper, or the model itself)
    policy: Any  # the unwrapped policy (peft model with LoRA)
    reference: Any  # frozen reference model, None with beta 0 or LoRA (adapters off instead)
    processor: Any
    optimizer: Any
    scheduler: Any
    gen_config: Any
    eos_ids: list[int]
    terms: list  # RewardTerm
    scoring: ScoringSettings
    vision_trainable: bool  # some vision-tower parameter (or LoRA adapter on it) trains
    zero3: bool
    cache: Any = None  # FrameCache or None
    engine: Any = None  # the rollout engine (video_r1.rollout.engine.GenerationEngine)
    trainer_state: Any = None  # transformers.TrainerState for reward functions (TRL's)


@dataclass
class PromptBatch:
    """The prompts of one training micro-batch: records whose media loaded, and its weight
    (0 for a filler that only keeps the processes' collective calls in step)."""

    records: list
    media: list  # Clip or uint8 [3, H, W] per record
    weight: float = 1.0


@dataclass
class RolloutChunk:
    """The prompts of one generate call.

    inputs: model inputs with pixels, P prompt rows (kept to re-run the vision tower with grad);
    encoded: their vision features, computed without grad; rollouts: N rollouts of the rows;
    texts: [N] decoded completions.
    """

    inputs: dict[str, torch.Tensor]
    encoded: EncodedPrompts
    rollouts: Rollouts
    texts: list[str]


@dataclass
class MicroExperience:
    """What the update needs of one micro-batch (n = its ordered rollouts, Lc = completion len).

    rows: chunk prompt rows of its records (ordered frames), in record order.
    index: [n] chunk rollouts trained on; advantages: [n]; mask: [n, Lc];
    ref_logprobs / old_logprobs: [n, Lc] or None (beta 0 / one iteration).
    old_sampled_logprobs: [n, Lc], the old policy's under the sampling distribution (top-k,
    top-p...), to compare with the engine's (None: one iteration, or no engine log-probs).
    members: per record, (chunk indices of its ordered rollouts, of its shuffled ones).
    """

    batch: PromptBatch
    chunk: RolloutChunk
    rows: list[int]
    index: torch.Tensor
    advantages: torch.Tensor
    mask: torch.Tensor
    ref_logprobs: torch.Tensor | None
    old_logprobs: torch.Tensor | None
    groups: list[GroupScores]
    members: list[tuple[list[int], list[int]]]
    old_sampled_logprobs: torch.Tensor | None = None
