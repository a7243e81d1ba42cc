"""The GRPO step's metrics: sums over the experience and the update passes, reduced over
ranks, then logged (`train/...`), and the debug rollouts (rollouts.jsonl)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from video_r1.media.types import Clip
from video_r1.recipes.grpo_types import MicroExperience
from video_r1.rl.dynamic_sampling import dynamic_metrics, short_note
from video_r1.rl.step_metrics import finalize, group_sums, no_signal_warning
from video_r1.train.metrics_logger import peak_memory_gb, reduce_max, reduce_sums
from video_r1.train.run import Run
from video_r1.utils.io import append_jsonl_rows


def log_step(
    run: Run, logger: Any, step: int, experience: list[MicroExperience],
    passes: list[dict[str, float]], timer: Any, clock: Any, lr: float,
    extra: dict[str, float] | None = None,
) -> dict[str, float]:  # fmt: skip
    """Reduce the step's sums over ranks, check the bad-sample budget, log metrics and debug
    rollouts; returns the bad-sample totals for the checkpoint. extra: sums added to the
    experience's (rl.dynamic_sampling's `dynamic/...` and the untrained groups' tokens)."""
    cfg, accelerator = run.cfg, run.accelerator
    sums = experience_sums(experience)
    for key, value in (extra or {}).items():
        sums[key] = sums.get(key, 0.0) + value
    length_max = sums.pop("length_max")
    # the engine mismatch is a property of the step's rollouts: pass 1's (the same every pass)
    gap_max = passes[0].get("mismatch/abs_diff_max")
    for k, pass_sums in enumerate(passes, start=1):
        sums.update({f"pass{k}/{key}": v for key, v in pass_sums.items()
                     if key != "grad_norm" and not key.startswith("mismatch/")})  # fmt: skip
    sums.update({key: v for key, v in passes[0].items() if key.startswith("mismatch/")})
    sums.pop("mismatch/abs_diff_max", None)
    sums.update({f"time/{phase}": seconds for phase, seconds in timer.seconds.items()})
    sums["seen"], sums["bad"] = run.bad.seen, run.bad.bad
    reduced = reduce_sums(accelerator, sums)
    peaks = {"time": clock.elapsed(), "mem": peak_memory_gb(), "length_max": length_max}
    if gap_max is not None:
        peaks["mismatch_max"] = gap_max
    peaks = reduce_max(accelerator, peaks)
    run.bad.check(int(reduced["bad"]), run.total_steps * run.sampler.records_per_step)
    warning = no_signal_warning(reduced, step + 1)
    if warning:
        logger.note(warning)
    dynamic = "dynamic/drawn" in reduced  # rl.dynamic_sampling
    if dynamic:
        wanted = run.sampler.records_per_step
        note = short_note(reduced, wanted, step + 1, run.world)
        if note:
            logger.note(note)
    logger.advance()
    done = step + 1
    if done % cfg.logging.log_every == 0 or done == run.total_steps:
        metrics = step_metrics(reduced, peaks, [p["grad_norm"] for p in passes], run.world)
        metrics.update({"train/lr": lr, "train/epoch": done / run.sampler.steps_per_epoch})
        if dynamic:
            metrics.update(dynamic_metrics(reduced, run.world))
        logger.log(done, metrics)
    rows = debug_rows(done, run.rank, experience, cfg.rl.debug_rollouts)
    if rows and accelerator.is_main_process:
        append_jsonl_rows(run.out / "rollouts.jsonl", rows)
    return {"seen": reduced["seen"], "bad": reduced["bad"]}


LOSS_KEYS = ("loss", "kl", "clip_fraction", "ratio_mean")


