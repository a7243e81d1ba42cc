"""One GRPO / T-GRPO step as PPO-style trainers shape it: collect experience, then update.

    batches = load_prompt_batches(ctx, micro_batches, records, bad, step, filler_order, timer)
    experience = collect_experience(ctx, batches, shuffle_generator, timer)  # no grad
    passes = update(ctx, experience, timer)         # rl.num_iterations optimizer steps

Experience: for every prompt of the step on this process, the ordered and (T-GRPO) shuffled
prompt rows are encoded (vision tower once per row), generated in calls of
`rl.rollout_batch_size` prompts, decoded, scored, turned into advantages, and given reference
(and, with several iterations, old) log-probs. Update: `rl.num_iterations` passes over that
experience; each pass walks the training micro-batches (gradient accumulation) and ends in
exactly one optimizer step and one scheduler step, so from the second pass on the policy differs
from the one that generated and the clipped ratio against the old log-probs acts.

Every process makes the same calls in the same order (ZeRO-3 gathers parameters on each forward,
DDP reduces on each synced backward): `grad_accum` micro-batches, none of them empty (a bad
micro-batch is replaced by a zero-weight filler, `fill_bad_batches`), in generate calls whose
number depends only on the configuration.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch

from video_r1.media.frame_order import time_shuffle
from video_r1.media.record_media import load_record_media, load_records_media
from video_r1.media.types import BackendMissing, Clip
from video_r1.prompts import encode_prompts, prompt_messages, prompt_text, select
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.recipes.grpo_engine import (
    engine_mismatch,
    policy_version,
    run_engine,
    scored,
)
from video_r1.recipes.grpo_rewards import score_records
from video_r1.recipes.grpo_types import (
    MicroExperience,
    PromptBatch,
    RolloutChunk,
    StepContext,
)
from video_r1.rl import micro_batch_normaliser, policy_loss
from video_r1.rl.advantages import temporal_advantages, temporal_groups
from video_r1.rl.group_scores import GroupScores
from video_r1.rl.overlong import mask_truncated
from video_r1.rollout import completion_logprobs, encode_vision
from video_r1.rollout.engine import RolloutRequest
from video_r1.rollout.merge import rollouts_of_rows
from video_r1.rollout.paired import SamplingKey
from video_r1.train.bad_samples import find_filler
from video_r1.train.model import set_policy_mode
from video_r1.train.run import grad_norm_value
from video_r1.train.zero3 import gathered_weights

# --- experience ----------------------------------------------------------------------------


def load_prompt_batches(
    ctx: StepContext, micro_batches: list[list[int]], records: list, bad: Any, step: int,
    filler_order: Callable[[], list[int]], timer: Any,
) -> list[PromptBatch]:  # fmt: skip
    """Media of the step's micro-batches (bad records reported and dropped, never replaced);
    a micro-batch without a good record becomes a filler (`fill_bad_batches`)."""
    rank, batches = ctx.accelerator.process_index, []
    with timer("media"):
        wanted = [records[i] for indices in micro_batches for i in indices]
        loaded = iter(load_records_media(wanted, ctx.cfg.media, ctx.cache))
        for indices in micro_batches:
            batch = PromptBatch([], [])
            for i in indices:
                media = next(loaded)
                if isinstance(media, BackendMissing):  # the environment's fault: stop
                    raise media
                if isinstance(media, Exception):  # any other failure of the record: a bad sample
                    bad.report(
                        records[i], f"{type(media).__name__}: {media}", step=step + 1, rank=rank
                    )
                    continue
                batch.media.append(media)
                batch.records.append(records[i])
                bad.count_good()
            batches.append(batch)

        def load_filler(i: int) -> PromptBatch:
            return PromptBatch(
                [records[i]], [load_record_media(records[i], ctx.cfg.media, ctx.cache)]
            )

        return fill_bad_batches(batches, lambda: find_filler(filler_order(), load_filler))


def fill_bad_batches(
    batches: list[PromptBatch], load_filler: Callable[[], PromptBatch]
) -> list[PromptBatch]:
    """Replace each micro-batch without a good record by a filler with weight 0.

    Every process must make the same collective calls (DDP all-reduce, ZeRO-3 gathers), so a
    rank whose micro-batch is all bad trains on the next good record of the epoch order
    (`RecordSampler.filler_order`, the same on every resume) with weight 0: nothing of it is
    learned or logged, and no record is substituted for the bad ones (`loss_normalisers`).
    """
    filler = None
    filled = []
    for batch in batches:
        if not batch.records:
            filler = filler or load_filler()
            batch = PromptBatch(filler.records, filler.media, weight=0.0)
        filled.append(batch)
    return filled


def chunk_micro_batches(cfg: GRPOConfig) -> int:
    """Micro-batches per generate call: rl.rollout_batch_size prompts (0: the whole step).

    Example:
        >>> cfg = GRPOConfig(); cfg.optim.grad_accum = 4; chunk_micro_batches(cfg)
        4
    """
    if not cfg.rl.rollout_batch_size:
        return cfg.optim.grad_accum
    return max(1, cfg.rl.rollout_batch_size // cfg.optim.per_device_batch_size)


def collect_experience(
    ctx: StepContext, batches: list[PromptBatch], shuffle_gen: torch.Generator, timer: Any,
    step: int = 0,
) -> list[MicroExperience]:  # fmt: skip
    """Rollouts, rewards, advantages and fixed log-probs of every micro-batch of the step
    (`step`, 0-based, seeds the sampling streams under rl.paired_sampling)."""
    per_call = chunk_micro_batches(ctx.cfg)
    experience: list[MicroExperience] = []
    for call, start in enumerate(range(0, len(batches), per_call)):
        key = None
        if ctx.cfg.rl.paired_sampling:
            key = SamplingKey(ctx.cfg.seed, step, ctx.accelerator.process_index, call)
        chunk = batches[start : start + per_call]
        scored = generate_and_score(ctx, chunk, shuffle_gen, timer, key)
        experience += chunk_micro_experiences(ctx, chunk, *scored, timer)
    return experience


def build_prompt_rows(
    media: list, cfg: GRPOConfig, generator: torch.Generator
) -> tuple[list[int], list, list[int]]:
    """Prompt rows of a generate call: every record ordered, then each video time-shuffled.

    Returns (record index of each row, media of each row, rollouts per row); rows
    0..len(media)-1 are the ordered ones, in record order.
    """
    sources, rows_m = list(range(len(media))), list(media)
    counts = [cfg.rl.num_generations] * len(media)
    if cfg.rl.temporal:
        for b, item in enumerate(media):
            if isinstance(item, Clip) and item.num_frames >= 2:
                sources.append(b)
                rows_m.append(item.reordered(time_shuffle(item.num_frames, generator)))
                counts.append(cfg.rl.num_shuffled_generations)
    return sources, rows_m, counts


def rollout_groups(
    rows: list[int], sources: list[int], num_records: int
) -> list[tuple[list[int], list[int]]]:
    """For each record of a generate call: (indices of its ordered rollouts, of its shuffled ones).

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


