"""Evaluation settings: frames, pixels, decoding, frame order. One home for eval, annotate, infer.

Defaults are the published evaluation settings (docs/spec.md#rollouts-and-decoding): up to 16
frames at 2 fps (`--frames 16|32|64`), per-frame pixels in [128x28x28, 256x28x28], images up
to 256x28x28, temperature 0.01 (paper; the code used 0.1), top_p 0.001, 1024 new tokens.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, replace
from typing import Any

from video_r1.media.types import (
    EVAL_VIDEO_MAX_PIXELS,
    FPS,
    IMAGE_MAX_PIXELS,
    IMAGE_MIN_PIXELS,
    VIDEO_MIN_PIXELS,
    ImageSettings,
    VideoSettings,
)
from video_r1.prompts.frame_times import FRAME_TIMES_IN_PROMPT

FRAME_ORDERS: tuple[str, ...] = ("ordered", "shuffled", "reversed")


@dataclass(frozen=True)
class EvalSettings:
    """Everything that decides what the model sees and how it decodes (saved with results)."""

    frames: int = 16  # max frames per video (sampled at `fps`, qwen-vl-utils rules)
    fps: float = FPS
    video_min_pixels: int = VIDEO_MIN_PIXELS
    video_max_pixels: int = EVAL_VIDEO_MAX_PIXELS
    image_min_pixels: int = IMAGE_MIN_PIXELS
    image_max_pixels: int = IMAGE_MAX_PIXELS
    temperature: float = 0.01
    top_p: float = 0.001
    max_new_tokens: int = 1024
    greedy: bool = False
    seed: int = 0  # seeds sampling per batch and the per-sample frame shuffle
    wording: str = "eval"  # question template wording (video_r1.prompts)
    frame_times_in_prompt: str = "auto"  # state frame times in the prompt (prompts.frame_times)

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise ValueError(f"frames must be >= 2 (frames are paired), got {self.frames}")
        if self.frame_times_in_prompt not in FRAME_TIMES_IN_PROMPT:
            raise ValueError(
                f"frame_times_in_prompt must be auto, on or off, got {self.frame_times_in_prompt!r}"
            )
        if self.video_min_pixels > self.video_max_pixels:
            raise ValueError(
                f"video min pixels {self.video_min_pixels} > max pixels {self.video_max_pixels}"
            )
        if self.image_min_pixels > self.image_max_pixels:
            raise ValueError(
                f"image min pixels {self.image_min_pixels} > max pixels {self.image_max_pixels}"
            )
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not self.greedy and not (self.temperature > 0 and 0 < self.top_p <= 1):
            raise ValueError(
                f"sampling needs temperature > 0 and 0 < top_p <= 1, got {self.temperature}, "
                f"{self.top_p}; use --greedy for greedy decoding"
            )

    def video_settings(self, factor: int) -> VideoSettings:
        """Frame sampling for a model whose patch x merge size is `factor` (28, or 32)."""
        return VideoSettings(
            fps=self.fps,
            max_frames=self.frames,
            min_pixels=self.video_min_pixels,
            max_pixels=self.video_max_pixels,
            factor=factor,
        )

    def image_settings(self, factor: int) -> ImageSettings:
        return ImageSettings(
            min_pixels=self.image_min_pixels, max_pixels=self.image_max_pixels, factor=factor
        )

    def decoding(self) -> dict[str, Any]:
        """The decoding part, as written into every per-sample line.

        Example:
            EvalSettings().decoding() -> {"greedy": False, "temperature": 0.01, "top_p": 0.001,
            "max_new_tokens": 1024}
        """
        if self.greedy:
            return {"greedy": True, "max_new_tokens": self.max_new_tokens}
        return {
            "greedy": False,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_new_tokens": self.max_new_tokens,
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def with_(self, **changes: Any) -> EvalSettings:
        return replace(self, **changes)


def add_settings_arguments(
    parser: argparse.ArgumentParser,
    *,
    max_new_tokens: int = 1024,
    temperature: float = 0.01,
    top_p: float = 0.001,
    source: str = "published eval defaults",
    temperature_help: str = "eval: paper 0.01, published code 0.1",
) -> None:
    """The frame, pixel and decoding flags shared by eval, annotate and infer; the decoding
    defaults are the command's own published ones (`source` names them in --help, and
    `temperature_help` what the published values of the temperature were)."""
    d = EvalSettings()
    group = parser.add_argument_group(f"frames, pixels and decoding ({source})")
    group.add_argument(
        "--frames",
        type=int,
        default=d.frames,
        help="max frames per video, sampled at --fps (published: 16, 32 or 64; default 16)",
    )
    group.add_argument("--fps", type=float, default=d.fps, help="frame sampling rate (default 2)")
    group.add_argument(
        "--max-pixels",
        type=int,
        default=d.video_max_pixels,
        help=f"per-frame max pixels (default 256x28x28 = {d.video_max_pixels})",
    )
    group.add_argument(
        "--min-pixels",
        type=int,
        default=d.video_min_pixels,
        help=f"per-frame min pixels (default 128x28x28 = {d.video_min_pixels})",
    )
    group.add_argument(
        "--image-max-pixels",
        type=int,
        default=d.image_max_pixels,
        help=f"image max pixels (default 256x28x28 = {d.image_max_pixels})",
    )
    group.add_argument(
        "--image-min-pixels",
        type=int,
        default=d.image_min_pixels,
        help=f"image min pixels (default 4x28x28 = {d.image_min_pixels})",
    )
    group.add_argument(
        "--temperature",
        type=float,
        default=temperature,
        help=f"sampling temperature ({temperature_help}; default {temperature})",
    )
    group.add_argument(
        "--top-p", type=float, default=top_p, help=f"nucleus top_p (default {top_p})"
    )
    group.add_argument(
        "--max-new-tokens",
        type=int,
        default=max_new_tokens,
        help=f"most generated tokens per answer (default {max_new_tokens})",
    )
    group.add_argument("--greedy", action="store_true", help="greedy decoding instead of sampling")
    group.add_argument(
        "--frame-times-in-prompt",
        choices=FRAME_TIMES_IN_PROMPT,
        default=d.frame_times_in_prompt,
        help="state each sampled frame's time (seconds) in the prompt: auto (default) for "
        "temporal grounding on models without a sense of time (Qwen2-VL), on for every video, "
        "off never",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        help="seed of sampling and of the per-sample frame shuffle (default 0)",
    )


def settings_from_args(args: argparse.Namespace, **overrides: Any) -> EvalSettings:
    """EvalSettings from the flags of `add_settings_arguments`; ValueError if inconsistent."""
    values = dict(
        frames=args.frames,
        fps=args.fps,
        video_min_pixels=args.min_pixels,
        video_max_pixels=args.max_pixels,
        image_min_pixels=args.image_min_pixels,
        image_max_pixels=args.image_max_pixels,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        greedy=args.greedy,
        seed=args.seed,
        frame_times_in_prompt=args.frame_times_in_prompt,
    )
    values.update(overrides)
    return EvalSettings(**values)


def describe_settings(settings: EvalSettings) -> str:
    """One line per setting, for printing the resolved settings at start.

    Example:
        describe_settings(EvalSettings()).splitlines()[0] -> "  frames: 16"
    """
    return "\n".join(f"  {k}: {v}" for k, v in settings.to_json().items())
