"""Media stage: sample and resize video frames and images with the qwen-vl-utils rules.

Public API: load_video, load_image, probe_video, FrameCache, smart_nframes, smart_resize,
sample_indices, and the types (VideoSettings, ImageSettings, Clip, VideoInfo, MediaError,
BackendMissing).
`record_media`: a record's media at a run's settings; `frame_order`: T-GRPO's time shuffle.
"""

from video_r1.media.cache import FrameCache
from video_r1.media.image import load_image
from video_r1.media.sampling import frame_size, sample_indices, smart_nframes, smart_resize
from video_r1.media.types import (
    BackendMissing,
    Clip,
    ImageSettings,
    MediaError,
    VideoInfo,
    VideoSettings,
)
from video_r1.media.video import load_video, probe_video

__all__ = [
    "BackendMissing",
    "Clip",
    "FrameCache",
    "ImageSettings",
    "MediaError",
    "VideoInfo",
    "VideoSettings",
    "frame_size",
    "load_image",
    "load_video",
    "probe_video",
    "sample_indices",
    "smart_nframes",
    "smart_resize",
]