def generate_and_score(
    ctx: StepContext, batches: list[PromptBatch], shuffle_gen: torch.Generator, timer: Any,
    key: SamplingKey | None,
) -> tuple[RolloutChunk, list, list[GroupScores]]:  # fmt: skip
    """One generate call over `batches`: its chunk, each record's (ordered, shuffled) rollout
    indices and its scored group (dynamic sampling filters on these before any log-prob)."""
    rl, records = ctx.cfg.rl, [r for b in batches for r in b.records]
    with timer("prompt"):
        media = [m for b in batches for m in b.media]
        sources, row_media, counts = build_prompt_rows(media, ctx.cfg, shuffle_gen)
        messages = prompt_messages(ctx.processor, [records[b] for b in sources], row_media,
                                   rl.prompt_wording, ctx.cfg.data.frame_times_in_prompt)  # fmt: skip
        prompts = encode_prompts(ctx.processor, messages, row_media)
        inputs = {k: v.to(ctx.accelerator.device) for k, v in prompts.model_inputs.items()}
    set_policy_mode(ctx.model, training=False)  # rollouts of the network without dropout
    # ZeRO-3: the whole weights for the call, else every decode step gathers them (zero3.py);
    # a vLLM push needs them whole
    vllm, engine = rl.rollout_engine == "vllm", run_engine(ctx)
    with (
        timer("generate"),
        torch.no_grad(),
        gathered_weights(ctx.model, rl.gather_for_generation or vllm) as gathered,
    ):
        encoded = encode_vision(ctx.policy, inputs)  # one tower call for every row
        with timer("weight_sync"):  # part of generate: only a new policy is pushed
            engine.sync_weights(ctx.policy, policy_version(ctx))
        prompt_texts = [prompt_text(ctx.processor, m) for m in messages] if vllm else []
        request = RolloutRequest(
            encoded, prompt_texts, row_media, counts, ctx.gen_config, ctx.eos_ids, len(records), key,
            synced_gpus=ctx.zero3 and not gathered,
        )  # fmt: skip
        rollouts = engine.generate(request)
    set_policy_mode(ctx.model, training=True)  # fixed log-probs: as the update's, no dropout
    with timer("rewards"):
        lengths, ids = rollouts.lengths.tolist(), rollouts.completion_ids.tolist()
        texts = [
            ctx.processor.tokenizer.decode(row[:n], skip_special_tokens=True)
            for row, n in zip(ids, lengths, strict=True)
        ]
        members = rollout_groups(rollouts.rows.tolist(), sources, len(records))
        groups = score_records(ctx, records, messages, sources, texts, ids, lengths, members)
    return RolloutChunk(inputs, encoded, rollouts, texts), members, groups


