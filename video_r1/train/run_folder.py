"""The run folder's guards: one run at a time per folder, a fresh start never lands on a
finished run, and a resume never silently changes what the checkpoint was trained with.

    hold = take_output_dir(accelerator, out, created)  # OUT/.lock for the whole run
    claim_output_dir(out, overwrite)          # fresh start: refuse (or clear) an old run
    no_checkpoint_line(out)                   # --resume without a checkpoint: refuse or say so
    check_resume_config(saved_yaml, new_yaml)  # resume: refuse changed data/batch/seed keys,
                                               # return the lines to print for the others

GRPO adds its own keys (e.g. `grpo.num_generations` changes what a step is) through the
`refused` and `ignored` arguments.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from video_r1.train.checkpoint import CONFIG_FILE, CheckpointError

# Keys whose change breaks the "no record lost or repeated" guarantee or the schedule.
REFUSED_ON_RESUME: dict[str, str] = {
    "data.train_file": "the records",
    "data.shuffle": "the record order",
    "data.seed": "the record order",
    "seed": "the RNG states",
    "optim.per_device_batch_size": "the batch layout",
    "optim.grad_accum": "the batch layout",
    "rl.num_generations": "the rollout groups (GRPO)",
    "rl.num_shuffled_generations": "the rollout groups (GRPO)",
    "rl.num_iterations": "the optimizer steps per step, which the schedule counts (GRPO)",
}
# Keys a resume cannot apply: their values live in the restored optimizer/scheduler/weights.
# (The schedule's shape is applied: the scheduler's lambda is rebuilt from the current
# schedule, warm-up and planned steps, so a longer max_steps continues the curve.)
IGNORED_ON_RESUME: dict[str, str] = {
    "optim.lr": "the lr comes from the checkpoint's scheduler",
    "optim.weight_decay": "the checkpoint's optimizer settings are restored",
    "optim.adam_beta1": "the checkpoint's optimizer settings are restored",
    "optim.adam_beta2": "the checkpoint's optimizer settings are restored",
    "optim.adam_eps": "the checkpoint's optimizer settings are restored",
}
# model.path is applied on resume (the trained weights come from the checkpoint, but the
# processor, GRPO's reference model and a LoRA base are read from it): another path to the
# same weights is fine, other weights are refused (check_base_weights).
# What a finished or started run leaves in its folder (removed by checkpoint.overwrite=true).
# with a crash's debris, and the checkpoints a resume from an earlier one set aside
_CHECKPOINT_NAME = re.compile(r"^(\.tmp-|\.old-|abandoned-)?checkpoint-\d+$")
RUN_FILES = ("final", "metrics.jsonl", "bad_samples.jsonl", "data_order", "logs")
LOCK_FILE = ".lock"  # who runs in the folder (pid, host, start time): video_r1.utils.lock


@dataclass
class FolderHold:
    """The main process's lock on the output folder, held from start to end of the run."""

    out: Path
    created: bool  # the run made the folder: a run that fails before writing removes it
    locks: ExitStack = field(default_factory=ExitStack)

    def release(self, failed: bool) -> None:
        """Drop the lock; after a failure that left no file, also the folder the run made
        (a run refused by a check leaves nothing behind)."""
        self.locks.close()
        if failed and self.created and self.out.is_dir():
            if not any(p.is_file() or p.is_symlink() for p in self.out.rglob("*")):
                shutil.rmtree(self.out, ignore_errors=True)


def take_output_dir(accelerator: Any, out: Path, created: bool) -> FolderHold:
    """Create `out` and take OUT/.lock (main process) for the whole run; a second run on the
    folder, while the first lives, gets LockHeld naming its pid and host on every process.

    Every process of a launch is one run: the main process takes the lock and tells the
    others whether it got it, so all stop alike. A lock left by a killed run (same host, its
    pid gone) is taken over. `created`: the folder did not exist before this run.
    """
    from accelerate.utils import broadcast_object_list

    from video_r1.utils.lock import LockHeld, hold_lock

    hold, refused = FolderHold(out, created), None
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        try:
            hold.locks.enter_context(hold_lock(out / LOCK_FILE))
        except LockHeld as held:
            refused = str(held)
    refused = broadcast_object_list([refused])[0]
    if refused is not None:
        hold.release(failed=True)
        raise LockHeld(refused)
    return hold


