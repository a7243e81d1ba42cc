"""Supervised fine-tuning on Video-R1-COT records (the reasoning cold start).

Target = `process + "\\n" + solution` after the Video-R1 prompt with the SFT system prompt.
The loss covers the assistant tokens only: prompt tokens and every vision placeholder are
masked (the published code trained on both). The loss is the mean over all assistant tokens
of the optimizer step (all micro-batches, all processes), not a mean of per-batch means.

Run it on one process, or on many with an accelerate config file:

    video-r1 sft --config configs/sft.yaml optim.lr=2e-6 --resume
    accelerate launch --config_file configs/accelerate/zero2.yaml --num_processes 4 \\
        -m video_r1.cli sft --config configs/sft.yaml   # the published 4 GPUs, global batch 8

`--resume` continues from the newest checkpoint of checkpoint.output_dir (a missing or empty
folder is refused; a run stopped before its first checkpoint starts again at step 0);
`--resume PATH` from that checkpoint. One run at a time per folder (OUT/.lock). Writes under
checkpoint.output_dir: checkpoint-<step>/ (HF model + processor + training state), final/ (the
model alone: the last checkpoint's files, with LoRA the merged model), metrics.jsonl,
bad_samples.jsonl, logs/ (trackers).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from video_r1.media.types import BackendMissing
from video_r1.prompts import IGNORE_INDEX, SFT_SYSTEM_PROMPT
from video_r1.train.config import TrainConfig, describe_config


@dataclass
class SFTSection:
    system_prompt: str | None = field(
        default=SFT_SYSTEM_PROMPT,
        metadata={"help": "system prompt of every example (null: the model's default)"},
    )
    wording: str = field(
        default="train", metadata={"help": "question template wording: train or eval"}
    )
    max_seq_len: int = field(
        default=0,
        metadata={
            "help": "longest example in tokens (0: no limit); a longer one is a bad sample, "
            "never truncated (truncation would cut the answer)"
        },
    )
    drop_last: bool = field(
        default=False,
        metadata={
            "help": "leave out an epoch's last records that do not fill a whole step (false: "
            "they train as a smaller last step, as HF Trainer does)"
        },
    )


@dataclass
class SFTConfig(TrainConfig):
    sft: SFTSection = field(
        default_factory=SFTSection, metadata={"help": "SFT prompt and example settings"}
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML config (e.g. configs/sft.yaml)")
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=2e-6"
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="PATH",
        help="resume from the newest checkpoint of the output dir (no value; refused where "
        "there is none), from PATH, or `auto`: the newest if any, else a fresh start "
        "(for a job that restarts itself)",
    )
    parser.epilog = "config keys (key (default): meaning):\n  " + "\n  ".join(
        describe_config(SFTConfig)
    )


def run(args: argparse.Namespace) -> int:
    from video_r1.train.config import load_config

    cfg = load_config(SFTConfig, args.config, args.overrides)
    train(cfg, resume=args.resume)
    return 0


def encode_record(record: Any, processor: Any, cfg: SFTConfig, cache: Any) -> tuple[dict, Any]:
    """(model_inputs, labels [1, L]) of one record; raises on any problem with it."""
    from video_r1.media.record_media import load_record_media
    from video_r1.prompts import encode_sft_example

    if not record.process:
        raise ValueError("no 'process' rationale (SFT needs Video-R1-COT records)")
    media = load_record_media(record, cfg.media, cache)
    inputs, labels = encode_sft_example(
        processor,
        record,
        media,
        wording=cfg.sft.wording,
        system_prompt=cfg.sft.system_prompt,
        frame_times_in_prompt=cfg.data.frame_times_in_prompt,
    )
    if cfg.sft.max_seq_len and labels.shape[1] > cfg.sft.max_seq_len:
        raise ValueError(f"{labels.shape[1]} tokens > sft.max_seq_len {cfg.sft.max_seq_len}")
    return inputs, labels


def collate(examples: list[tuple[dict, Any]], processor: Any) -> tuple[dict, Any]:
    """One micro-batch from single examples (padding is the prompt module's business)."""
    if len(examples) == 1:
        return examples[0]
    from video_r1.prompts import collate_sft_examples

    return collate_sft_examples(examples, processor)


def token_loss_sum(logits: Any, labels: Any) -> Any:
    """Sum of next-token cross-entropy over positions whose label is not IGNORE_INDEX."""
    import torch.nn.functional as F

    shift_logits = logits[:, :-1].float()  # [B, L-1, V]
    shift_labels = labels[:, 1:].to(logits.device)  # [B, L-1]
    return F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.shape[-1]),
        shift_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )


