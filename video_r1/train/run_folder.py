"""The run folder's guards: a fresh start never lands on a finished run, and a resume never
silently changes what the checkpoint was trained with.

    claim_output_dir(out, overwrite)          # fresh start: refuse (or clear) an old run
    check_resume_config(saved_yaml, new_yaml)  # resume: refuse changed data/batch/seed keys,
                                               # return the lines to print for the others

GRPO adds its own keys (e.g. `grpo.num_generations` changes what a step is) through the
`refused` and `ignored` arguments.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

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
    if moved and final.is_symlink() and not final.exists():
        final.unlink()  # it named a checkpoint set aside: the run is not finished
    return moved
