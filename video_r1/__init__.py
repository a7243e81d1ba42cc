"""video-r1: train video reasoning models with GRPO and T-GRPO.

Data flows one way, one module per stage:
record (video_r1.data) -> media (video_r1.media) -> prompt (video_r1.prompts)
-> rollout (video_r1.rollout) -> rewards (video_r1.rewards) -> advantages/loss
(video_r1.rl) -> optimizer step, checkpoint, metrics (video_r1.train).

Importing the package loads nothing heavy: the torchvision shim (video_r1.compat) is applied
by the entry points (the CLI, the recipes) and wherever a processor or model is loaded.
"""

__version__ = "0.1.0"
