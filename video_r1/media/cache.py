"""FrameCache: decoded, resized clips on disk, so a second epoch does not decode again.

One safetensors file per (file identity, sampling settings): the key hashes the resolved path,
size and mtime of the video, so an edited or replaced file is decoded afresh. Entries are
written atomically; a damaged entry is treated as a miss and rewritten.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path

import torch

from video_r1.media.types import Clip, VideoSettings
from video_r1.utils.io import atomic_write_bytes

logger = logging.getLogger(__name__)
CACHE_VERSION = 2  # bump when the decoded output of the same settings changes (2: edit lists)


def cache_key(path: str | os.PathLike, settings: VideoSettings) -> str:
    """Hex key of a video file's identity (resolved path, size, mtime) and the settings.

    Example: cache_key("clip.mp4", VideoSettings()) -> "3f1c..." (64 hex digits); touching the
    file or changing max_frames gives another key.
    """
    resolved = Path(path).resolve()
    stat = resolved.stat()
    identity = {
        "path": str(resolved),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "settings": dataclasses.asdict(settings),
        "version": CACHE_VERSION,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


class FrameCache:
    """Decoded clips stored under `directory`, one `<key>.safetensors` per entry."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def entry_path(self, path: str | os.PathLike, settings: VideoSettings) -> Path:
        key = cache_key(path, settings)
        return self.directory / key[:2] / f"{key}.safetensors"

    def get(self, path: str | os.PathLike, settings: VideoSettings) -> Clip | None:
        """The cached clip, or None if absent (or unreadable, which is logged)."""
        from safetensors import SafetensorError
        from safetensors.torch import load

        entry = self.entry_path(path, settings)
        try:
            data = entry.read_bytes()
        except FileNotFoundError:
            return None
        try:
            tensors = load(data)
            meta = json.loads(_metadata(data)["clip"])
        except (SafetensorError, ValueError, KeyError, OSError) as e:
            logger.warning("frame cache entry %s unreadable (%s): decoding again", entry, e)
            return None
        return Clip(
            frames=tensors["frames"],
            indices=tuple(int(i) for i in tensors["indices"].tolist()),
            timestamps=tuple(float(s) for s in tensors["timestamps"].tolist()),
            source_fps=float(meta["source_fps"]),
            path=str(path),
        )

    def put(self, path: str | os.PathLike, settings: VideoSettings, clip: Clip) -> Path:
        """Store `clip` for (path, settings); returns the entry's file."""
        from safetensors.torch import save

        entry = self.entry_path(path, settings)
        tensors = {
            "frames": clip.frames.contiguous(),  # uint8 [T, 3, H, W]
            "indices": torch.tensor(clip.indices, dtype=torch.int64),
            "timestamps": torch.tensor(clip.timestamps, dtype=torch.float64),
        }
        meta = {"clip": json.dumps({"source_fps": clip.source_fps, "path": str(path)})}
        atomic_write_bytes(entry, save(tensors, metadata=meta))
        return entry


def _metadata(data: bytes) -> dict:
    """The __metadata__ of a safetensors blob (its JSON header)."""
    header_size = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + header_size])["__metadata__"]
