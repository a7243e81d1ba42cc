"""RL with GRPO or T-GRPO on Video-R1-format records (the published Video-R1 RL stage).

Per prompt group: G rollouts on the ordered frames; with `rl.temporal`, for video prompts also
rollouts on a fresh time shuffle of the same frames, whose accuracy decides the temporal bonus
(never across prompts). Only ordered rollouts are trained on. The vision tower runs once per
(prompt, frame order); generation of every rollout of a micro-batch is one batched call.

    video-r1 grpo --config configs/grpo.yaml rl.temporal=false --resume
    accelerate launch --config_file configs/accelerate/zero2.yaml \\
        -m video_r1.cli grpo --config configs/grpo.yaml

Writes under checkpoint.output_dir: checkpoint-<step>/, final, metrics.jsonl (one line per
step), rollouts.jsonl (with rl.debug_rollouts), bad_samples.jsonl, logs/ (trackers).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.train.config import describe_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML config (e.g. configs/grpo.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. rl.temporal=false")
    parser.add_argument(
        "--resume", nargs="?", const="latest", default=None, metavar="PATH",
        help="resume from the newest checkpoint of the output dir (no value) or from PATH",
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
    """The configured reward functions with weights; `accuracy` honours rl.lenient_accuracy."""
    import functools

    from video_r1.rewards import resolve_reward_function
    from video_r1.rl.scoring import RewardTerm

    weights = cfg.rl.reward_weights or [1.0] * len(cfg.rl.reward_funcs)
    terms = []
    for spec, weight in zip(cfg.rl.reward_funcs, weights, strict=True):
        fn = resolve_reward_function(spec)
        if spec == "accuracy" and cfg.rl.lenient_accuracy:
            fn = functools.partial(fn, lenient=True)
        terms.append(RewardTerm(name=reward_name(spec), fn=fn, weight=float(weight)))
    return terms


def reward_name(spec: str) -> str:
    """Metric name of a reward spec: `accuracy` -> accuracy, `pkg.mod:fn` -> fn."""
    return spec.rsplit(":", 1)[-1]


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
        return ref.to(accelerator.device)
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


def build_prompt_rows(
    media: list, cfg: GRPOConfig, generator: Any
) -> tuple[list[int], list, list[int]]:
    """Prompt rows of a micro-batch: every record ordered, then each video time-shuffled.

    Returns (record index of each row, media of each row, rollouts per row); rows
    0..len(media)-1 are the ordered ones, in record order.
    """
    from video_r1.media.types import Clip
    from video_r1.rl.frame_order import time_shuffle

    sources, rows_m = list(range(len(media))), list(media)
    counts = [cfg.rl.num_generations] * len(media)
    if cfg.rl.temporal:
        for b, item in enumerate(media):
            if isinstance(item, Clip) and item.num_frames >= 2:
                sources.append(b)
                rows_m.append(item.reordered(time_shuffle(item.num_frames, generator)))
                counts.append(cfg.rl.num_shuffled_generations)
    return sources, rows_m, counts


def train(cfg: GRPOConfig, resume: str | None = None) -> GRPOResult:  # noqa: C901  (the recipe)
    import torch

    from video_r1.media.types import Clip
    from video_r1.models import generation_config, load_processor, stop_token_ids
    from video_r1.prompts import build_messages, encode_prompts, select
    from video_r1.rl import group_advantages, policy_loss
    from video_r1.rl.metrics import finalize, group_sums
    from video_r1.rl.scoring import ScoringSettings, score_group
    from video_r1.rollout import (
        completion_logprobs,
        detach_features,
        encode_vision,
        generate_rollouts,
    )
    from video_r1.train.checkpoint import save_checkpoint, write_final
    from video_r1.train.metrics import StepTimer, peak_memory_gb, reduce_max, reduce_sums
    from video_r1.train.model import (
        build_optimizer,
        build_scheduler,
        count_parameters,
        prepare_model,
    )
    from video_r1.train.run import grad_norm_value, open_logger, resume_state, run_state, start_run
    from video_r1.train.samples import load_record_media, make_frame_cache
    from video_r1.train.setup import is_deepspeed
    from video_r1.train.zero3 import gathered_weights
    from video_r1.utils.io import append_jsonl

    rl = cfg.rl
    run = start_run(cfg, "grpo", resume)
    accelerator, out, records, bad, sampler = (
        run.accelerator, run.out, run.records, run.bad, run.sampler
    )  # fmt: skip
    rank, world, total_steps = run.rank, run.world, run.total_steps
    terms = load_reward_terms(cfg)
    scoring = ScoringSettings(
        accuracy_term=reward_name(rl.accuracy_reward), temporal=rl.temporal, alpha=rl.alpha, mu=rl.mu,
        correct_threshold=rl.correct_threshold, len_control=rl.len_control,
        min_length=rl.min_length, max_length=rl.max_length, length_bonus=rl.length_bonus,
    )  # fmt: skip

    # --- models, optimizer, resume ---------------------------------------------------------
    processor = load_processor(cfg.model.path)
    model = prepare_model(cfg.model, checkpoint=run.resume_path)
    trainable, total = count_parameters(model)
    vision_trainable = any(p.requires_grad for n, p in model.named_parameters() if "visual" in n)
    optimizer = build_optimizer(model, cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.optim, total_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    policy = accelerator.unwrap_model(model)
    reference = load_reference(cfg, accelerator)
    gen_config = generation_config(
        policy, processor, temperature=rl.temperature, top_p=rl.top_p,
        max_new_tokens=rl.max_completion_length, do_sample=True,
    )  # fmt: skip
    if rl.min_completion_length:
        gen_config.min_new_tokens = rl.min_completion_length
    eos_ids = stop_token_ids(processor.tokenizer)
    zero3 = is_deepspeed(accelerator) and accelerator.state.deepspeed_plugin.zero_stage == 3
    method = "T-GRPO" if rl.temporal else "GRPO"
    start_step = resume_state(
        run, f"{trainable:,} of {total:,} parameters trainable; {method}", ("rollouts.jsonl",)
    )
    logger = open_logger(run, start_step)
    cache = make_frame_cache(cfg.media)
    tokenizer = processor.tokenizer
    filler = None  # (records, media) of this rank's last good micro-batch

    # --- loop ------------------------------------------------------------------------------
    model.train()
    bad_total = {"seen": bad.seen, "bad": bad.bad}
    for step in range(start_step, total_steps):
        timer, step_timer = PhaseTimer(), StepTimer()
        # a fresh shuffle per step and rank, reproducible on resume
        shuffle_gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * 1009 + rank)
        sums: dict[str, float] = defaultdict(float)
        length_max, debug_rows = 0.0, []
        lr = scheduler.get_last_lr()[0]
        grad_norm = float("nan")
        micro_batches = sampler.step_batches(step)
        step_ids = [records[i].problem_id for micro in micro_batches for i in micro]
        append_jsonl(run.order_log, {"step": step + 1, "rank": rank, "problem_ids": step_ids})
        for _micro_index, indices in enumerate(micro_batches):
            # 1. record -> media (bad samples follow the policy; never replaced)
            with timer("media"):
                batch_records, batch_media = [], []
                for i in indices:
                    try:
                        batch_media.append(load_record_media(records[i], cfg.media, cache))
                        batch_records.append(records[i])
                        bad.count_good()
                    except Exception as e:
                        bad.report(records[i], f"{type(e).__name__}: {e}", step=step, rank=rank)
            weight = 1.0
            if batch_records:
                filler = (batch_records, batch_media)
            elif filler is None:
                raise RuntimeError(
                    f"step {step}: every record of the first micro-batch on rank {rank} is bad "
                    "(see bad_samples.jsonl); fix the data or use a larger batch"
                )
            else:
                # Every rank must make the same collective calls (DDP all-reduce, ZeRO-3
                # gathers): rerun the last good micro-batch with weight 0. Nothing of it is
                # learned or logged; no other record is substituted for the bad ones.
                (batch_records, batch_media), weight = filler, 0.0
            # 2. prompt rows: ordered, then shuffled for videos
            with timer("prompt"):
                sources, row_media, counts = build_prompt_rows(batch_media, cfg, shuffle_gen)
                messages = [
                    build_messages(batch_records[b], wording=rl.prompt_wording) for b in sources
                ]
                prompts = encode_prompts(processor, messages, row_media)
                inputs = {k: v.to(accelerator.device) for k, v in prompts.model_inputs.items()}
            # 3. rollouts: vision once per row (with grad if the tower trains), one generate call
            with timer("generate"):
                grad_ctx = nullcontext() if vision_trainable else torch.no_grad()
                with grad_ctx:  # a graph only for the ordered rows (ZeRO-3: one tower call)
                    ordered_rows = None if zero3 else range(len(batch_records))
                    encoded = encode_vision(policy, inputs, grad_rows=ordered_rows)
                # ZeRO-3: whole weights for the call, else every token gathers them (zero3.py)
                with gathered_weights(model, rl.gather_for_generation) as gathered:
                    rollouts = generate_rollouts(
                        policy, detach_features(encoded), counts, gen_config, eos_ids,
                        synced_gpus=zero3 and not gathered,
                    )  # fmt: skip
            # 4. rewards (pure functions) and advantages
            with timer("rewards"):
                lengths = rollouts.lengths.tolist()
                texts = [
                    tokenizer.decode(ids[:n], skip_special_tokens=True)
                    for ids, n in zip(rollouts.completion_ids.tolist(), lengths, strict=True)
                ]
                members = rollout_groups(rollouts.rows.tolist(), sources, len(batch_records))
                groups = [
                    score_group(
                        record.to_json(),
                        [texts[k] for k in ordered],
                        [lengths[k] for k in ordered],
                        [texts[k] for k in shuffled],
                        terms,
                        scoring,
                    )
                    for record, (ordered, shuffled) in zip(batch_records, members, strict=True)
                ]
                totals = torch.tensor([g.total for g in groups], dtype=torch.float32)  # [B, G]
                advantages = group_advantages(totals, rl.scale_rewards).reshape(-1)  # [B*G]
                ordered_index = torch.tensor([k for ordered, _ in members for k in ordered])
                mask = rollouts.completion_mask[ordered_index].to(accelerator.device)  # [B*G, Lc]
            # 5. reference and (for several iterations) old log-probs: no grad, features reused
            ref_engine = model if reference is None else reference  # LoRA: the adapters off
            with (
                timer("reference"),
                torch.no_grad(),
                gathered_weights(ref_engine, rl.gather_for_generation and rl.beta != 0.0),
            ):
                ref_logprobs = None
                if rl.beta != 0.0:
                    ordered_rows = list(range(len(batch_records)))
                    if cfg.model.lora.enabled:  # the base model is the adapters switched off
                        with policy.disable_adapter():
                            ref_logprobs = completion_logprobs(
                                policy,
                                detach_features(encoded),
                                rollouts,
                                ordered_index,
                                rl.temperature,
                            )
                    else:
                        ref_encoded = (
                            encode_vision(reference, select(inputs, ordered_rows))
                            if vision_trainable
                            else detach_features(encoded)  # frozen tower: same features
                        )
                        ref_logprobs = completion_logprobs(
                            reference, ref_encoded, rollouts, ordered_index, rl.temperature
                        )
                old_logprobs = None
                if rl.num_iterations > 1:
                    old_logprobs = completion_logprobs(
                        policy, detach_features(encoded), rollouts, ordered_index, rl.temperature
                    )
            # 6. loss, backward (and the optimizer step at the end of the accumulation)
            for iteration in range(rl.num_iterations):
                with timer("policy"), accelerator.accumulate(model):
                    if iteration > 0 and vision_trainable:  # the first graph was consumed
                        # ordered rows come first, so their row numbers stay the same
                        encoded = encode_vision(
                            policy, select(inputs, list(range(len(batch_records))))
                        )
                    logprobs = completion_logprobs(
                        model, encoded, rollouts, ordered_index, rl.temperature
                    )
                    loss, stats = policy_loss(
                        logprobs, advantages.to(logprobs.device), mask,
                        old_logprobs=old_logprobs, ref_logprobs=ref_logprobs, beta=rl.beta,
                        epsilon=rl.epsilon, epsilon_high=rl.epsilon_high, loss_type=rl.loss_type,
                        max_length=rl.max_completion_length,
                    )  # fmt: skip
                with timer("backward"):
                    accelerator.backward(weight * loss / rl.num_iterations)
                    if accelerator.sync_gradients and iteration == rl.num_iterations - 1:
                        norm = None
                        if cfg.optim.max_grad_norm > 0:
                            norm = accelerator.clip_grad_norm_(
                                model.parameters(), cfg.optim.max_grad_norm
                            )
                        with timer("optimizer"):
                            optimizer.step()
                            scheduler.step()
                            optimizer.zero_grad(set_to_none=True)
                        grad_norm = grad_norm_value(norm, model)
            # 7. metrics of this micro-batch (sums, reduced over ranks below)
            is_video = [isinstance(m, Clip) for m in batch_media]
            ordered_k = ordered_index.tolist()
            micro = group_sums(groups, is_video, [lengths[k] for k in ordered_k],
                               [bool(rollouts.truncated[k]) for k in ordered_k])  # fmt: skip
            length_max = max(length_max, weight * micro.pop("length_max"))
            for key, value in micro.items():  # the same keys on every rank, zeros for a filler
                sums[key] += weight * value
            sums["loss"] += weight * float(loss.detach())
            sums["kl"] += weight * stats.kl
            sums["clip_fraction"] += weight * stats.clip_fraction
            sums["micro_batches"] += weight
            sums["generated_tokens"] += weight * float(rollouts.completion_mask.sum())
            if weight and rl.debug_rollouts and len(debug_rows) < rl.debug_rollouts:
                debug_rows += _debug_rows(step + 1, rank, batch_records, texts, groups, members,
                                          rl.debug_rollouts - len(debug_rows))  # fmt: skip
        # --- log, checkpoint ----------------------------------------------------------------
        done = step + 1
        sums["seen"], sums["bad"] = bad.seen, bad.bad
        for phase, seconds in timer.seconds.items():
            sums[f"time/{phase}"] = seconds
        reduced = reduce_sums(accelerator, dict(sums))
        peaks = reduce_max(accelerator, {"time": step_timer.elapsed(), "mem": peak_memory_gb(),
                                         "length_max": length_max})  # fmt: skip
        bad_total = {"seen": reduced["seen"], "bad": reduced["bad"]}
        bad.check(int(reduced["bad"]), total_steps * sampler.records_per_step)
        logger.advance()
        if done % cfg.logging.log_every == 0 or done == total_steps:
            metrics = finalize({**reduced, "length_max": peaks["length_max"]})
            n_micro = max(reduced["micro_batches"], 1.0)
            metrics.update({
                "train/loss": reduced["loss"] / n_micro,
                "train/kl": reduced["kl"] / n_micro,
                "train/clip_fraction": reduced["clip_fraction"] / n_micro,
                "train/lr": lr,
                "train/grad_norm": grad_norm,
                "train/step_time_s": peaks["time"],
                "train/tokens_per_s": reduced["generated_tokens"] / peaks["time"],
                "train/memory_gb": peaks["mem"],
                "train/bad_samples": reduced["bad"],
                "train/epoch": done / sampler.steps_per_epoch,
                **{f"train/time/{k[5:]}": v / world for k, v in reduced.items() if k.startswith("time/")},
            })  # fmt: skip
            logger.log(done, metrics)
        if debug_rows and accelerator.is_main_process:
            for row in debug_rows:
                append_jsonl(out / "rollouts.jsonl", row)
        every = cfg.checkpoint.save_every
        if (every and done % every == 0) or done == total_steps:
            save_checkpoint(accelerator, model, processor, out, done, run_state(run, done, bad_total),
                            run.config_yaml, cfg.checkpoint.keep_last)  # fmt: skip
    logger.close()
    write_final(accelerator, model, processor, out, total_steps, cfg.model.lora.enabled)
    return GRPOResult(out, total_steps, accelerator.unwrap_model(model))


def rollout_groups(
    rows: list[int], sources: list[int], num_records: int
) -> list[tuple[list[int], list[int]]]:
    """For each record of a micro-batch: (indices of its ordered rollouts, of its shuffled ones).

    rows: prompt row of each rollout; sources: record of each prompt row (ordered rows first).

    Example:
        >>> rollout_groups([0, 0, 1, 1, 2], sources=[0, 1, 0], num_records=2)
        [([0, 1], [4]), ([2, 3], [])]
    """
    by_row: dict[int, list[int]] = defaultdict(list)
    for k, r in enumerate(rows):
        by_row[r].append(k)
    shuffled_row = {b: r for r, b in enumerate(sources) if r >= num_records}
    return [
        (by_row[b], by_row[shuffled_row[b]] if b in shuffled_row else [])
        for b in range(num_records)
    ]


def _debug_rows(step, rank, records, texts, groups, members, limit) -> list[dict]:
    """Sample rollouts for rollouts.jsonl: prompt id, frame order, completion, rewards."""
    rows = []
    for record, group, (ordered, shuffled) in zip(records, groups, members, strict=True):
        for j, k in enumerate(ordered):
            rows.append({
                "step": step, "rank": rank, "problem_id": record.problem_id, "order": "ordered",
                "completion": texts[k], "total": group.total[j],
                "terms": {n: v[j] for n, v in group.terms.items()},
                "temporal_bonus": group.temporal_bonus[j], "length_bonus": group.length_bonus[j],
            })  # fmt: skip
        for j, k in enumerate(shuffled):
            rows.append({"step": step, "rank": rank, "problem_id": record.problem_id,
                         "order": "shuffled", "completion": texts[k],
                         "accuracy": group.shuffled_accuracy[j]})  # fmt: skip
    return rows[:limit]