def no_checkpoint_line(out: Path) -> str:
    """`--resume` on `out` without a complete checkpoint: a CheckpointError for a missing or
    empty folder (nothing to resume: a typo, or a run not started yet), else the line that
    says the run starts again at step 0 (it stopped before its first save)."""
    started = [name for name in RUN_FILES if (out / name).exists()] + [
        p.name for p in old_run_files(out)
    ]
    if not started:
        from video_r1.utils.lock import check_not_held

        check_not_held(out / LOCK_FILE)  # a run that has just started there: say so
        what = "no such folder" if not out.exists() else "no run in it"
        raise CheckpointError(
            f"--resume: {out}: {what}, nothing to resume; drop --resume to start a fresh run "
            "(--resume auto: resume if there is a checkpoint, else start), or set "
            "checkpoint.output_dir to the run to continue"
        )
    return (
        f"# --resume: {out} holds no complete checkpoint (the run stopped before its first "
        "save); starting again at step 0"
    )


def old_run_files(out: Path) -> list[Path]:
    """The checkpoints (complete or not) and the `final` of a run already in `out`."""
    if not out.is_dir():
        return []
    found = [p for p in out.iterdir() if _CHECKPOINT_NAME.match(p.name)]
    if (out / "final").exists() or (out / "final").is_symlink():
        found.append(out / "final")
    return sorted(set(found))


def claim_output_dir(out: str | Path, overwrite: bool, extra_files: tuple[str, ...] = ()) -> None:
    """Before a fresh start (main process): refuse a folder holding a run, or with
    `overwrite` delete that run's checkpoints, final, logs and metrics (`extra_files` too).

    Without this a fresh start over a finished run pruned its own new checkpoints against
    the old run's higher step numbers and left `final` pointing at a deleted one.
    """
    out = Path(out)
    old = old_run_files(out)
    if not [p for p in old if not p.name.startswith(".")]:  # debris alone is no run
        for path in old:
            shutil.rmtree(path, ignore_errors=True)
        return
    if not overwrite:
        old = [p for p in old if not p.name.startswith(".")]
        names = ", ".join(p.name for p in old[:3]) + (" ..." if len(old) > 3 else "")
        raise CheckpointError(
            f"{out} holds a run ({names}); continue it with --resume, choose another "
            "checkpoint.output_dir, or set checkpoint.overwrite=true to delete it first"
        )
    for path in old + [out / name for name in (*RUN_FILES, *extra_files)]:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def changed_keys(saved_yaml: str, current_yaml: str) -> dict[str, tuple[object, object]]:
    """key -> (saved value, current value) for every leaf that differs.

    Example:
        >>> changed_keys("optim:\\n  lr: 1.0\\n", "optim:\\n  lr: 2.0\\n")
        {'optim.lr': (1.0, 2.0)}
    """
    import yaml

    saved = _flatten(yaml.safe_load(saved_yaml) or {})
    current = _flatten(yaml.safe_load(current_yaml) or {})
    keys = sorted(set(saved) | set(current))
    return {k: (saved.get(k), current.get(k)) for k in keys if saved.get(k) != current.get(k)}