def chunk_micro_experiences(
    ctx: StepContext, batches: list[PromptBatch], chunk: RolloutChunk, members: list,
    groups: list[GroupScores], timer: Any,
) -> list[MicroExperience]:  # fmt: skip
    """Each micro-batch's experience, from one generate call over `batches` (in order)."""
    out, first = [], 0
    for batch in batches:
        mine = slice(first, first + len(batch.records))
        rows = list(range(first, first + len(batch.records)))
        out.append(_micro_experience(ctx, chunk, batch, rows, members[mine], groups[mine], timer))
        first += len(batch.records)
    return out


def _micro_experience(
    ctx: StepContext, chunk: RolloutChunk, batch: PromptBatch, rows: list[int],
    members: list, groups: list[GroupScores], timer: Any,
) -> MicroExperience:  # fmt: skip
    rl = ctx.cfg.rl
    index = torch.tensor([k for ordered, _ in members for k in ordered])  # [n]
    advantages = temporal_advantages(  # [B*G]; the published variant is plain group scaling
        temporal_groups(groups, rl.correct_threshold),
        rl.temporal_variant,
        alpha=rl.alpha,
        scale_rewards=rl.scale_rewards,
    ).reshape(-1)
    mask = chunk.rollouts.completion_mask[index].to(ctx.accelerator.device)  # [n, Lc]
    if rl.mask_truncated_completions:  # DAPO / TRL: a cut-off rollout gets no loss
        mask = mask_truncated(mask, chunk.rollouts.truncated[index])
    reference = ctx.model if ctx.reference is None else ctx.reference  # LoRA: adapters off
    with (
        timer("reference"),
        torch.no_grad(),
        gathered_weights(reference, rl.gather_for_generation and rl.beta != 0.0),
    ):
        ref_logprobs = reference_logprobs(ctx, chunk, rows, index)
        old_logprobs = old_sampled = None
        if rl.num_iterations > 1:  # the policy that generated, before any update of this step
            old_logprobs, old_sampled = scored(ctx, ctx.policy, chunk.encoded, chunk.rollouts,
                                               index, compare=True)  # fmt: skip
    return MicroExperience(batch, chunk, rows, index, advantages, mask, ref_logprobs,
                           old_logprobs, groups, members, old_sampled)  # fmt: skip


def reference_logprobs(
    ctx: StepContext, chunk: RolloutChunk, rows: list[int], index: torch.Tensor
) -> torch.Tensor | None:
    """Reference log-probs [n, Lc] of chunk rollouts `index` (None with beta 0).

    The reference is the frozen model, or with LoRA the policy with its adapters switched off.
    It sees base-model vision features: when the policy's tower trains (its weights, or LoRA
    adapters on it) the reference runs its own tower; a frozen tower's features are shared.
    """
    rl = ctx.cfg.rl
    if rl.beta == 0.0:
        return None
    lora = ctx.cfg.model.lora.enabled
    model = ctx.policy if lora else ctx.reference
    with ctx.policy.disable_adapter() if lora else nullcontext():
        # computed as the update's: another kernel path would leave a KL floor of its rounding
        layout = {"cascade": rl.cascade_attention, "grouped": rl.grouped_update}
        if not ctx.vision_trainable:
            return completion_logprobs(model, chunk.encoded, chunk.rollouts, index,
                                       rl.temperature, **layout)  # fmt: skip
        encoded = encode_vision(model, select(chunk.inputs, rows))
        subset = rollouts_of_rows(chunk.rollouts, index, rows)
        return completion_logprobs(model, encoded, subset, None, rl.temperature, **layout)


# --- update --------------------------------------------------------------------------------


def update(
    ctx: StepContext, experience: list[MicroExperience], timer: Any
) -> list[dict[str, float]]:
    """`rl.num_iterations` passes over the experience, each ending in one optimizer step.

    Returns per pass the weighted sums of loss, kl, clip_fraction, ratio_mean, the number of
    micro-batches trained on, and the pass's gradient norm.
    """
    set_policy_mode(ctx.model, training=True, dropout=ctx.cfg.rl.update_dropout)
    return [_update_pass(ctx, experience, timer) for _ in range(ctx.cfg.rl.num_iterations)]


