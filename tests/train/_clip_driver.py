"""One DeepSpeed process: a zero-initialised linear layer, one SGD step (lr 1) on a gradient
of norm 200, through setup_accelerator. Writes the engine's clipping and the update's norm."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from video_r1.train.config import OptimConfig, TrainConfig
from video_r1.train.setup import setup_accelerator

if __name__ == "__main__":
    out, max_grad_norm = Path(sys.argv[1]), float(sys.argv[2])
    cfg = TrainConfig(optim=OptimConfig(max_grad_norm=max_grad_norm), mixed_precision="no")
    accelerator = setup_accelerator(cfg, out)
    layer = torch.nn.Linear(4, 1, bias=False)
    torch.nn.init.zeros_(layer.weight)
    optimizer = torch.optim.SGD(layer.parameters(), lr=1.0)
    model, optimizer = accelerator.prepare(layer, optimizer)
    loss = model(torch.full((1, 4), 100.0)).sum()  # d loss / d weight = 100 each: norm 200
    accelerator.backward(loss)
    optimizer.step()
    update = accelerator.unwrap_model(model).weight.detach().norm()  # |w - 0|
    result = {"engine_clipping": model.gradient_clipping(), "update_norm": float(update)}
    (out / "clip.json").write_text(json.dumps(result))
