"""Content hashes that say whether a resumed job still reads the same inputs.

A path alone does not: a benchmark file edited in place, or a checkpoint folder that SFT
wrote again, keeps its name and changes what the results mean.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def file_sha256(path: str | os.PathLike) -> str:
    """Hash of a file's bytes (a benchmark file edited between runs must not be resumed)."""
    return _sha256_of([Path(path)])


def weights_sha256(folder: str | os.PathLike) -> str | None:
    """Hash of a checkpoint folder's weight files (`*.safetensors`, `*.bin`, in name order,
    their bytes one after the other); None when the folder holds none (a hub id, say).

    A checkpoint retrained into the same folder has the same path and other weights: a job
    resumed on it must be refused, not mixed with the old model's work.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    files = sorted({*folder.glob("*.safetensors"), *folder.glob("*.bin")})
    return _sha256_of(files) if files else None


def _sha256_of(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
