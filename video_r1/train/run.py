"""The run around a recipe's loop: what SFT and GRPO set up, resume and finish the same way.

run = start_run(cfg, "grpo")                     # accelerator, records, sampler, bad samples
... load processor and model (prepare_model(cfg.model, checkpoint=run.resume_path)) ...
start_step = resume_state(run, model_description)  # after accelerator.prepare
logger = open_logger(run, start_step)
for step in range(start_step, run.total_steps):
    ...
    save_checkpoint(..., run_state(run, done, bad_totals), ...)
write_final(accelerator, model, processor, run.out, ...)  # video_r1.train.checkpoint
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from video_r1.train.config import TrainConfig, format_config


@dataclass
class Run:
    cfg: TrainConfig
    recipe: str
    accelerator: Any
    out: Path
    config_yaml: str
    records: list
    problems: list
    bad: Any  # BadSamples
    sampler: Any  # RecordSampler
    total_steps: int
    resume_path: Path | None
    order_log: Path  # which records this rank trained at each step

    @property
    def rank(self) -> int:
        return self.accelerator.process_index

    @property
    def world(self) -> int:
        return self.accelerator.num_processes


def start_run(cfg: TrainConfig, recipe: str, resume: str | None = None) -> Run:
    """Accelerator, output folder, printed config, seed, records, sampler, bad-sample policy."""
    from accelerate.utils import set_seed

    from video_r1.data import read_records
    from video_r1.train.bad_samples import BadSamples
    from video_r1.train.checkpoint import resolve_resume
    from video_r1.train.sampler import RecordSampler
    from video_r1.train.setup import setup_accelerator

    out = Path(cfg.checkpoint.output_dir)
    accelerator = setup_accelerator(cfg, out)
    config_yaml = format_config(cfg)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        print(f"# video-r1 {recipe}: resolved config\n{config_yaml}", flush=True)
    set_seed(cfg.seed)
    records, problems = read_records(cfg.data.train_file, cfg.data.media_root)
    bad = BadSamples(cfg.data.on_bad_sample, cfg.data.max_bad_fraction, out / "bad_samples.jsonl")
    sampler = RecordSampler(
        len(records), accelerator.num_processes, accelerator.process_index,
        cfg.optim.per_device_batch_size, cfg.optim.grad_accum, cfg.data.seed, cfg.data.shuffle,
    )  # fmt: skip
    if accelerator.is_main_process and sampler.dropped_per_epoch:
        print(f"# {sampler.dropped_per_epoch} records per epoch do not fill a step", flush=True)
    return Run(
        cfg=cfg, recipe=recipe, accelerator=accelerator, out=out, config_yaml=config_yaml,
        records=records, problems=problems, bad=bad, sampler=sampler,
        total_steps=sampler.total_steps(cfg.optim.epochs, cfg.optim.max_steps),
        resume_path=resolve_resume(resume, out),
        order_log=out / "data_order" / f"rank{accelerator.process_index}.jsonl",
    )  # fmt: skip


def resume_state(run: Run, description: str, extra_logs: tuple[str, ...] = ()) -> int:
    """Restore optimizer/scheduler/RNG states (call after accelerator.prepare); the start step.

    On a fresh start, records that failed validation are the bad samples of step 0. Lines
    written after the checkpoint (data order, bad samples, `extra_logs` under the output
    folder) are dropped so that nothing is repeated. `description` is printed with the plan.
    """
    from video_r1.train.bad_samples import truncate_jsonl_after
    from video_r1.train.checkpoint import load_checkpoint

    start_step = 0
    if run.resume_path is not None:
        state = load_checkpoint(run.accelerator, run.resume_path)
        if state["num_records"] != len(run.records):
            raise ValueError(
                f"{run.resume_path}: trained on {state['num_records']} records, "
                f"{run.cfg.data.train_file} has {len(run.records)}; resume needs the same data"
            )
        start_step = int(state["step"])
        if run.rank == 0:  # totals live on rank 0; the check uses sums over ranks
            run.bad.load_state_dict(state["bad_samples"])
    elif run.accelerator.is_main_process:
        for problem in run.problems:
            run.bad.report(problem, reason=f"{problem.field}: {problem.reason}", step=0)
    truncate_jsonl_after(run.order_log, start_step)
    if run.accelerator.is_main_process:
        truncate_jsonl_after(run.bad.log_path, start_step)
        for name in extra_logs:
            truncate_jsonl_after(run.out / name, start_step)
        print(
            f"# {len(run.records)} records, {run.world} process(es), "
            f"{run.sampler.records_per_step} records/step, {run.total_steps} steps; "
            f"{description}; start at step {start_step}",
            flush=True,
        )
    return start_step


def open_logger(run: Run, start_step: int) -> Any:
    """Trackers (with the flattened config) and the metrics logger with its progress bar."""
    from video_r1.train.metrics import MetricsLogger, flat_config

    run.accelerator.init_trackers(run.cfg.logging.project, config=flat_config(run.config_yaml))
    return MetricsLogger(
        run.accelerator, run.out / "metrics.jsonl", run.total_steps, start_step,
        trackers_enabled=bool(run.cfg.logging.trackers), progress_bar=run.cfg.logging.progress_bar,
    )  # fmt: skip


def run_state(run: Run, step: int, bad_totals: dict[str, float]) -> dict[str, Any]:
    """The trainer state saved in a checkpoint (with the step added by save_checkpoint)."""
    return {
        "epoch": run.sampler.epoch_of(step),
        "samples_seen": step * run.sampler.records_per_step,
        "num_records": len(run.records),
        "total_steps": run.total_steps,
        "bad_samples": {"seen": int(bad_totals["seen"]), "bad": int(bad_totals["bad"])},
    }


def grad_norm_value(norm: Any, model: Any) -> float:
    """The clipped-gradient norm as a float (DeepSpeed clips inside and reports it itself)."""
    if norm is None and hasattr(model, "get_global_grad_norm"):
        norm = model.get_global_grad_norm()
    return float(norm) if norm is not None else float("nan")
