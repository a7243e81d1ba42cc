"""A portable experiment base: the SFT checkpoint every run starts from, shipped as files.

The same code, data and seed build other SFT checkpoints on other CPUs: torch's, MKL's and
oneDNN's kernels round differently, and this benchmark's SFT amplifies it (an Intel Xeon
built another checkpoint than AMD EPYC machines even with the kernels held to AVX2:
docs/experiment_temporal.md, "Rebuilding the base on another machine"). So a comparison
whose seeds are spread over sessions on different machines cannot count on rebuilding its
base. The synthetic benchmark and the initial model come out the same (checked here, not
assumed), so a base travels as its SFT checkpoint plus a manifest of what it was trained from:

    export_base(base, dest)  # dest/: the checkpoint's files (no optimizer state), base.json
    adopt_base(dest, base)   # base/sft/final from dest, once base/'s benchmark and initial
                             # model are checked to be the ones it was trained from
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from video_r1.utils.hashing import weights_sha256
from video_r1.utils.io import current_umask

MANIFEST = "base.json"
# what `from_pretrained` and the evaluation read; the optimizer state and the resolved SFT
# config (which names this machine's folders) stay behind
CHECKPOINT_FILES = ("model.safetensors", "config.json", "generation_config.json",
                    "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                    "processor_config.json", "trainer_state.json")  # fmt: skip


def tree_sha256(folder: Path) -> str:
    """sha256 of every file under `folder`: relative paths and bytes, in path order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def base_manifest(base: Path) -> dict[str, str]:
    """What a base's runs depend on: its SFT weights, the initial model SFT started from and
    the synthetic benchmark (training records, test split, media), each as a sha256."""
    sft, initial = weights_sha256(base / "sft" / "final"), weights_sha256(base / "tiny_model")
    if sft is None or initial is None or not (base / "synth" / "tasks.json").exists():
        raise FileNotFoundError(f"{base}: not an experiment base (synth/, tiny_model/ and "
                                "sft/final/ with weights are needed)")  # fmt: skip
    return {"sft": sft, "initial_model": initial, "benchmark": tree_sha256(base / "synth")}


def _copy_atomically(files: list[Path], dest: Path, extra: dict[str, str]) -> None:
    """`files` and `extra` (name -> text) into a new folder `dest`, which appears whole or
    not at all."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        tmp.chmod(0o777 & ~current_umask())  # an ordinary folder, not mkdtemp's private 0700
        for file in files:
            shutil.copyfile(file, tmp / file.name)
        for name, text in extra.items():
            (tmp / name).write_text(text)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def export_base(base: Path, dest: Path) -> dict[str, str]:
    """Write `base`'s SFT checkpoint to the new folder `dest` with its manifest; returns the
    manifest. FileExistsError if `dest` exists (a shipped base is never overwritten)."""
    if dest.exists():
        raise FileExistsError(f"{dest} exists; export to a new folder")
    manifest = base_manifest(base)
    final = base / "sft" / "final"
    files = [final / name for name in CHECKPOINT_FILES if (final / name).exists()]
    _copy_atomically(files, dest, {MANIFEST: json.dumps(manifest, indent=1) + "\n"})
    return manifest


def adopt_base(source: Path, base: Path) -> None:
    """Make `source` (an `export_base` folder) the SFT checkpoint of `base`, whose synth/ and
    tiny_model/ are built (a base that already has it, resumed, is only checked).

    ValueError, naming both hashes, if its weights are not the ones its manifest names, if
    this base's benchmark or initial model differ from those it was trained from, or if the
    base already holds another SFT checkpoint; nothing is written then.
    """
    try:
        manifest = json.loads((source / MANIFEST).read_text())
        wanted = {key: manifest[key] for key in ("sft", "initial_model", "benchmark")}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{source}: not an exported base ({MANIFEST}: {e})") from None
    if weights_sha256(source) != wanted["sft"]:
        raise ValueError(f"{source}: its weights are not the checkpoint {wanted['sft'][:16]} "
                         f"its {MANIFEST} names (changed after export?)")  # fmt: skip
    here = {"initial_model": weights_sha256(base / "tiny_model"),
            "benchmark": tree_sha256(base / "synth")}  # fmt: skip
    for key, value in here.items():
        if value != wanted[key]:
            raise ValueError(
                f"{source} was trained from {key} {wanted[key][:16]}, but {base} has "
                f"{(value or 'none')[:16]}: its runs would start from another setting"
            )
    final = base / "sft" / "final"
    if final.exists():
        held = weights_sha256(final)
        if held != wanted["sft"]:
            raise ValueError(f"{final} holds the checkpoint {(held or 'none')[:16]}, not "
                             f"{source}'s {wanted['sft'][:16]}; use another --out")  # fmt: skip
        return
    files = [p for p in sorted(source.iterdir()) if p.is_file() and p.name != MANIFEST]
    _copy_atomically(files, final, {})
