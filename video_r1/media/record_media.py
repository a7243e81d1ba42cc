"""Media of a record at the run's settings (shared by SFT and GRPO).

    cache = make_frame_cache(cfg.media)
    media = load_record_media(record, cfg.media, cache)   # Clip or uint8 [3, H, W]

Raises `video_r1.media.MediaError` naming the file and reason; the recipe's bad-sample policy
decides what happens next.
"""

from __future__ import annotations

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
