"""The rollout engine of a GRPO run: which one (rl.rollout_engine), when the policy's weights
go to it, and what its sampled tokens' log-probs say against the trainer's.

The step (grpo_step.py) asks the engine for rollouts and calls `sync_weights` before each
generation; only a new policy version (the schedule's step count) is pushed. With an engine
that keeps its log-probs (vLLM), each update pass logs the gap and applies the truncated
importance-sampling correction (video_r1/rl/mismatch.py), both against the trainer's log-probs
under the distribution that sampled (`scored`): suppressed ids, temperature, top-k
and top-p, as vLLM's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from video_r1.models.loading import generation_stop_ids
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.recipes.grpo_types import MicroExperience, StepContext
from video_r1.rl.mismatch import mismatch_sums, truncated_is_weights
from video_r1.rollout.grouped import supports_grouped
from video_r1.rollout.logprobs import completion_logprobs_and_sampled
from video_r1.rollout.sampling import TokenSampler
from video_r1.rollout.vision import base_model


def make_engine(cfg: GRPOConfig, policy: Any, zero3: bool, load_format: str = "auto") -> Any:
    """The rollout engine of rl.rollout_engine: video-r1's decoder on the policy, or an
    in-process vLLM engine on the checkpoint (its weights replaced by the policy's before the
    first generation: a resumed or LoRA policy is not the checkpoint)."""
    rl = cfg.rl
    if rl.rollout_engine == "native":
        from video_r1.rollout.engine import NativeEngine

        # ZeRO-3's hooks gather parameters inside each forward: no graph can hold that
        static = None if rl.cuda_graph_decode and not zero3 else False
        return NativeEngine(policy, cascade=rl.cascade_attention, static_cache=static)
    from video_r1.rollout.vllm_engine import VLLMEngine, VLLMSettings

    settings = VLLMSettings(
        dtype=engine_dtype(cfg, policy), kv_cache_gb=rl.vllm_kv_cache_gb,
        gpu_memory_utilization=rl.vllm_gpu_memory_utilization,
        max_model_len=rl.vllm_max_model_len, enforce_eager=rl.vllm_enforce_eager, seed=cfg.seed,
        load_format=load_format, kv_cache_sequences=rollouts_per_call(cfg),
    )  # fmt: skip
    return VLLMEngine(cfg.model.path, settings)


def engine_dtype(cfg: GRPOConfig, policy: Any) -> str:
    """rl.vllm_dtype; auto: the precision the trainer computes in, which the engine should
    sample at: bfloat16 / float16 under accelerate's mixed precision (float32 master weights
    under bf16 autocast), else the policy's weights' own dtype.

    Example:
        >>> cfg = GRPOConfig(mixed_precision="bf16")
        >>> engine_dtype(cfg, torch.nn.Linear(2, 2))
        'bfloat16'
    """
    from video_r1.train.setup import resolve_mixed_precision

    if cfg.rl.vllm_dtype != "auto":
        return cfg.rl.vllm_dtype
    precision = resolve_mixed_precision(cfg.mixed_precision)
    if precision in ("bf16", "fp16"):
        return {"bf16": "bfloat16", "fp16": "float16"}[precision]
    return str(next(policy.parameters()).dtype).removeprefix("torch.")


def rollouts_per_call(cfg: GRPOConfig) -> int:
    """Rollouts of one generate call on one process: its prompts (rl.rollout_batch_size, else
    the step's) x the rollouts of each (ordered, and shuffled with rl.temporal)."""
    rl, optim = cfg.rl, cfg.optim
    prompts = rl.rollout_batch_size or optim.per_device_batch_size * optim.grad_accum
    return prompts * (rl.num_generations + (rl.num_shuffled_generations if rl.temporal else 0))


def run_engine(ctx: StepContext) -> Any:
    """The context's engine; one made without (benchmarks, tests) gets the configured one."""
    if ctx.engine is None:
        ctx.engine = make_engine(ctx.cfg, ctx.policy, ctx.zero3)
    return ctx.engine


@contextmanager
def engine_closed(ctx: StepContext) -> Iterator[None]:
    """Close the context's engine (vLLM's `close`) on any way out of the block."""
    try:
        yield
    finally:
        close = getattr(ctx.engine, "close", None)  # the native engine holds nothing to close
        if close is not None:
            close()


def policy_version(ctx: StepContext) -> int:
    """How many optimizer steps the policy has taken (the schedule's count, resume included):
    the engine is pushed new weights only when this changed since its last push."""
    return int(ctx.scheduler.scheduler.last_epoch)


def scored(
    ctx: StepContext, model: Any, encoded: Any, rollouts: Any, index: torch.Tensor | None,
    compare: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
    """The trainer's log-probs [n, Lc] of `rollouts` (`index`) at rl.temperature and, with
    `compare` where the engine kept its own log-probs, the same tokens' under the distribution
    that sampled them (suppressed ids, min_new_tokens' stops, temperature, top-k, top-p; no
    grad), which `engine_mismatch` compares with the engine's."""
    rl = ctx.cfg.rl
    sampler = None
    if compare and rollouts.logprobs is not None:
        sampler = TokenSampler.from_config(ctx.gen_config)
    stops = generation_stop_ids(ctx.gen_config, ctx.eos_ids)
    return completion_logprobs_and_sampled(  # rl.grouped_update: each prompt row once
        model,
        encoded,
        rollouts,
        index,
        rl.temperature,
        sampler,
        stops,
        rl.cascade_attention,
        grouped=rl.grouped_update,
    )


def grouped_update_note(cfg: GRPOConfig, policy: torch.nn.Module) -> str | None:
    """The plan's line where rl.grouped_update is on but the text model's attention cannot run
    the grouped layout (flash_attention_2 and the like take no split layout): its log-prob
    passes then run per rollout, the prompt copied to each under checkpointing. None where it
    can (sdpa, eager) or the setting is off."""
    if not cfg.rl.grouped_update or supports_grouped(policy):
        return None
    attention = base_model(policy).language_model.config._attn_implementation
    return (
        f"# rl.grouped_update: the text model's attention is {attention}, which the grouped "
        "pass does not run (sdpa and eager do), so the log-prob passes run one sequence per "
        "rollout; model.attn_implementation=sdpa runs it (on a GPU sdpa's own flash kernel "
        "serves the causal prompt)"
    )


def engine_mismatch(
    ctx: StepContext, micro: MicroExperience, sampled: torch.Tensor | None,
    sums: dict[str, float],
) -> torch.Tensor | None:  # fmt: skip
    """With an engine that kept its sampled tokens' log-probs (vLLM): add the gap to the
    trainer's log-probs of the same tokens under the same sampling distribution, of the
    generating policy (the old pass's, or `sampled`: this pass's on-policy ones), to `sums`
    (`mismatch/...`, weighted like the loss), and return the truncated importance-sampling
    weights [n, Lc] (None without a cap or without engine log-probs)."""
    engine_logprobs = micro.chunk.rollouts.logprobs
    if engine_logprobs is None:
        return None
    trainer = micro.old_sampled_logprobs if micro.old_sampled_logprobs is not None else sampled
    if trainer is None:
        raise RuntimeError("the engine kept log-probs but the trainer scored none to compare")
    cap = ctx.cfg.rl.vllm_importance_sampling_cap
    engine_logprobs = engine_logprobs[micro.index.to(engine_logprobs.device)].to(trainer.device)
    weights = truncated_is_weights(trainer, engine_logprobs, cap) if cap else None
    gap = mismatch_sums(trainer, engine_logprobs, micro.mask, weights, cap)
    weight = micro.batch.weight
    sums["mismatch/abs_diff_max"] = max(
        sums["mismatch/abs_diff_max"], weight * gap.pop("abs_diff_max")
    )
    for key, value in gap.items():
        sums[f"mismatch/{key}"] += weight * value
    return weights