@dataclass
class SFTResult:
    output_dir: Path
    final_step: int
    model: Any  # the trained model, unwrapped (this rank's copy)


def train(cfg: SFTConfig, resume: str | None = None) -> SFTResult:
    """Run SFT as configured (on every process of the launch).

    Example (a notebook; `cfg` from `load_config(SFTConfig, "configs/sft_tiny.yaml", [...])`):
        result = train(cfg)          # result.model, result.output_dir / "final"
    """
    from video_r1.media.record_media import make_frame_cache
    from video_r1.models import load_processor
    from video_r1.train.model import (
        build_optimizer,
        build_scheduler,
        count_parameters,
        prepare_model,
    )
    from video_r1.train.run import finish_run, open_logger, open_run, resume_state, stop_on_signals

    with open_run(cfg, "sft", resume) as run:  # the folder is this run's until it ends
        processor = load_processor(cfg.model.path)
        model = prepare_model(cfg.model, checkpoint=run.resume_path)
        trainable, total = count_parameters(model)
        optimizer = build_optimizer(model, cfg.optim)
        scheduler = build_scheduler(optimizer, cfg.optim, run.total_steps)
        model, optimizer, scheduler = run.accelerator.prepare(model, optimizer, scheduler)
        start_step = resume_state(run, f"{trainable:,} of {total:,} parameters trainable")
        loop = _Loop(run, cfg, processor, model, optimizer, scheduler, make_frame_cache(cfg.media))
        model.train()
        bad_totals = {"seen": run.bad.seen, "bad": run.bad.bad}
        with stop_on_signals(run) as check_stop, open_logger(run, start_step) as logger:
            for step in range(start_step, run.total_steps):
                check_stop()  # a Ctrl-C or SIGTERM lost inside the last step stops the run here
                bad_totals = loop.step(step, logger)
        finish_run(run, model, processor, bad_totals)
    return SFTResult(run.out, run.total_steps, run.accelerator.unwrap_model(model))


