"""A step's records decoded side by side: the same media as one by one, in record order, each
failure returned in its record's place (the recipe reports it as that record's bad sample)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import torch

from video_r1.data.records import Record
from video_r1.media import FrameCache, MediaError
from video_r1.media.record_media import load_record_media, load_records_media, side_by_side
from video_r1.train.config import MediaConfig


def _record(i: int, path: Path) -> Record:
    return Record(problem_id=i, problem="What happens?", data_type="video",
                  problem_type="multiple choice", solution="<answer>A</answer>",
                  path=path.name, media_path=path, options=("A. a", "B. b"))  # fmt: skip


def test_records_side_by_side_equal_one_by_one_and_keep_failures_in_place(media_dir, tmp_path):
    names = ["clip.mp4", "garbage.mp4", "rot90.mp4", "odd.mp4", "missing.mp4", "clip.mp4"]
    records = [_record(i, media_dir / name) for i, name in enumerate(names)]
    cfg = MediaConfig(max_frames=8)
    cache = FrameCache(tmp_path / "cache")
    loaded = load_records_media(records, cfg, cache)
    assert len(loaded) == len(records)
    for record, media in zip(records, loaded, strict=True):
        try:
            alone = load_record_media(record, cfg)
        except MediaError as e:
            assert isinstance(media, MediaError) and media.path == e.path == str(record.media_path)
            continue
        assert torch.equal(media.frames, alone.frames) and media.indices == alone.indices
    assert [type(m).__name__ for m in loaded] == ["Clip", "MediaError", "Clip", "Clip",
                                                  "MediaError", "Clip"]  # fmt: skip
    # the entries written from several threads are whole, with a plain open()'s mode
    entries = list((tmp_path / "cache").rglob("*.safetensors"))
    assert len(entries) == 3 and not list((tmp_path / "cache").rglob("*.tmp"))
    umask = os.umask(0)
    os.umask(umask)
    for entry in entries:
        assert stat.S_IMODE(entry.stat().st_mode) == 0o666 & ~umask


def test_side_by_side_is_at_least_two_and_at_most_the_records():
    assert side_by_side(1) == 1
    assert 2 <= side_by_side(64) <= 64
    assert side_by_side(2) == 2
