"""FrameCache: a second load reads the stored clip; a changed file or setting misses."""

from __future__ import annotations

import os

import torch

from video_r1.media import FrameCache, VideoSettings, load_video


def test_second_load_reads_the_cache(media_dir, tmp_path):
    cache = FrameCache(tmp_path / "cache")
    settings = VideoSettings(max_frames=8)
    first = load_video(media_dir / "clip.mp4", settings, cache=cache)
    entries = list((tmp_path / "cache").rglob("*.safetensors"))
    assert len(entries) == 1
    again = load_video(media_dir / "clip.mp4", settings, cache=cache)
    assert torch.equal(again.frames, first.frames)
    assert (again.indices, again.timestamps, again.source_fps, again.path) == (
        first.indices,
        first.timestamps,
        first.source_fps,
        first.path,
    )
    # Proof it came from disk: poison the entry's frames and read it back.
    stored = cache.get(media_dir / "clip.mp4", settings)
    poisoned = stored.reordered(list(reversed(range(stored.num_frames))))
    cache.put(media_dir / "clip.mp4", settings, poisoned)
    assert load_video(media_dir / "clip.mp4", settings, cache=cache).indices == poisoned.indices


def test_key_changes_with_settings_and_file(media_dir, tmp_path):
    cache = FrameCache(tmp_path / "cache")
    video = tmp_path / "v.mp4"
    video.write_bytes((media_dir / "clip.mp4").read_bytes())
    a = cache.entry_path(video, VideoSettings())
    assert cache.entry_path(video, VideoSettings(max_frames=32)) != a
    stat = video.stat()
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert cache.entry_path(video, VideoSettings()) != a


def test_damaged_entry_is_a_miss_and_is_rewritten(media_dir, tmp_path):
    cache = FrameCache(tmp_path / "cache")
    settings = VideoSettings(max_frames=4)
    clip = load_video(media_dir / "clip.mp4", settings, cache=cache)
    entry = cache.entry_path(media_dir / "clip.mp4", settings)
    entry.write_bytes(entry.read_bytes()[:100])
    assert cache.get(media_dir / "clip.mp4", settings) is None
    again = load_video(media_dir / "clip.mp4", settings, cache=cache)
    assert torch.equal(again.frames, clip.frames)
    assert cache.get(media_dir / "clip.mp4", settings) is not None