@dataclass
class _Loop:
    """One optimizer step of SFT: encode, accumulate, clip, step, log, checkpoint."""

    run: Any  # video_r1.train.run.Run
    cfg: SFTConfig
    processor: Any
    model: Any
    optimizer: Any
    scheduler: Any
    cache: Any

    def encode_step(self, step: int) -> list[tuple[dict, Any] | None]:
        """This rank's micro-batches of `step` (None: all its records bad), order logged."""
        from video_r1.utils.io import append_jsonl

        run, records = self.run, self.run.records
        micro_batches = []
        for indices in run.sampler.step_batches(step):
            examples = []
            for i in indices:
                try:
                    examples.append(encode_record(records[i], self.processor, self.cfg, self.cache))
                    run.bad.count_good()
                except BackendMissing:  # the environment's fault, not the record's: stop
                    raise
                except Exception as e:  # any other failure of the record: a bad sample
                    run.bad.report(records[i], f"{type(e).__name__}: {e}", step=step + 1,
                                   rank=run.rank)  # fmt: skip
            micro_batches.append(collate(examples, self.processor) if examples else None)
        step_ids = [records[i].problem_id for mb in run.sampler.step_batches(step) for i in mb]
        append_jsonl(run.order_log, {"step": step + 1, "rank": run.rank, "problem_ids": step_ids})
        return micro_batches

    def filler(self, step: int) -> tuple[dict, Any]:
        """A real micro-batch to run with weight 0 where all of this rank's records are bad."""
        from video_r1.train.bad_samples import find_filler

        def encode(i: int) -> tuple[dict, Any]:
            return encode_record(self.run.records[i], self.processor, self.cfg, self.cache)

        return find_filler(self.run.sampler.filler_order(step), encode)

    def step(self, step: int, logger: Any) -> dict[str, float]:
        """Train optimizer step `step` (0-based); returns the bad-sample totals of all ranks."""
        from video_r1.train.metrics_logger import StepTimer, peak_memory_gb, reduce_max, reduce_sums

        run, cfg, bad = self.run, self.cfg, self.run.bad
        timer = StepTimer()
        micro_batches = self.encode_step(step)
        local = {
            "tokens": sum(int((mb[1] != IGNORE_INDEX).sum()) for mb in micro_batches if mb),
            "padded_tokens": sum(mb[1].numel() for mb in micro_batches if mb),
            "samples": sum(int(mb[1].shape[0]) for mb in micro_batches if mb),
            "seen": bad.seen,
            "bad": bad.bad,
        }
        counts = reduce_sums(run.accelerator, local)
        # Same numbers on every rank, so all ranks stop together.
        bad.check(int(counts["bad"]), run.total_steps * run.sampler.records_per_step)
        lr = self.scheduler.get_last_lr()[0]
        loss_sum, grad_norm = self.accumulate(step, micro_batches, counts["tokens"])
        done = step + 1
        sums = reduce_sums(run.accelerator, {"loss_sum": loss_sum})
        peaks = reduce_max(run.accelerator, {"time": timer.elapsed(), "mem": peak_memory_gb()})
        logger.advance()
        if done % cfg.logging.log_every == 0 or done == run.total_steps:
            tokens, seconds = counts["tokens"], peaks["time"]
            logger.log(done, {
                "train/loss": sums["loss_sum"] / tokens if tokens else float("nan"),
                "train/lr": lr,
                "train/grad_norm": grad_norm,
                "train/tokens_per_s": counts["padded_tokens"] / seconds,
                "train/target_tokens_per_s": tokens / seconds,
                "train/samples_per_s": counts["samples"] / seconds,
                "train/step_time_s": seconds,
                "train/memory_gb": peaks["mem"],
                "train/bad_samples": counts["bad"],
                "train/epoch": done / run.sampler.steps_per_epoch,
            })  # fmt: skip
        bad_totals = {"seen": counts["seen"], "bad": counts["bad"]}
        self.maybe_save(done, bad_totals)
        return bad_totals

    def accumulate(self, step: int, micro_batches: list, tokens: float) -> tuple[float, float]:
        """Forward/backward every micro-batch and step the optimizer; (loss sum, grad norm)."""
        from video_r1.train.run import grad_norm_value

        accelerator, cfg, model = self.run.accelerator, self.cfg, self.model
        loss_sum, grad_norm = 0.0, float("nan")
        if tokens == 0:  # every sample of the step, on every rank, was bad: no update
            self.scheduler.step()  # the same clock
            return loss_sum, grad_norm
        filler = None
        for mb in micro_batches:
            weight = 1.0
            if mb is None:  # keep this rank in step with the others' collectives
                if filler is None:  # a good micro-batch of this step, else the next record
                    filler = next((m for m in micro_batches if m), None) or self.filler(step)
                mb, weight = filler, 0.0
            inputs = {k: v.to(accelerator.device) for k, v in mb[0].items()}
            with accelerator.accumulate(model):
                logits = model(**inputs).logits  # [B, L, V]
                summed = token_loss_sum(logits, mb[1])
                # DDP/DeepSpeed average gradients over processes and accelerator.backward
                # divides by grad_accum; undo both so the step's gradient is that of
                # (sum of token losses of all micro-batches and processes) / (their tokens).
                scale = weight * self.run.world * cfg.optim.grad_accum / tokens
                accelerator.backward(summed * scale)
                loss_sum += weight * float(summed.detach())
                if accelerator.sync_gradients:
                    norm = None
                    if cfg.optim.max_grad_norm > 0:
                        norm = accelerator.clip_grad_norm_(
                            model.parameters(), cfg.optim.max_grad_norm
                        )
                    self.optimizer.step()
                    self.scheduler.step()
                    self.optimizer.zero_grad(set_to_none=True)
                    grad_norm = grad_norm_value(norm, model)
        return loss_sum, grad_norm

    def maybe_save(self, done: int, bad_totals: dict[str, float]) -> None:
        from video_r1.train.checkpoint import save_checkpoint
        from video_r1.train.run import run_state

        run, every = self.run, self.cfg.checkpoint.save_every
        if (every and done % every == 0) or done == run.total_steps:
            save_checkpoint(
                run.accelerator, self.model, self.processor, run.out, done,
                run_state(run, done, bad_totals), run.config_yaml, self.cfg.checkpoint.keep_last,
            )  # fmt: skip
