"""The run around a recipe's loop: what SFT and GRPO set up, resume and finish the same way.

with open_run(cfg, "grpo", resume) as run:       # the folder's lock; accelerator, records...
    ... load processor and model (prepare_model(cfg.model, checkpoint=run.resume_path)) ...
    start_step = resume_state(run, model_description)  # after accelerator.prepare
    with stop_on_signals(run) as check_stop, open_logger(run, start_step) as logger:
        # Ctrl-C / SIGTERM: say how to resume; the logger ends its bar on any way out
        for step in range(start_step, run.total_steps):
            ... bad.report(record, reason, step=step + 1, rank=run.rank) ...
            ... a rank whose micro-batch is all bad trains a filler with weight 0:
                find_filler(run.sampler.filler_order(step), encode_index) ...
            save_checkpoint(..., run_state(run, done, bad_totals), ...)
    finish_run(run, model, processor, bad_totals)  # final + how many samples were skipped
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    base_weights: str | None = None  # sha256 of model.path's weights (checked on resume)
    hold: Any = None  # run_folder.FolderHold: the folder's lock, released by open_run

    @property
    def rank(self) -> int:
        return self.accelerator.process_index

    @property
    def world(self) -> int:
        return self.accelerator.num_processes


@contextmanager
def open_run(cfg: TrainConfig, recipe: str, resume: str | None = None) -> Iterator[Run]:
    """`start_run`, holding the output folder's lock until the block ends (a run that fails
    before writing any file leaves no folder behind)."""
    run = start_run(cfg, recipe, resume)
    try:
        yield run
    except BaseException:
        run.hold.release(failed=True)
        raise
    run.hold.release(failed=False)


def start_run(cfg: TrainConfig, recipe: str, resume: str | None = None) -> Run:
    """Accelerator, output folder (locked: `open_run` releases it), printed config, seed,
    records, sampler, bad-sample policy.

    A second run on a folder in use is refused (naming its pid and host); a fresh start over
    a folder holding a run is refused (or, with checkpoint.overwrite, that run is deleted
    first); a resume is refused when the data, batch layout or seeds changed, or when there
    is nothing to resume. `resume`: None (fresh start), "latest", a checkpoint path, or
    "auto" (latest if there is a checkpoint, else a fresh start: one call starts and restarts).
    """
    from accelerate.utils import set_seed

    from video_r1.train.bad_samples import BadSamples
    from video_r1.train.checkpoint import CheckpointError, find_latest_checkpoint, resolve_resume
    from video_r1.train.run_folder import (
        LOCK_FILE,
        check_base_weights,
        check_resume_config,
        claim_output_dir,
        no_checkpoint_line,
        take_output_dir,
    )
    from video_r1.train.setup import setup_accelerator
    from video_r1.utils.hashing import weights_sha256
    from video_r1.utils.lock import check_not_held

    check_trackers(cfg.logging.trackers)
    check_config_paths(cfg)
    out = Path(cfg.checkpoint.output_dir)
    config_yaml = format_config(cfg)
    existed = out.exists()
    if resume == "auto":  # the API's start-or-continue (the demo's stages): latest, if any
        resume = "latest" if find_latest_checkpoint(out) else None
    resume_path = resolve_resume(resume, out)
    changes = check_resume_config(resume_path, config_yaml) if resume_path else []
    if resume == "latest" and resume_path is None:
        changes.append(no_checkpoint_line(out))  # refuses a missing or empty folder
    base_weights = weights_sha256(cfg.model.path)  # every rank: all refuse alike
    if resume_path:
        check_base_weights(resume_path, cfg.model.path, base_weights)
    if resume_path is None and not cfg.checkpoint.overwrite:
        try:  # every rank refuses alike: none waits forever
            claim_output_dir(out, overwrite=False)
        except CheckpointError:
            check_not_held(out / LOCK_FILE)  # a live run: not one to continue with --resume
            raise
    accelerator = setup_accelerator(cfg, out)
    # from here to the block's end of open_run, the folder is this run's
    hold = take_output_dir(accelerator, out, created=accelerator.is_main_process and not existed)
    try:
        if resume_path is None and cfg.checkpoint.overwrite:
            if accelerator.is_main_process:
                claim_output_dir(out, overwrite=True)
            accelerator.wait_for_everyone()  # no rank writes before the old run is gone
        if accelerator.is_main_process:
            print(f"# video-r1 {recipe}: resolved config\n{config_yaml}", flush=True)
            for line in changes:
                print(line, flush=True)
        set_seed(cfg.seed)
        records, problems = _read_training_records(cfg, accelerator.is_main_process)
        # SFT trains an epoch's last records as a smaller step (HF Trainer's default) unless
        # sft.drop_last; GRPO's steps are whole groups of prompts
        keep_partial = recipe == "sft" and not getattr(getattr(cfg, "sft", None), "drop_last", True)
        sampler = _make_sampler(cfg, accelerator, records, problems, keep_partial)
    except BaseException:
        hold.release(failed=True)
        raise
    bad = BadSamples(cfg.data.on_bad_sample, cfg.data.max_bad_fraction, out / "bad_samples.jsonl")
    return Run(
        cfg=cfg, recipe=recipe, accelerator=accelerator, out=out, config_yaml=config_yaml,
        records=records, problems=problems, bad=bad, sampler=sampler,
        total_steps=sampler.total_steps(cfg.optim.epochs, cfg.optim.max_steps),
        resume_path=resume_path,
        order_log=out / "data_order" / f"rank{accelerator.process_index}.jsonl",
        base_weights=base_weights, hold=hold,
    )  # fmt: skip


def check_trackers(names: list[str]) -> None:
    """Fail at start for a requested tracker that is not installed (accelerate drops it)."""
    from accelerate.tracking import get_available_trackers

    available = {str(getattr(t, "value", t)) for t in get_available_trackers()}
    missing = [n for n in names if n != "all" and n not in available]
    if missing:
        from video_r1.train.config import ConfigError

        raise ConfigError(
            f"logging.trackers: {', '.join(missing)} not installed (pip install "
            f"{' '.join(missing)}), or leave it out (logging.trackers=[])"
        )


def check_config_paths(cfg: TrainConfig) -> None:
    """Fail before anything is created or loaded when the data file, the media root or a
    local model folder does not exist; a relative path is named with the folder it was looked
    up in (paths in a config resolve from the current directory, not the config's)."""
    from video_r1.models.loading import check_model_path

    data = cfg.data
    for key, path, ok in (
        ("data.train_file", data.train_file, Path(data.train_file).is_file()),
        ("data.media_root", data.media_root, Path(data.media_root).is_dir()),
    ):  # fmt: skip
        if not ok:
            what = "file" if key.endswith("file") else "folder"
            raise FileNotFoundError(f"{key} {path}: no such {what}{relative_note(path)}")
    try:
        check_model_path(cfg.model.path)
    except ValueError as e:
        if "no such folder" not in str(e):
            raise
        raise type(e)(f"{e}{relative_note(cfg.model.path)}") from e


def relative_note(path: str | Path) -> str:
    """Where a relative path was looked up, for a not-found error; "" for an absolute path.

    Example:
        >>> relative_note("/data/train.jsonl")
        ''
    """
    if Path(path).expanduser().is_absolute():
        return ""
    return f" (a relative path: looked up from the current directory {Path.cwd()})"


def _read_training_records(cfg: TrainConfig, main: bool) -> tuple[list, list]:
    """The good records and the problems of the others; the main process reports how many
    records fail and the first reasons, before anything else can fail on their absence.
    Under data.on_bad_sample=error any bad record stops the run here, before a model loads,
    every one listed (on stderr)."""
    from video_r1.data import read_records
    from video_r1.data.records import bad_record_count
    from video_r1.train.bad_samples import BadSampleError

    records, problems = read_records(cfg.data.train_file, cfg.data.media_root)
    if problems and cfg.data.on_bad_sample == "error":
        if main:
            for problem in problems:
                print(problem, file=sys.stderr, flush=True)
        raise BadSampleError(
            f"{cfg.data.train_file}: {bad_record_count(problems)} bad record(s), listed above "
            f"(data.on_bad_sample=error): fix them (`video-r1 data check "
            f"{cfg.data.train_file}`) or set data.on_bad_sample=skip to leave them out"
        )
    if problems and main:
        bad = bad_record_count(problems)
        first = "; ".join(str(p) for p in problems[:3])
        print(f"# {cfg.data.train_file}: {bad} bad record(s), first: {first}", flush=True)
    return records, problems


def _make_sampler(
    cfg: TrainConfig, accelerator: Any, records: list, problems: list, keep_partial: bool = False
) -> Any:
    from video_r1.data.records import bad_record_count
    from video_r1.train.config import ConfigError
    from video_r1.train.sampler import RecordSampler

    try:
        sampler = RecordSampler(
            len(records), accelerator.num_processes, accelerator.process_index,
            cfg.optim.per_device_batch_size, cfg.optim.grad_accum, cfg.data.seed,
            cfg.data.shuffle, keep_partial,
        )  # fmt: skip
    except ValueError as e:
        if not problems:
            raise ConfigError(f"{cfg.data.train_file}: {e}") from e
        bad = bad_record_count(problems)
        raise ConfigError(
            f"{cfg.data.train_file}: {bad} bad record(s) (first: {problems[0]}; check "
            f"data.media_root {cfg.data.media_root}), so {e}"
        ) from e
    if accelerator.is_main_process and sampler.dropped_per_epoch:
        print(f"# {sampler.dropped_per_epoch} records per epoch do not fill a step and are "
              "left out of that epoch (a fresh order each epoch leaves out others)",
              flush=True)  # fmt: skip
    return sampler


def resume_state(run: Run, description: str, extra_logs: tuple[str, ...] = ()) -> int:
    """Restore optimizer/scheduler/RNG states (call after accelerator.prepare); the start step.

    On a fresh start, records that failed validation are the bad samples of step 0. Lines
    written after the checkpoint (data order, bad samples, `extra_logs` under the output
    folder) are dropped so that nothing is repeated. `description` is printed with the plan.
    """
    from video_r1.train.bad_samples import truncate_jsonl_after
    from video_r1.train.checkpoint import load_checkpoint
    from video_r1.train.run_folder import set_aside_later_checkpoints

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
        from video_r1.data.records import problems_by_record

        for problems in problems_by_record(run.problems):  # one bad sample per record
            reason = "; ".join(f"{p.field}: {p.reason}" for p in problems)
            run.bad.report(problems[0], reason=reason, step=0)
    truncate_jsonl_after(run.order_log, start_step)
    if run.accelerator.is_main_process:
        truncate_jsonl_after(run.bad.log_path, start_step)
        for name in extra_logs:
            truncate_jsonl_after(run.out / name, start_step)
        if run.resume_path is not None:
            for path in set_aside_later_checkpoints(run.out, start_step):
                print(f"# {path.name}: a checkpoint after step {start_step}, of the run this "
                      "resume abandons; renamed so that --resume never returns to it",
                      flush=True)  # fmt: skip
        print(
            f"# {len(run.records)} records, {run.world} process(es), "
            f"{run.sampler.records_per_step} records/step, {run.total_steps} steps; "
            f"{description}; start at step {start_step}",
            flush=True,
        )
    return start_step


def open_logger(run: Run, start_step: int) -> Any:
    """Trackers (with the flattened config) and the metrics logger with its progress bar; a
    context manager that closes both, or on an error only the bar."""
    from video_r1.train.metrics_logger import MetricsLogger, flat_config

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
        "base_weights": run.base_weights,
    }


