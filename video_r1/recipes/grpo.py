"""RL with GRPO or T-GRPO on Video-R1-format records (the published Video-R1 RL stage).

Per prompt group: G rollouts on the ordered frames; with `rl.temporal`, for video prompts also
rollouts on a fresh time shuffle of the same frames, whose accuracy decides the temporal bonus
(never across prompts). Only ordered rollouts are trained on. The vision tower runs once per
(prompt, frame order); generation of every rollout of a micro-batch is one batched call.

    video-r1 grpo --config configs/grpo.yaml rl.temporal=false --resume
    accelerate launch --config_file configs/accelerate/zero2.yaml \\
        -m video_r1.cli grpo --config configs/grpo.yaml

Writes under checkpoint.output_dir (one run at a time: OUT/.lock): checkpoint-<step>/, final/
(the model alone, as SFT's), metrics.jsonl (one line per step), rollouts.jsonl (with
rl.debug_rollouts), bad_samples.jsonl, logs/ (trackers).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from video_r1.recipes.grpo_config import GRPOConfig, RLConfig
from video_r1.rl.group_scores import ScoringSettings
from video_r1.train.config import ConfigError, describe_config

if TYPE_CHECKING:
    from video_r1.recipes.grpo_types import StepContext
    from video_r1.train.run import Run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML config (e.g. configs/grpo.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. rl.temporal=false")
    parser.add_argument(
        "--resume", nargs="?", const="latest", default=None, metavar="PATH",
        help="resume from the newest checkpoint of the output dir (no value; refused where "
        "there is none), from PATH, or `auto`: the newest if any, else a fresh start "
        "(for a job that restarts itself)",
    )  # fmt: skip
    parser.epilog = "config keys (key (default): meaning):\n  " + "\n  ".join(
        describe_config(GRPOConfig)
    )


def run(args: argparse.Namespace) -> int:
    from video_r1.train.config import load_config

    train(load_config(GRPOConfig, args.config, args.overrides), resume=args.resume)
    return 0


@dataclass
class GRPOResult:
    output_dir: Path
    final_step: int
    model: Any  # the trained model, unwrapped
    optimizer_steps: int = 0  # steps the optimizer (or DeepSpeed engine) took in this process
    scheduler_steps: int = 0  # steps of the learning-rate schedule, resume included


class PhaseTimer:
    """Wall time per phase of a step (`with timer("generate"): ...`)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - start


def load_reward_terms(cfg: GRPOConfig) -> list:
    """The configured reward functions with weights; `accuracy` honours rl.lenient_accuracy
    and rl.grounding_reward."""
    from video_r1.rewards import accuracy_reward, resolve_reward_function
    from video_r1.rl.group_scores import RewardTerm

    weights = cfg.rl.reward_weights or [1.0] * len(cfg.rl.reward_funcs)
    terms = []
    for spec, weight in zip(cfg.rl.reward_funcs, weights, strict=True):
        fn = resolve_reward_function(spec)
        if spec == "accuracy":
            fn = functools.partial(
                accuracy_reward,
                lenient=cfg.rl.lenient_accuracy,
                grounding_reward=cfg.rl.grounding_reward,
            )
        terms.append(RewardTerm(name=reward_name(spec), fn=fn, weight=float(weight)))
    return terms


def reward_name(spec: str) -> str:
    """Metric name of a reward spec.

    Example:
        >>> reward_name("accuracy"), reward_name("my_pkg.rewards:brevity")
        ('accuracy', 'brevity')
    """
    return spec.rsplit(":", 1)[-1]


def scoring_settings(rl: RLConfig) -> ScoringSettings:
    """The group-scoring settings of `rl`: each ScoringSettings field but the accuracy term is
    an RLConfig field of the same name (whose default it also provides)."""
    shared = {
        f.name: getattr(rl, f.name)
        for f in dataclasses.fields(ScoringSettings)
        if f.name != "accuracy_term"
    }
    return ScoringSettings(accuracy_term=reward_name(rl.accuracy_reward), **shared)


