"""Training recipes: explicit loops over the shared core in video_r1.train.

`video_r1.recipes.sft` (supervised cold start) and `video_r1.recipes.grpo` (GRPO / T-GRPO).
Each is a CLI subcommand module (`add_arguments`, `run`); launchers run them through the CLI,
e.g. `torchrun --nproc_per_node 2 -m video_r1.cli sft --config configs/sft_tiny.yaml`.
"""

from video_r1.compat import ensure_torchvision_importable

# Recipes are entry points (the CLI, launchers, scripts calling `train`): shim torchvision
# before anything they run imports transformers.
ensure_torchvision_importable()