def step_metrics(
    reduced: dict[str, float], peaks: dict[str, float], grad_norms: list[float], world: int
) -> dict[str, float]:
    """Logged metrics from sums reduced over ranks: rewards and groups (`finalize`), the loss
    terms averaged over passes and micro-batches, and per pass with several passes."""
    metrics = finalize({**reduced, "length_max": peaks["length_max"]})
    passes = len(grad_norms)
    micro = [max(reduced[f"pass{k}/micro_batches"], 1.0) for k in range(1, passes + 1)]
    for key in LOSS_KEYS:
        values = [reduced[f"pass{k}/{key}"] / micro[k - 1] for k in range(1, passes + 1)]
        metrics[f"train/{key}"] = sum(values) / passes
        if passes > 1:
            metrics.update({f"train/pass{k}/{key}": v for k, v in enumerate(values, start=1)})
    if passes > 1:
        metrics.update({f"train/pass{k}/grad_norm": g for k, g in enumerate(grad_norms, start=1)})
    metrics.update(mismatch_metrics(reduced, peaks))
    times = {k[5:]: v / world for k, v in reduced.items() if k.startswith("time/")}
    metrics.update({
        "train/grad_norm": grad_norms[-1],
        "train/step_time_s": peaks["time"],
        "train/tokens_per_s": reduced["generated_tokens"] / peaks["time"],
        "train/memory_gb": peaks["mem"],
        "train/bad_samples": reduced["bad"],
        **{f"train/time/{k}": v for k, v in times.items()},
    })  # fmt: skip
    return metrics


def mismatch_metrics(reduced: dict[str, float], peaks: dict[str, float]) -> dict[str, float]:
    """The rollout engine's log-probs against the trainer's (vLLM engine only): mean and max
    |difference| per completion token, and the truncated importance-sampling weights' mean and
    share at the cap (`rl.vllm_importance_sampling_cap`).

    Example:
        >>> mismatch_metrics({"mismatch/abs_diff": 0.5, "mismatch/tokens": 10.0},
        ...                  {"mismatch_max": 0.25})
        {'train/mismatch/logprob_diff_mean': 0.05, 'train/mismatch/logprob_diff_max': 0.25}
    """
    if "mismatch/tokens" not in reduced:
        return {}
    tokens = max(reduced["mismatch/tokens"], 1.0)
    metrics = {
        "train/mismatch/logprob_diff_mean": reduced["mismatch/abs_diff"] / tokens,
        "train/mismatch/logprob_diff_max": peaks["mismatch_max"],
    }
    if "mismatch/is_weight" in reduced:
        metrics["train/mismatch/is_weight_mean"] = reduced["mismatch/is_weight"] / tokens
        metrics["train/mismatch/is_capped"] = reduced["mismatch/is_capped"] / tokens
    return metrics


def experience_sums(experience: list[MicroExperience]) -> dict[str, float]:
    """Weighted reward, group and length sums of the step's experience (zeros for fillers)."""
    sums: dict[str, float] = defaultdict(float)
    length_max = 0.0
    for micro in experience:
        weight, rollouts = micro.batch.weight, micro.chunk.rollouts
        lengths, ordered = rollouts.lengths.tolist(), micro.index.tolist()
        is_video = [isinstance(m, Clip) for m in micro.batch.media]
        truncated = [bool(rollouts.truncated[k]) for k in ordered]
        micro_sums = group_sums(micro.groups, is_video, [lengths[k] for k in ordered], truncated,
                                micro.advantages.tolist())  # fmt: skip
        length_max = max(length_max, weight * micro_sums.pop("length_max"))
        for key, value in micro_sums.items():  # the same keys on every rank
            sums[key] += weight * value
        every = [k for ordered_k, shuffled_k in micro.members for k in ordered_k + shuffled_k]
        sums["generated_tokens"] += weight * sum(lengths[k] for k in every)
    return {**sums, "length_max": length_max}


def debug_rows(step: int, rank: int, experience: list[MicroExperience], limit: int) -> list[dict]:
    """Sample rollouts for rollouts.jsonl: prompt id, frame order, completion, rewards."""
    rows: list[dict] = []
    for micro in experience:
        if not micro.batch.weight:
            continue
        texts = micro.chunk.texts
        for record, group, (ordered, shuffled) in zip(
            micro.batch.records, micro.groups, micro.members, strict=True
        ):
            for j, k in enumerate(ordered):
                rows.append({
                    "step": step, "rank": rank, "problem_id": record.problem_id,
                    "order": "ordered", "completion": texts[k], "total": group.total[j],
                    "terms": {n: v[j] for n, v in group.terms.items()},
                    "temporal_bonus": group.temporal_bonus[j],
                    "length_bonus": group.length_bonus[j],
                })  # fmt: skip
            for j, k in enumerate(shuffled):
                rows.append({"step": step, "rank": rank, "problem_id": record.problem_id,
                             "order": "shuffled", "completion": texts[k],
                             "accuracy": group.shuffled_accuracy[j]})  # fmt: skip
    return rows[:limit]