def load_reference(cfg: GRPOConfig, accelerator: Any) -> Any:
    """A frozen reference policy: None when beta = 0 or with LoRA (adapters disabled instead).

    Under DeepSpeed the reference goes through deepspeed.initialize like the policy (ZeRO-3
    loads weights partitioned; stage 3 keeps them sharded, other stages hold a full copy).
    """
    from video_r1.models import load_model
    from video_r1.train.setup import is_deepspeed

    if cfg.rl.beta == 0.0 or cfg.model.lora.enabled:
        return None
    ref = load_model(
        cfg.model.path, dtype=cfg.model.dtype, attn_implementation=cfg.model.attn_implementation
    )
    ref.eval().requires_grad_(False)
    if not is_deepspeed(accelerator):
        # prepared like the policy, so it computes under the same autocast (bf16)
        return accelerator.prepare_model(ref, evaluation_mode=True)
    import copy

    import deepspeed

    ds_config = copy.deepcopy(accelerator.state.deepspeed_plugin.deepspeed_config)
    if ds_config["zero_optimization"]["stage"] != 3:
        ds_config["zero_optimization"]["stage"] = 0
    for key in ("optimizer", "scheduler"):
        ds_config.pop(key, None)
    engine, *_ = deepspeed.initialize(model=ref, config=ds_config)
    engine.eval()  # DeepSpeedEngine.eval returns None, not the engine
    return engine


def setup_step(cfg: GRPOConfig, run: Run) -> tuple[StepContext, int]:
    """Processor, policy, optimizer, schedule, reference, generation settings; the start step.

    The schedule counts optimizer steps: rl.num_iterations per step.
    """
    from video_r1.media.record_media import make_frame_cache
    from video_r1.models import generation_config, load_processor
    from video_r1.recipes.grpo_engine import grouped_update_note, make_engine
    from video_r1.recipes.grpo_types import StepContext
    from video_r1.train import model as model_setup
    from video_r1.train.run import resume_state
    from video_r1.train.setup import is_deepspeed

    rl, accelerator = cfg.rl, run.accelerator
    zero3 = is_deepspeed(accelerator) and accelerator.state.deepspeed_plugin.zero_stage == 3
    if zero3 and rl.paired_sampling and not rl.gather_for_generation:
        # paired sampling makes one or two generate calls per chunk depending on its videos;
        # per-token ZeRO-3 generation needs the same calls on every process, or it hangs
        raise ConfigError(
            "rl.paired_sampling under ZeRO-3 needs rl.gather_for_generation=true (per-token "
            "generation would wait on processes that make another number of generate calls)"
        )
    processor = load_processor(cfg.model.path)
    model = model_setup.prepare_model(cfg.model, checkpoint=run.resume_path)
    trainable, total = model_setup.count_parameters(model)
    vision_trainable = any(p.requires_grad for n, p in model.named_parameters() if "visual" in n)
    optimizer = model_setup.build_optimizer(model, cfg.optim)
    scheduler = model_setup.build_scheduler(
        optimizer, cfg.optim, run.total_steps * rl.num_iterations
    )
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    policy = accelerator.unwrap_model(model)
    gen_config = generation_config(
        policy, processor, temperature=rl.temperature, top_p=rl.top_p, top_k=rl.top_k,
        max_new_tokens=rl.max_completion_length, do_sample=True,
    )  # fmt: skip
    if rl.min_completion_length:
        gen_config.min_new_tokens = rl.min_completion_length
    scoring = scoring_settings(rl)
    engine = make_engine(cfg, policy, zero3)  # vLLM: loads now, before the first step
    ctx = StepContext(
        cfg=cfg, accelerator=accelerator, model=model, policy=policy,
        reference=load_reference(cfg, accelerator), processor=processor, optimizer=optimizer,
        scheduler=scheduler, gen_config=gen_config, eos_ids=list(gen_config.eos_token_id),
        terms=load_reward_terms(cfg), scoring=scoring, vision_trainable=vision_trainable,
        zero3=zero3,
        cache=make_frame_cache(cfg.media), engine=engine,
    )  # fmt: skip
    method = "T-GRPO" if rl.temporal else "GRPO"
    note = grouped_update_note(cfg, policy)
    if note and accelerator.is_main_process:
        print(note, flush=True)
    start_step = resume_state(
        run, f"{trainable:,} of {total:,} parameters trainable; {method}", ("rollouts.jsonl",)
    )
    return ctx, start_step


def shuffle_generator(cfg: GRPOConfig, step: int, rank: int) -> Any:
    """A fresh frame shuffle per step and rank, reproducible on resume."""
    import torch

    return torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * 1009 + rank)


