"""Qwen-VL models: loading, generation settings, tiny random checkpoints.

`load_model`, `load_processor`, `vision_token_ids`, `stop_token_ids`, `generation_config`,
`generation_stop_ids` (video_r1.models.loading)
and `build_tiny_model` (video_r1.models.tiny). Importing this package does not import
transformers; the functions do.
"""

from video_r1.models.loading import (
    generation_config,
    generation_stop_ids,
    load_model,
    load_processor,
    stop_token_ids,
    vision_token_ids,
)
from video_r1.models.tiny import ARCHES, build_tiny_model

__all__ = [
    "ARCHES",
    "build_tiny_model",
    "generation_config",
    "generation_stop_ids",
    "load_model",
    "load_processor",
    "stop_token_ids",
    "vision_token_ids",
]