def _policy_logprobs(
    ctx: StepContext, micro: MicroExperience
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Policy log-probs [n, Lc] with grad, and without grad under the sampling distribution
    where the engine's need them (grpo_engine.engine_mismatch). A trainable tower runs again
    for this micro-batch (backward consumes the graph); a frozen tower's features are reused."""
    chunk = micro.chunk
    encoded, rollouts, index = chunk.encoded, chunk.rollouts, micro.index
    if ctx.vision_trainable:
        encoded = encode_vision(ctx.policy, select(chunk.inputs, micro.rows))
        rollouts, index = rollouts_of_rows(chunk.rollouts, micro.index, micro.rows), None
    return scored(ctx, ctx.model, encoded, rollouts, index, compare=micro.old_logprobs is None)


def _update_pass(
    ctx: StepContext, experience: list[MicroExperience], timer: Any
) -> dict[str, float]:
    rl, accelerator = ctx.cfg.rl, ctx.accelerator
    sums: dict[str, float] = defaultdict(float)
    normaliser, share = loss_normalisers(ctx, experience)
    for micro in experience:
        weight = micro.batch.weight
        # accumulate() counts micro-batches: `grad_accum` per pass, so the last one of the pass
        # syncs gradients (DDP all-reduce; DeepSpeed's engine steps at this boundary)
        with accelerator.accumulate(ctx.model):
            with timer("policy"):
                logprobs, sampled = _policy_logprobs(ctx, micro)
                weights = engine_mismatch(ctx, micro, sampled, sums)
                loss, stats = policy_loss(
                    logprobs, micro.advantages.to(logprobs.device), micro.mask,
                    old_logprobs=micro.old_logprobs, ref_logprobs=micro.ref_logprobs,
                    beta=rl.beta, epsilon=rl.epsilon, epsilon_high=rl.epsilon_high,
                    loss_type=rl.loss_type, max_length=rl.max_completion_length,
                    normaliser=normaliser, sampling_weights=weights,
                    importance_sampling_level=rl.importance_sampling_level,  # GSPO
                )  # fmt: skip
            with timer("backward"):
                accelerator.backward(weight * loss)  # / grad_accum by accelerate
        sums["loss"] += weight * share * float(loss.detach())  # logged / real: the step loss
        sums["kl"] += weight * stats.kl
        sums["clip_fraction"] += weight * stats.clip_fraction
        sums["ratio_mean"] += weight * stats.ratio_mean
        sums["micro_batches"] += weight
    if not accelerator.sync_gradients:
        raise RuntimeError(
            f"{len(experience)} micro-batches in a pass did not end at the gradient accumulation "
            f"boundary of optim.grad_accum={ctx.cfg.optim.grad_accum}"
        )
    with timer("optimizer"):
        sums["grad_norm"] = optimizer_step(ctx)
    return dict(sums)


def loss_normalisers(ctx: StepContext, experience: list[MicroExperience]) -> tuple[float, float]:
    """(`micro_batch_normaliser` of the step's trained rollouts and tokens summed over processes,
    fillers weighing 0; real micro-batches / slots, which makes the logged mean over the real
    ones the step's loss). A collective call: every process, once a pass."""
    mine = [0.0, 0.0, 0.0]  # real micro-batches, rollouts, completion tokens
    for micro in experience:
        for i, count in enumerate((1.0, micro.mask.shape[0], float(micro.mask.sum()))):
            mine[i] += micro.batch.weight * count
    device = ctx.accelerator.device
    summed = ctx.accelerator.reduce(torch.tensor(mine, dtype=torch.float64, device=device), "sum")
    (real, rollouts, tokens), rl = summed.tolist(), ctx.cfg.rl
    slots = ctx.cfg.optim.grad_accum * ctx.accelerator.num_processes
    loss_type, length = rl.loss_type, rl.max_completion_length
    return micro_batch_normaliser(loss_type, tokens, rollouts, slots, length), real / slots


def optimizer_step(ctx: StepContext) -> float:
    """Clip, step the optimizer and the schedule, zero the gradients; the gradient norm.

    Under DeepSpeed the engine already stepped (and clipped) in backward at the boundary;
    the optimizer calls are no-ops there and the schedule steps here all the same.
    """
    norm = None
    if ctx.cfg.optim.max_grad_norm > 0:
        norm = ctx.accelerator.clip_grad_norm_(ctx.model.parameters(), ctx.cfg.optim.max_grad_norm)
    ctx.optimizer.step()
    ctx.scheduler.step()
    ctx.optimizer.zero_grad(set_to_none=True)
    return grad_norm_value(norm, ctx.model)
