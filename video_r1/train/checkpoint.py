"""Checkpoints: HF-format model + processor, plus everything needed to resume exactly.

Layout of `OUTPUT/checkpoint-<step>/`:

    config.json, model*.safetensors, processor/tokenizer files   from_pretrained-loadable
      (with LoRA: adapter_config.json + adapter_model.safetensors, see README.md there)
    state/              accelerate `save_state`: optimizer, scheduler, RNG states of every
                        rank (and, under DeepSpeed/FSDP, their sharded model + optimizer)
    config.yaml         the resolved run config
    trainer_state.json  step, epoch, data position, bad-sample counts; written last

Everything is written into `.tmp-checkpoint-<step>/` and renamed when complete, so a crash
mid-save leaves the previous checkpoint intact; only folders with trainer_state.json count.

On resume the model weights come from the checkpoint's HF files (the same `from_pretrained`
path as any load; see `prepare_model(cfg, checkpoint=...)`), and `load_checkpoint` restores
optimizer, scheduler and RNG states. GRPO calls::

    path = resolve_resume(args.resume, output_dir)          # None: fresh start
    model = prepare_model(cfg.model, checkpoint=path)
    ... accelerator.prepare(...)
    state = load_checkpoint(accelerator, path) if path else {}
    save_checkpoint(accelerator, model, processor, output_dir, step, state, config_yaml, keep)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from video_r1.train.config import LoraConfig
from video_r1.train.setup import is_deepspeed, is_fsdp
from video_r1.utils.io import apply_umask, atomic_write_json, atomic_write_text

PREFIX = "checkpoint-"
STATE_FILE = "trainer_state.json"
CONFIG_FILE = "config.yaml"
_NAME = re.compile(r"^checkpoint-(\d+)$")

LORA_NOTE = """# LoRA checkpoint

This folder holds the LoRA adapter (adapter_config.json, adapter_model.safetensors), not
merged weights. Load it with peft:

    base = AutoModelForImageTextToText.from_pretrained(BASE)
    model = PeftModel.from_pretrained(base, THIS_FOLDER).merge_and_unload()

or directly with `AutoModelForImageTextToText.from_pretrained(THIS_FOLDER)` when the base path
in adapter_config.json (base_model_name_or_path) is reachable. The run's final folder
`OUTPUT/final/` holds the merged model.
"""


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, or does not fit the run resuming from it."""


def checkpoint_path(output_dir: str | Path, step: int) -> Path:
    """Example: checkpoint_path("runs/a", 40) -> Path("runs/a/checkpoint-40")."""
    return Path(output_dir) / f"{PREFIX}{step}"


def list_checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (those with trainer_state.json), oldest first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_dir() and (p / STATE_FILE).is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def find_latest_checkpoint(output_dir: str | Path) -> Path | None:
    found = list_checkpoints(output_dir)
    return found[-1][1] if found else None


def resolve_resume(resume: str | None, output_dir: str | Path) -> Path | None:
    """`None` -> fresh start; 'latest' -> newest complete checkpoint of `output_dir` (None if
    there is none yet: start_run refuses a missing or empty folder); else a path, which must
    be a complete checkpoint (not a run's final/, which holds no training state)."""
    if resume is None:
        return None
    if resume == "latest":
        return find_latest_checkpoint(output_dir)
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise CheckpointError(f"{path}: not a complete checkpoint (no {STATE_FILE})")
    if not (path / "state").is_dir():
        raise CheckpointError(
            f"{path}: a model folder (a run's final/), not a checkpoint: no training state; "
            f"resume from a checkpoint-N, or train on from it as model.path={path}"
        )
    return path


def _drop_model_weights(models: list, weights: list, output_dir: str) -> None:
    # The model is saved once, in HF format, next to `state/`; don't store a second copy.
    weights.clear()