def check_resume_config(
    checkpoint: str | Path,
    current_yaml: str,
    refused: dict[str, str] | None = None,
    ignored: dict[str, str] | None = None,
) -> list[str]:
    """Compare a checkpoint's saved config with the current one before resuming.

    Raises CheckpointError naming every changed key the resume cannot honour (data, batch
    layout, seeds); returns one line per other change: ignored ones (the
    restored optimizer/scheduler/weights win) and applied ones.
    """
    saved_file = Path(checkpoint) / CONFIG_FILE
    if not saved_file.is_file():
        return [f"# {checkpoint}: no {CONFIG_FILE}; the config cannot be compared"]
    refused = {**REFUSED_ON_RESUME, **(refused or {})}
    ignored = {**IGNORED_ON_RESUME, **(ignored or {})}
    changes = changed_keys(saved_file.read_text(), current_yaml)
    bad = [f"{k} {old!r} -> {new!r} ({refused[k]})" for k, (old, new) in changes.items()
           if k in refused]  # fmt: skip
    if bad:
        raise CheckpointError(
            f"{checkpoint}: resume must keep " + "; ".join(bad) + "; restore these settings "
            "or start a fresh run in another checkpoint.output_dir"
        )
    lines = []
    for key, (old, new) in changes.items():
        if key in ignored:
            lines.append(f"# resume ignores {key} {new!r} (keeps {old!r}: {ignored[key]})")
        else:
            lines.append(f"# resume applies {key} {old!r} -> {new!r}")
    return lines


def check_base_weights(checkpoint: str | Path, model_path: str, now: str | None) -> None:
    """Refuse a resume whose model.path holds other weights than the run started from.

    `now`: weights_sha256(model_path); the checkpoint's trainer state holds the hash taken
    at the run's start (none in checkpoints of earlier versions: nothing to compare).
    """
    from video_r1.train.checkpoint import read_trainer_state

    saved = read_trainer_state(checkpoint).get("base_weights")
    if saved is not None and now is not None and saved != now:
        raise CheckpointError(
            f"{checkpoint}: model.path {model_path} holds other weights than this run started "
            f"from (sha256 {saved[:12]} then, {now[:12]} now); the processor, the reference "
            "model and a LoRA base are read from it: restore those weights, or start a fresh "
            "run in another checkpoint.output_dir"
        )


def set_aside_later_checkpoints(out: str | Path, step: int) -> list[Path]:
    """Rename the checkpoints after `step` (a resume from an earlier one abandons them) to
    `abandoned-checkpoint-N`, so that a later `--resume` (latest) cannot return to them;
    returns the new paths. Their logs were already cut back to `step`."""
    from video_r1.train.checkpoint import list_checkpoints

    moved = []
    for later, path in list_checkpoints(out):
        if later > step:
            target = path.with_name(f"abandoned-{path.name}")
            shutil.rmtree(target, ignore_errors=True)  # set aside by an earlier resume
            path.rename(target)
            moved.append(target)
    final = Path(out) / "final"
    if moved and (final.is_symlink() or final.exists()):
        # the model of the run set aside (its last checkpoint keeps the weights): this run
        # is not finished (a symlink: a `final` of an earlier version)
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        else:
            final.unlink()
    return moved


def resume_command(recipe: str, argv: list[str] | None = None, resume: bool = True) -> str:
    """The command line that resumes this run: the same one with `--resume` (without it,
    for `resume=False`: a run stopped before its first checkpoint starts again).

    Example:
        >>> resume_command("sft", ["video-r1", "sft", "--config", "c.yaml", "optim.lr=1"])
        'video-r1 sft --config c.yaml optim.lr=1 --resume'
    """
    args = list(sys.argv if argv is None else argv)[1:]
    if not args or args[0] != recipe:  # not our command line (a notebook, a test)
        return f"{recipe}.train(cfg{', resume=' + repr('latest') if resume else ''})"
    kept = []
    for i, arg in enumerate(args):
        after_resume = i > 0 and args[i - 1] == "--resume"
        if arg == "--resume" or (after_resume and "=" not in arg and not arg.startswith("-")):
            continue
        kept.append(arg)
    return shlex.join(["video-r1", *kept, *(["--resume"] if resume else [])])
