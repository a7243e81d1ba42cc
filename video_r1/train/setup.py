"""The accelerate `Accelerator` for a run: backend from the accelerate config file, precision,
trackers and gradient accumulation from our config.

Single process, DDP, FSDP and DeepSpeed ZeRO-2/3 are chosen by how the run is launched
(`accelerate launch --config_file configs/accelerate/<backend>.yaml video-r1 sft ...`), not by
the recipe. FSDP needs GPUs (accelerate does not shard on CPU; see `check_fsdp_supported`).
GRPO calls::

    accelerator = setup_accelerator(cfg, output_dir)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

Accumulation goes through `accelerator.accumulate(model)`, which both DDP (no_sync) and
DeepSpeed (its own accumulation boundary) honour; note that `accelerator.backward` divides the
loss by `grad_accum` (see `video_r1.recipes.sft` for how the loss is normalised around that).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from video_r1.train.config import ConfigError, TrainConfig


def resolve_mixed_precision(setting: str) -> str:
    """'auto' -> 'bf16' on a GPU that supports it, else 'no'; other values pass through."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def setup_accelerator(cfg: TrainConfig, output_dir: str | Path) -> Any:
    """An Accelerator configured from `cfg` (precision, accumulation, trackers, clipping)."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedType, InitProcessGroupKwargs, ProjectConfiguration

    output_dir = Path(output_dir)
    no_gpu = not torch.cuda.is_available()
    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
    check_fsdp_supported()
    handlers = []
    if no_gpu and deepspeed:
        # accelerate finds no backend for DeepSpeed without a GPU and silently runs every
        # process as a world of one; name gloo so the processes form one group.
        handlers.append(InitProcessGroupKwargs(backend="gloo"))
    accelerator = Accelerator(
        # Without a GPU, accelerate only forms a (gloo) process group under torchrun when
        # told it runs on CPU (DeepSpeed: see above).
        cpu=no_gpu and not deepspeed,
        kwargs_handlers=handlers,
        mixed_precision=resolve_mixed_precision(cfg.mixed_precision),
        gradient_accumulation_steps=cfg.optim.grad_accum,
        # Our schedule counts optimizer steps of the whole run; accelerate would otherwise
        # step it once per process per optimizer step.
        step_scheduler_with_optimizer=False,
        log_with=list(cfg.logging.trackers) or None,
        project_config=ProjectConfiguration(
            project_dir=str(output_dir), logging_dir=str(output_dir / "logs")
        ),
    )
    is_ds = accelerator.distributed_type == DistributedType.DEEPSPEED
    check_launch_settings(
        cfg, accelerator.state.deepspeed_plugin.deepspeed_config if is_ds else None
    )
    if cfg.model.dtype != "float32" and not is_ds and accelerator.is_main_process:
        # allowed (it halves the memory), but the optimizer then updates half-precision
        # weights in place: steps below their resolution round away
        print(
            f"# warning: model.dtype={cfg.model.dtype} without DeepSpeed: the optimizer updates "
            f"{cfg.model.dtype} weights directly, and at optim.lr {cfg.optim.lr:g} most updates "
            "round away (bf16 keeps 8 bits of mantissa); for training keep model.dtype=float32 "
            "with mixed_precision=bf16, or use DeepSpeed (fp32 master weights)",
            flush=True,
        )
    if is_ds:
        # DeepSpeed clips inside its step and accumulates itself: give it our settings, so
        # that no value in the accelerate config file shadows the run config.
        ds = accelerator.state.deepspeed_plugin.deepspeed_config
        ds["gradient_clipping"] = cfg.optim.max_grad_norm
        ds["gradient_accumulation_steps"] = cfg.optim.grad_accum
        ds["train_micro_batch_size_per_gpu"] = cfg.optim.per_device_batch_size
        ds["train_batch_size"] = (
            cfg.optim.per_device_batch_size * cfg.optim.grad_accum * accelerator.num_processes
        )
    return accelerator


# Settings an accelerate launch (config file, flags) or a DeepSpeed JSON can also set: where
# they are set to another value than the run config's, accelerate or DeepSpeed silently uses
# one of the two (the env var beats Accelerator(gradient_accumulation_steps=...), the
# DeepSpeed config beats accelerator.clip_grad_norm_). The run config is the one source.
_LAUNCH_SETTINGS = {  # DeepSpeed key -> (accelerate env var, run config key)
    "gradient_clipping": ("ACCELERATE_GRADIENT_CLIPPING", "optim.max_grad_norm"),
    "gradient_accumulation_steps": (
        "ACCELERATE_GRADIENT_ACCUMULATION_STEPS",
        "optim.grad_accum",
    ),
}


def check_launch_settings(cfg: TrainConfig, ds_config: dict | None = None) -> None:
    """Raise ConfigError where the launch config sets gradient clipping or accumulation to
    another value than the run config (`optim.max_grad_norm`, `optim.grad_accum`).

    ds_config: the DeepSpeed config of the run (from the accelerate config or a JSON), if any.
    Unset and "auto" values agree with anything.
    """
    ours = {
        "gradient_clipping": cfg.optim.max_grad_norm,
        "gradient_accumulation_steps": cfg.optim.grad_accum,
    }
    for key, (env_var, run_key) in _LAUNCH_SETTINGS.items():
        sources = [(f"the accelerate launch config ({env_var})", os.environ.get(env_var))]
        if ds_config is not None:
            sources.append(("the DeepSpeed config", ds_config.get(key)))
        for source, value in sources:
            if value is None or str(value).lower() in ("auto", "none"):
                continue
            if float(value) != float(ours[key]):
                raise ConfigError(
                    f"{source} sets {key} = {value} but the run config has {run_key} = "
                    f"{ours[key]}; the run config is the one source of this setting: remove "
                    f"{key} from the accelerate config file / DeepSpeed JSON (or make it 'auto')"
                )


FSDP_NEEDS_DEVICE = (
    "FSDP was requested (accelerate config with distributed_type: FSDP) but this machine has "
    "no GPU or other accelerator. accelerate only shards with FSDP over accelerator devices: "
    "on CPU it stops in FullyShardedDataParallelPlugin (sync_module_states needs a device), "
    "and without that setting it would silently train plain DDP (cpu=True) or a world of one "
    "process. On CPU launch with configs/accelerate/ddp.yaml, zero2.yaml or zero3.yaml "
    "(DeepSpeed runs on CPU over gloo)."
)


def check_fsdp_supported() -> None:
    """Raise if the launch asks for FSDP where accelerate cannot run it (no accelerator).

    Called before the Accelerator is built, whose own error on CPU names no cause and whose
    fallbacks (DDP or one process) would pass for a sharded run.
    """
    fsdp = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    if fsdp and not torch.accelerator.is_available():
        raise RuntimeError(FSDP_NEEDS_DEVICE)


def is_deepspeed(accelerator: Any) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.DEEPSPEED


def is_fsdp(accelerator: Any) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.FSDP
