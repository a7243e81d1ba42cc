"""DAPO's dynamic sampling around the GRPO step: draw, roll out, drop the groups that teach
nothing, draw again until the step is full (rl.dynamic_sampling; docs/dapo_gspo.md).

    draw = collect_dynamic_experience(ctx, run, step, position, shuffle_gen, timer)
    passes = update(ctx, draw.experience, timer)   # as without dynamic sampling

A round draws micro-batches from the data stream (`RecordSampler.stream_batches`, from the
position the previous step left), generates and scores them exactly as a plain step does
(`grpo_step.generate_and_score`: T-GRPO's shuffled rollouts and temporal rule included), and
keeps the groups whose advantages under `rl.temporal_variant` are not all 0
(`rl.dynamic_sampling.group_teaches`). Dropped prompts are consumed: the stream never returns
to them in that epoch. After each round the ranks all-reduce their shortfall: every rank runs
the same rounds and draws the same number of micro-batches in each (the largest shortfall's),
so generate calls, ZeRO-3 gathers and the update's micro-batches stay in step, and a rank
already full generates with the others (its surplus is dropped, as DAPO truncates its batch).
Only then are reference and old log-probs computed, for the kept groups alone. The stream
position after the step goes into the checkpoint, so a resumed run draws the same refills.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from video_r1.models.loading import completion_pad_id
from video_r1.prompts import select
from video_r1.recipes.grpo_step import (
    _micro_experience,
    chunk_micro_batches,
    generate_and_score,
    load_prompt_batches,
)
from video_r1.recipes.grpo_types import MicroExperience, PromptBatch, RolloutChunk, StepContext
from video_r1.rl.dynamic_sampling import group_teaches, pack_kept, refill_micro_batches
from video_r1.rl.group_scores import GroupScores
from video_r1.rollout.merge import (
    concat_encoded,
    concat_inputs,
    concat_rollouts,
    rollouts_of_rows,
    select_encoded,
)
from video_r1.rollout.paired import SamplingKey

POSITION_KEY = "data_position"  # trainer_state.json: where the next step reads the stream


@dataclass
class Piece:
    """One scored prompt group of a generate call: its record, where its rollouts live.

    row: the record's ordered prompt row in `chunk` (ordered rows come first, in record
    order); members: (chunk indices of its ordered rollouts, of its shuffled ones).
    """

    chunk: RolloutChunk
    row: int
    members: tuple[list[int], list[int]]
    group: GroupScores
    record: Any
    media: Any

    def tokens(self) -> float:
        """Tokens generated for this group, ordered and shuffled rollouts."""
        lengths = self.chunk.rollouts.lengths
        return float(sum(int(lengths[k]) for k in self.members[0] + self.members[1]))


@dataclass
class DynamicStep:
    """A step's experience after dynamic sampling, and what it took.

    position: the data stream position after the step; sums: this rank's
    `dynamic/rounds, drawn, kept, trained, data_epoch` and the tokens generated for untrained
    groups (`generated_tokens`, added to the step's); problem_ids: every record drawn, in order.
    """

    experience: list[MicroExperience]
    position: int
    sums: dict[str, float]
    problem_ids: list = field(default_factory=list)


def start_position(run: Any, start_step: int) -> int:
    """The stream position of `start_step`: the checkpoint's, else where a run without drops
    would be (a fresh run: 0)."""
    from video_r1.train.checkpoint import read_trainer_state

    if run.resume_path is not None:
        saved = read_trainer_state(run.resume_path).get(POSITION_KEY)
        if saved is not None:
            return int(saved)
    return start_step * run.sampler.records_per_step


def collect_dynamic_experience(
    ctx: StepContext, run: Any, step: int, position: int, shuffle_gen: torch.Generator,
    timer: Any,
) -> DynamicStep:  # fmt: skip
    """Rounds of draw, generate, score and filter, then the kept groups' experience in the
    step's `grad_accum` micro-batches (zero-weight fillers where too few were kept)."""
    cfg, accelerator = ctx.cfg, ctx.accelerator
    batch, grad_accum = cfg.optim.per_device_batch_size, cfg.optim.grad_accum
    need, per_call = batch * grad_accum, chunk_micro_batches(cfg)
    kept: list[Piece] = []
    spare: Piece | None = None  # a filler's source, should too few groups be kept
    sums = {"dynamic/rounds": 0.0, "dynamic/drawn": 0.0, "dynamic/kept": 0.0}
    ids: list = []
    micro, call = grad_accum, 0
    while True:
        micro_batches = run.sampler.stream_batches(position, micro)
        position += micro * batch * accelerator.num_processes
        ids += [run.records[i].problem_id for indices in micro_batches for i in indices]
        batches = load_prompt_batches(
            ctx, micro_batches, run.records, run.bad, step,
            lambda: run.sampler.filler_order(step), timer,
        )  # fmt: skip
        for start in range(0, len(batches), per_call):
            key = None
            if cfg.rl.paired_sampling:
                key = SamplingKey(cfg.seed, step, accelerator.process_index, call)
            call += 1
            for piece, weight in _scored_pieces(ctx, batches[start : start + per_call],
                                                shuffle_gen, timer, key):  # fmt: skip
                if not weight:  # a filler for an all-bad micro-batch: neither drawn nor kept
                    spare = spare or piece
                    continue
                sums["dynamic/drawn"] += 1
                if group_teaches(piece.group, cfg.rl.temporal_variant, alpha=cfg.rl.alpha,
                                 scale_rewards=cfg.rl.scale_rewards,
                                 correct_threshold=cfg.rl.correct_threshold):  # fmt: skip
                    kept.append(piece)
                else:
                    sums["generated_tokens"] = sums.get("generated_tokens", 0.0) + piece.tokens()
                    spare = spare or piece
        sums["dynamic/rounds"] += 1
        shortfall = _max_over_ranks(accelerator, need - len(kept))
        if shortfall <= 0 or sums["dynamic/rounds"] >= cfg.rl.dynamic_sampling_max_rounds:
            break
        micro = refill_micro_batches(shortfall, batch)
    sums["dynamic/kept"] = float(len(kept))
    for piece in kept[need:]:  # surplus of the last round: generated, not trained
        sums["generated_tokens"] = sums.get("generated_tokens", 0.0) + piece.tokens()
    experience = []
    for positions in pack_kept(len(kept), batch, grad_accum):
        pieces = [kept[i] for i in positions]
        weight = 1.0
        if not pieces:  # too few kept: every rank still runs grad_accum micro-batches
            pieces, weight = [spare or kept[0]], 0.0
        experience.append(micro_of_pieces(ctx, pieces, weight, timer))
    sums["dynamic/trained"] = float(min(len(kept), need))
    usable = run.sampler.steps_per_epoch * run.sampler.records_per_step
    sums["dynamic/data_epoch"] = position / usable  # refills read ahead of the step count
    return DynamicStep(experience, position, sums, ids)


def _scored_pieces(
    ctx: StepContext, batches: list[PromptBatch], shuffle_gen: torch.Generator, timer: Any,
    key: SamplingKey | None,
) -> list[tuple[Piece, float]]:  # fmt: skip
    """Every group of one generate call over `batches`, with its micro-batch's weight."""
    chunk, members, groups = generate_and_score(ctx, batches, shuffle_gen, timer, key)
    out, j = [], 0
    for micro in batches:
        for record, media in zip(micro.records, micro.media, strict=True):
            out.append((Piece(chunk, j, members[j], groups[j], record, media), micro.weight))
            j += 1
    return out


def _max_over_ranks(accelerator: Any, value: int) -> int:
    """The largest `value` of any rank (a collective: every rank calls it once per round)."""
    local = torch.tensor([float(value)], dtype=torch.float64, device=accelerator.device)
    if accelerator.num_processes > 1:
        local = accelerator.gather(local).max()
    return int(local.max())


def micro_of_pieces(
    ctx: StepContext, pieces: list[Piece], weight: float, timer: Any
) -> MicroExperience:
    """A training micro-batch of kept groups, with its advantages and fixed log-probs.

    Groups of one generate call keep that call's chunk (no copy); groups of several calls get
    a chunk of their own (`merge_pieces`).
    """
    chunks = {id(p.chunk) for p in pieces}
    if len(chunks) == 1:
        chunk, rows, members = pieces[0].chunk, [p.row for p in pieces], [p.members for p in pieces]
    else:
        chunk, rows, members = merge_pieces(pieces, completion_pad_id(ctx.gen_config))
    batch = PromptBatch([p.record for p in pieces], [p.media for p in pieces], weight=weight)
    groups = [p.group for p in pieces]
    return _micro_experience(ctx, chunk, batch, rows, members, groups, timer)


def merge_pieces(
    pieces: list[Piece], pad: int
) -> tuple[RolloutChunk, list[int], list[tuple[list[int], list[int]]]]:
    """One chunk holding the groups of `pieces` (from several generate calls), in order: each
    group's ordered prompt row, then its shuffled one, with their rollouts and texts.

    Returns (chunk, ordered prompt row of each group, (ordered, shuffled) rollout indices of
    each group), as a plain chunk's micro-batch has them.
    """
    parts: list[tuple[RolloutChunk, list[Piece]]] = []
    for piece in pieces:  # consecutive groups of one call become one part
        if parts and parts[-1][0] is piece.chunk:
            parts[-1][1].append(piece)
        else:
            parts.append((piece.chunk, [piece]))
    encoded, inputs, rollouts, row_counts, texts = [], [], [], [], []
    rows: list[int] = []
    members: list[tuple[list[int], list[int]]] = []
    rows_before = rollouts_before = 0
    for chunk, group_pieces in parts:
        prompt_rows: list[int] = []
        index: list[int] = []
        for piece in group_pieces:
            ordered, shuffled = piece.members
            rows.append(rows_before + len(prompt_rows))
            prompt_rows.append(piece.row)
            if shuffled:  # T-GRPO: the group keeps its shuffled rollouts (metrics, debug rows)
                prompt_rows.append(int(chunk.rollouts.rows[shuffled[0]]))
            first = rollouts_before + len(index)
            members.append((
                list(range(first, first + len(ordered))),
                list(range(first + len(ordered), first + len(ordered) + len(shuffled))),
            ))  # fmt: skip
            index += ordered + shuffled
        encoded.append(select_encoded(chunk.encoded, prompt_rows))
        inputs.append(select(chunk.inputs, prompt_rows))
        rollouts.append(rollouts_of_rows(chunk.rollouts, torch.tensor(index), prompt_rows))
        texts += [chunk.texts[k] for k in index]
        row_counts.append(len(prompt_rows))
        rows_before += len(prompt_rows)
        rollouts_before += len(index)
    merged = RolloutChunk(
        concat_inputs(inputs, pad), concat_encoded(encoded, pad),
        concat_rollouts(rollouts, row_counts, pad), texts,
    )  # fmt: skip
    return merged, rows, members