def _skip_model_load(models: list, input_dir: str) -> None:
    # The model was already loaded from the checkpoint's HF files by prepare_model.
    models.clear()


@contextmanager
def _without_transformers_bars() -> Iterator[None]:
    # save_pretrained draws a "Writing model shards" bar: two lines on stderr at every
    # checkpoint, which break the training bar (and a signal mid-save leaves one unfinished)
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def save_model_files(accelerator: Any, model: Any, processor: Any, out_dir: str | Path) -> None:
    """Model (HF safetensors, or the LoRA adapter) and processor into `out_dir`.

    Collective: every rank must call it (ZeRO-3 and FSDP gather the full weights).
    """
    state_dict = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        with _without_transformers_bars():
            unwrapped.save_pretrained(out_dir, state_dict=state_dict, safe_serialization=True)
        if processor is not None:
            processor.save_pretrained(out_dir)
        if hasattr(unwrapped, "peft_config"):
            atomic_write_text(Path(out_dir) / "README.md", LORA_NOTE)
        apply_umask(out_dir)


def save_checkpoint(
    accelerator: Any,
    model: Any,
    processor: Any,
    output_dir: str | Path,
    step: int,
    trainer_state: dict[str, Any],
    config_yaml: str,
    keep_last: int = 0,
) -> Path:
    """Write checkpoint-<step> atomically and prune to the newest `keep_last`. Collective."""
    final = checkpoint_path(output_dir, step)
    tmp = final.with_name(f".tmp-{final.name}")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)  # debris of a crash mid-save
        (tmp / "state").mkdir(parents=True)
    accelerator.wait_for_everyone()
    save_model_files(accelerator, model, processor, tmp)
    hook = None
    if not (is_deepspeed(accelerator) or is_fsdp(accelerator)):
        hook = accelerator.register_save_state_pre_hook(_drop_model_weights)
    try:
        accelerator.save_state(str(tmp / "state"), safe_serialization=True)
    finally:
        if hook is not None:
            hook.remove()
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        atomic_write_text(tmp / CONFIG_FILE, config_yaml)
        state = {**trainer_state, "step": step, "world_size": accelerator.num_processes}
        apply_umask(tmp / "state")  # optimizer/RNG files too, whoever wrote them
        _fsync_files(tmp)  # on disk before the folder says it is complete (a node crash)
        atomic_write_json(tmp / STATE_FILE, state)  # last: marks the folder complete
        if final.exists():  # re-saving a step (e.g. after a resume): replace it whole
            old = final.with_name(f".old-{final.name}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(final.parent)
        prune_checkpoints(output_dir, keep_last, newest=step)
    accelerator.wait_for_everyone()
    return final


def _fsync_files(root: Path) -> None:
    """fsync every file and folder under `root` (weights, optimizer and RNG states)."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        elif path.is_dir():
            _fsync_dir(path)
    _fsync_dir(root)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def prune_checkpoints(
    output_dir: str | Path, keep_last: int, newest: int | None = None
) -> list[Path]:
    """Delete all but the newest `keep_last` complete checkpoints (0 keeps all).

    With `newest` (the step just saved), only checkpoints up to that step count: one of a
    higher step (left by another run) can never push the one just written out.
    """
    if keep_last <= 0:
        return []
    found = [(s, p) for s, p in list_checkpoints(output_dir) if newest is None or s <= newest]
    removed = []
    for _, path in found[:-keep_last]:
        shutil.rmtree(path)
        removed.append(path)
    return removed


def check_model_files(path: str | Path, lora: LoraConfig) -> None:
    """Raise unless checkpoint `path` holds the model files a run with `lora` resumes from.

    A LoRA run resumes from the adapter (with the settings it was trained with: peft would
    otherwise quietly take the checkpoint's r / alpha / targets over the config's); a full
    run from the HF weights.
    """
    adapter = Path(path) / "adapter_config.json"
    if not lora.enabled:
        if adapter.is_file():
            raise CheckpointError(
                f"{path}: holds a LoRA adapter, not full weights; resume it with "
                "model.lora.enabled=true"
            )
        return
    if not adapter.is_file():
        raise CheckpointError(
            f"{path}: no adapter_config.json (a full-weight checkpoint); resume it with "
            "model.lora.enabled=false"
        )
    saved = json.loads(adapter.read_text())
    wanted = {"r": lora.r, "lora_alpha": lora.alpha, "lora_dropout": lora.dropout,
              "target_modules": lora.target_modules}  # fmt: skip
    differ = [
        f"{k} {saved.get(k)!r} (config: {v!r})" for k, v in wanted.items() if saved.get(k) != v
    ]
    if differ:
        raise CheckpointError(
            f"{adapter}: adapter trained with " + ", ".join(differ) + "; resume with the "
            "model.lora settings it was trained with"
        )


def read_trainer_state(path: str | Path) -> dict[str, Any]:
    file = Path(path) / STATE_FILE
    if not file.is_file():
        raise CheckpointError(f"{path}: not a complete checkpoint (no {STATE_FILE})")
    return json.loads(file.read_text())


def load_checkpoint(accelerator: Any, path: str | Path) -> dict[str, Any]:
    """Restore optimizer, scheduler and RNG states (and DeepSpeed/FSDP shards) from `path`.

    Call after `accelerator.prepare`, with the model already loaded from `path` by
    `prepare_model(..., checkpoint=path)`. Returns the trainer state (step, data position...).
    """
    state = read_trainer_state(path)
    if state.get("world_size") != accelerator.num_processes:
        raise CheckpointError(
            f"{path}: saved by {state.get('world_size')} processes, resuming with "
            f"{accelerator.num_processes}; the data order and RNG states are per rank, so "
            "resume with the same number of processes"
        )
    hook = None
    if not (is_deepspeed(accelerator) or is_fsdp(accelerator)):
        hook = accelerator.register_load_state_pre_hook(_skip_model_load)
    try:
        accelerator.load_state(str(Path(path) / "state"))
    finally:
        if hook is not None:
            hook.remove()
    return state


def write_final(
    accelerator: Any, model: Any, processor: Any, out: Path, step: int, lora: bool
) -> None:
    """OUTPUT/final: a self-contained model folder (weights, config, processor and tokenizer
    files, the run's config.yaml and trainer_state.json; no optimizer state), the same in
    every run: the last checkpoint's files hard-linked (copied where links fail), or with
    LoRA the merged model. Collective.

    (A symlink to the checkpoint broke on `cp -r` and on pruning, and carried state/.)
    """
    final, tmp = out / "final", out / ".tmp-final"
    last = checkpoint_path(out, step)
    if accelerator.is_main_process:
        _remove(tmp)  # debris of a crash mid-write
    accelerator.wait_for_everyone()
    if lora:
        merged = accelerator.unwrap_model(model).merge_and_unload()
        save_model_files(accelerator, merged, processor, tmp)
    if accelerator.is_main_process:
        tmp.mkdir(exist_ok=True)
        for src in sorted(last.iterdir()):
            skip = src.is_dir() or (tmp / src.name).exists()  # state/; the merged model's own
            if not skip and not (lora and src.name in _ADAPTER_FILES):
                _link_or_copy(src, tmp / src.name)
        apply_umask(tmp)
        _fsync_files(tmp)
        _remove(final)  # an earlier end of this run (a resume trained on)
        os.replace(tmp, final)
        _fsync_dir(out)
        print(f"# done: {final}", file=sys.stderr, flush=True)
    accelerator.wait_for_everyone()


# A LoRA checkpoint's adapter files, which the merged final replaces.
_ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "README.md")


def _link_or_copy(src: Path, dst: Path) -> None:
    # a hard link costs no disk and survives the checkpoint's pruning; some filesystems
    # (and other devices) have none
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