def grad_norm_value(norm: Any, model: Any) -> float:
    """The clipped-gradient norm as a float (DeepSpeed clips inside and reports it itself)."""
    if norm is None and hasattr(model, "get_global_grad_norm"):
        norm = model.get_global_grad_norm()
    return float(norm) if norm is not None else float("nan")


def finish_run(run: Run, model: Any, processor: Any, bad_totals: dict[str, float]) -> None:
    """Write OUTPUT/final and say how many samples were skipped and where they are logged."""
    from video_r1.train.checkpoint import write_final

    write_final(
        run.accelerator, model, processor, run.out, run.total_steps, run.cfg.model.lora.enabled
    )
    bad = int(bad_totals["bad"])
    if run.accelerator.is_main_process and bad:
        print(
            f"# {bad} of {int(bad_totals['seen'])} samples were skipped "
            f"(data.on_bad_sample=skip); see {run.bad.log_path}",
            file=sys.stderr,
            flush=True,
        )


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during training; the message names the last checkpoint and the
    command that resumes from it."""


@contextmanager
def stop_on_signals(run: Run) -> Iterator[Callable[[], None]]:
    """Treat SIGTERM (a scheduler's preemption) like Ctrl-C; either ends the run with a
    RunInterrupted whose message says where to resume from.

    The handlers raise KeyboardInterrupt at once, and also remember the signal: the loop
    calls the yielded `check` at every step, which raises it again. An interrupt raised in the
    middle of a step can be lost in library code (an SFT run here trained on after about one
    signal in five, under load, with no message), never the remembered one.
    """
    received: list[str] = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signal.Signals(signum).name)
        raise KeyboardInterrupt(received[0])

    def check() -> None:
        if received:
            raise KeyboardInterrupt(received[0])

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield check
    except KeyboardInterrupt as interrupt:
        raise RunInterrupted(interrupted_message(run, str(interrupt) or "SIGINT")) from None
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def interrupted_message(run: Run, why: str) -> str:
    """One line: what stopped the run, its last checkpoint, how to continue."""
    from video_r1.train.checkpoint import find_latest_checkpoint
    from video_r1.train.run_folder import resume_command

    latest = find_latest_checkpoint(run.out)
    if latest is None:  # nothing to resume from: the same command starts the run again
        again = resume_command(run.recipe, resume=False)
        return f"{run.recipe} stopped by {why}; no checkpoint yet; start again with: {again}"
    return (
        f"{run.recipe} stopped by {why}; last checkpoint {latest}; continue with: "
        f"{resume_command(run.recipe)}"
    )
