"""Media of a record at the run's settings (shared by SFT and GRPO).

    cache = make_frame_cache(cfg.media)
    media = load_record_media(record, cfg.media, cache)   # Clip or uint8 [3, H, W]
    loaded = load_records_media(records, cfg.media, cache)  # several side by side

Raises `video_r1.media.MediaError` naming the file and reason; the recipe's bad-sample policy
decides what happens next.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # media comes before training in the data flow: no runtime import of train
    from video_r1.train.config import MediaConfig


def make_frame_cache(cfg: MediaConfig) -> Any:
    """A FrameCache in `cfg.cache_dir`, or None when no cache folder is set."""
    if not cfg.cache_dir:
        return None
    from video_r1.media.cache import FrameCache

    return FrameCache(cfg.cache_dir)


def load_record_media(record: Any, cfg: MediaConfig, cache: Any = None) -> Any:
    """The record's video as a Clip, or its image as a uint8 [3, H, W] tensor."""
    from video_r1.media import load_image, load_video

    if record.data_type == "video":
        return load_video(record.media_path, cfg.video_settings(), cache=cache)
    if record.data_type == "image":
        return load_image(record.media_path, cfg.image_settings())
    raise ValueError(f"{record.source}: unknown data_type {record.data_type!r}")


def side_by_side(count: int) -> int:
    """Records decoded at once by `load_records_media`: half the CPUs this process may use
    (each clip decodes on up to two threads of its own), at least 2, at most `count`.

    Example: side_by_side(4) on a 2-CPU machine -> 2
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(count, max(2, cpus // 2)))


def load_records_media(records: Sequence[Any], cfg: MediaConfig, cache: Any = None) -> list[Any]:
    """Each record's media (`load_record_media`), or the exception its loading raised, in
    record order; the records are decoded side by side (`side_by_side`).

    A clip's decoding has serial parts (opening, demuxing, colour conversion, resizing) that
    leave CPUs idle: on this project's 2-CPU machine, 4 clips of video1.mp4 took 0.45 s one
    after another and 0.37-0.39 s two at a time. The results are the same either way.
    """

    def load(record: Any) -> Any:
        try:
            return load_record_media(record, cfg, cache)
        except Exception as e:  # returned, so the caller can name the record it belongs to
            return e

    if len(records) < 2:
        return [load(r) for r in records]
    with ThreadPoolExecutor(side_by_side(len(records)), thread_name_prefix="media") as pool:
        return list(pool.map(load, records))
