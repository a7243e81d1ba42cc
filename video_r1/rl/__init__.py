"""Pure RL math: group advantages and the GRPO policy loss. No model, device or accelerator."""

from video_r1.rl.advantages import group_advantages
from video_r1.rl.loss import LossStats, kl_penalty, micro_batch_normaliser, policy_loss

__all__ = [
    "LossStats", "group_advantages", "kl_penalty", "micro_batch_normaliser", "policy_loss",
]  # fmt: skip
