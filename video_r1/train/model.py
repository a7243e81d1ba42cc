"""Model preparation, optimizer and learning-rate schedule, shared by SFT and GRPO.

GRPO calls, before `accelerator.prepare`::

    model = prepare_model(cfg.model)                 # load, freeze vision, LoRA, checkpointing
    optimizer = build_optimizer(model, cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.optim, total_steps)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from video_r1.train.config import LoraConfig, ModelConfig, OptimConfig


def find_vision_towers(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """The `visual` submodules (vision encoder + merger) of a Qwen-VL model."""
    return [(n, m) for n, m in model.named_modules() if n.rsplit(".", 1)[-1] == "visual"]


def freeze_vision_tower(model: torch.nn.Module) -> int:
    """Stop gradients into the vision tower; returns how many parameters were frozen."""
    towers = find_vision_towers(model)
    if not towers:
        raise ValueError(f"{type(model).__name__} has no `visual` module to freeze")
    frozen = 0
    for _, tower in towers:
        for p in tower.parameters():
            if p.requires_grad:
                p.requires_grad_(False)
                frozen += p.numel()
    return frozen


def apply_lora(model: torch.nn.Module, cfg: LoraConfig) -> Any:
    """Wrap `model` with peft LoRA adapters on the modules matching `cfg.target_modules`."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    peft_cfg = PeftLoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_cfg)


def prepare_model(cfg: ModelConfig, checkpoint: str | Path | None = None) -> Any:
    """Load the model and make it trainable as the config says.

    Weights come from `cfg.path`, or from `checkpoint` when resuming (its HF files; with LoRA
    the base from `cfg.path` and the adapter from `checkpoint`). Order matters: vision
    freezing before LoRA (LoRA freezes all base weights anyway) and checkpointing before the
    peft wrap, non-reentrant so frozen inputs need no grad hack.
    """
    from video_r1.models.loading import load_model
    from video_r1.train.checkpoint import check_model_files

    if checkpoint is not None:
        check_model_files(checkpoint, cfg.lora)
    full_weights = checkpoint if checkpoint is not None and not cfg.lora.enabled else cfg.path
    model = load_model(full_weights, dtype=cfg.dtype, attn_implementation=cfg.attn_implementation)
    model.config.use_cache = False  # the KV cache is useless in training and costs memory
    if cfg.freeze_vision:
        freeze_vision_tower(model)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.lora.enabled and checkpoint is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(checkpoint), is_trainable=True)
    elif cfg.lora.enabled:
        model = apply_lora(model, cfg.lora)
    model.train()
    return model


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """AdamW over trainable parameters; no weight decay on biases and norm weights (1-D)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    if not decay and not no_decay:
        raise ValueError("the model has no trainable parameters")
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        [g for g in groups if g["params"]],
        lr=cfg.lr,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        eps=cfg.adam_eps,
    )


def warmup_steps_of(cfg: OptimConfig, total_steps: int) -> int:
    return cfg.warmup_steps if cfg.warmup_steps > 0 else math.ceil(cfg.warmup_ratio * total_steps)


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """Multiplier of the peak lr for optimizer step `step` (0-based).

    Linear warm-up from 1/(warmup+1), then constant, linear decay to 0 or cosine decay to 0.

    Example:
        >>> lr_factor(0, 10, 2, "cosine"), lr_factor(2, 10, 2, "cosine")
        (0.3333333333333333, 1.0)
        >>> round(lr_factor(6, 10, 2, "cosine"), 4)   # halfway through the decay
        0.5
    """
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    raise ValueError(f"unknown schedule {schedule!r}")


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR following `lr_factor`; step it once per optimizer step."""
    warmup = warmup_steps_of(cfg, total_steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, warmup, cfg.schedule)
    )


DROPOUT_MODULES = (
    torch.nn.Dropout, torch.nn.Dropout1d, torch.nn.Dropout2d, torch.nn.Dropout3d,
    torch.nn.AlphaDropout, torch.nn.FeatureAlphaDropout,
)  # fmt: skip


def set_policy_mode(model: torch.nn.Module, training: bool, dropout: bool = False) -> None:
    """Eval mode (no dropout) or train mode, there with the dropout modules on or off.

    Generation runs in eval mode: the rollouts come from the network without dropout (as TRL
    and verl generate). The old and reference log-probs and the update run in train mode,
    which gradient checkpointing needs (transformers checkpoints only while `training`, and
    a log-prob pass then takes its cache-free path): the fixed log-probs are computed exactly
    as the update computes its own. Their dropout modules (LoRA's) stay off, and the update's
    too unless `dropout` (rl.update_dropout): pass 1 then differentiates the very network that
    sampled, its ratio is exactly 1 and, with LoRA, its KL to the adapter-free reference is
    exactly 0 before any update. Under DeepSpeed `model` is the engine; its train() reaches
    its module.
    """
    model.train(training)
    if training and not dropout:
        for module in model.modules():
            if isinstance(module, DROPOUT_MODULES):
                module.eval()