def train(cfg: GRPOConfig, resume: str | None = None) -> GRPOResult:
    """Run GRPO / T-GRPO as configured (on every process of the launch)."""
    from video_r1.recipes.grpo_dynamic import (
        POSITION_KEY,
        collect_dynamic_experience,
        start_position,
    )
    from video_r1.recipes.grpo_engine import engine_closed
    from video_r1.recipes.grpo_log import log_step
    from video_r1.recipes.grpo_rewards import trainer_state
    from video_r1.recipes.grpo_step import collect_experience, load_prompt_batches, update
    from video_r1.train.checkpoint import save_checkpoint
    from video_r1.train.metrics_logger import StepTimer
    from video_r1.train.run import finish_run, open_logger, open_run, run_state, stop_on_signals
    from video_r1.utils.io import append_jsonl

    with open_run(cfg, "grpo", resume) as run:  # the folder is this run's until it ends
        ctx, start_step = setup_step(cfg, run)
        bad_total = {"seen": run.bad.seen, "bad": run.bad.bad}
        position = start_position(run, start_step)  # the data stream, for rl.dynamic_sampling
        # Ctrl-C / SIGTERM: say how to resume; the logger ends its bar on any way out; the engine
        # closes first, before the logger's end_training destroys the process group it uses
        with (
            stop_on_signals(run) as check_stop,
            open_logger(run, start_step) as logger,
            engine_closed(ctx),
        ):
            for step in range(start_step, run.total_steps):
                check_stop()  # a Ctrl-C or SIGTERM lost inside the last step stops the run here
                ctx.trainer_state = trainer_state(
                    step, run.total_steps, run.sampler.steps_per_epoch
                )
                timer, clock = PhaseTimer(), StepTimer()
                lr = ctx.scheduler.get_last_lr()[0]
                extra = None  # rl.dynamic_sampling's sums (rounds, groups drawn and kept)
                # DAPO: drop groups without signal, refill (grpo_dynamic)
                if cfg.rl.dynamic_sampling:
                    draw = collect_dynamic_experience(
                        ctx, run, step, position, shuffle_generator(cfg, step, run.rank), timer
                    )
                    experience, extra, position = draw.experience, draw.sums, draw.position
                    append_jsonl(run.order_log, {"step": step + 1, "rank": run.rank,
                                                 "problem_ids": draw.problem_ids})  # fmt: skip
                else:
                    micro_batches = run.sampler.step_batches(step)
                    step_ids = [run.records[i].problem_id for micro in micro_batches for i in micro]
                    append_jsonl(
                        run.order_log, {"step": step + 1, "rank": run.rank, "problem_ids": step_ids}
                    )
                    batches = load_prompt_batches(
                        ctx, micro_batches, run.records, run.bad, step,
                        lambda step=step: run.sampler.filler_order(step), timer,
                    )  # fmt: skip
                    experience = collect_experience(
                        ctx, batches, shuffle_generator(cfg, step, run.rank), timer, step
                    )
                passes = update(ctx, experience, timer)
                bad_total = log_step(run, logger, step, experience, passes, timer, clock, lr, extra)
                done, every = step + 1, cfg.checkpoint.save_every
                if (every and done % every == 0) or done == run.total_steps:
                    state = run_state(run, done, bad_total)
                    if cfg.rl.dynamic_sampling:  # what the next step reads depends on the drops
                        state[POSITION_KEY] = position
                    save_checkpoint(run.accelerator, ctx.model, ctx.processor, run.out, done,
                                    state, run.config_yaml, cfg.checkpoint.keep_last)  # fmt: skip
        finish_run(run, ctx.model, ctx.processor, bad_total)
    model = run.accelerator.unwrap_model(ctx.model)
    return GRPOResult(run.out, run.total_steps, model, *step_counts(ctx))


def step_counts(ctx: StepContext) -> tuple[int, int]:
    """(optimizer steps, schedule steps) so far, read from the optimizer (the DeepSpeed
    engine's own count under DeepSpeed) and the schedule, not from the loop."""
    steps = getattr(ctx.model, "global_steps", None)  # DeepSpeedEngine
    if steps is None:
        steps = max(
            (int(s["step"]) for s in ctx.optimizer.state.values() if "step" in s), default=0
        )
    return int(steps), int(ctx.scheduler.scheduler.last_epoch)
