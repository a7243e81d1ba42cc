"""Entry point of the multi-process GRPO tests: train, then dump this rank's parameters and
the optimizer and schedule step counts, and the text model's attention implementation (the
grouped update's, once it ran)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from video_r1.recipes.grpo import train
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.train.config import load_config

if __name__ == "__main__":
    config, *overrides = sys.argv[1:]
    result = train(load_config(GRPOConfig, config, overrides))
    rank = int(torch.distributed.get_rank()) if torch.distributed.is_initialized() else 0
    params = {k: v.detach().float().cpu() for k, v in result.model.state_dict().items()}
    torch.save(params, Path(result.output_dir) / f"params_rank{rank}.pt")
    counts = {"optimizer": result.optimizer_steps, "scheduler": result.scheduler_steps,
              "attention": result.model.config.get_text_config()._attn_implementation}  # fmt: skip
    (Path(result.output_dir) / f"steps_rank{rank}.json").write_text(json.dumps(counts))
