"""Sample a video's frames exactly as training does and write a contact sheet.

An image file (.jpg, .png, ...) goes through the image loader instead, as training loads it
(so a truncated JPEG is refused here as it is there), and the sheet shows it at its model
resolution (default image pixels 4x28x28 to 256x28x28).

The sheet shows every sampled frame at its model resolution, labelled with its source frame
index and timestamp, so you can see what the model sees. The sampling rules are qwen-vl-utils'
(2 fps, 4..max-frames frames, even count, per-frame pixel limits); defaults are the published
training settings (16 frames, 128x28x28 pixels per frame).

Example:
  video-r1 frames clip.mp4 --out sheet.png
  video-r1 frames clip.mp4 --max-frames 64 --max-pixels 200704 --out eval64.png
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="video file to sample (or an image file to resize)")
    parser.add_argument("--out", required=True, help="contact sheet to write (.png or .jpg)")
    parser.add_argument(
        "--nframes",
        type=int,
        default=None,
        help="exact number of frames (rounded to even); overrides --fps",
    )
    parser.add_argument("--fps", type=float, default=2.0, help="sampling rate (default 2.0)")
    parser.add_argument(
        "--max-frames",
        type=int,
        default=16,
        help="most frames sampled at --fps (default 16, training)",
    )
    parser.add_argument("--min-frames", type=int, default=4, help="fewest frames (default 4)")
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="per-frame pixel cap (default 100352 = 128x28x28, training; evaluation uses 200704;"
        " images: 200704)",
    )
    parser.add_argument(
        "--min-pixels",
        type=int,
        default=None,
        help="per-frame pixel floor (default 100352; images: 3136)",
    )
    parser.add_argument(
        "--factor",
        type=int,
        default=28,
        help="sides are multiples of this (28 Qwen2/2.5-VL, 32 Qwen3-VL)",
    )
    parser.add_argument("--columns", type=int, default=4, help="frames per row (default 4)")
    parser.add_argument(
        "--backend",
        choices=["auto", "pyav", "decord"],
        default="auto",
        help="decoder (default auto: PyAV, then decord)",
    )


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _image_as_clip(args: argparse.Namespace):
    """An image file through the training image loader, as a one-frame Clip for the sheet."""
    from video_r1.media import ImageSettings, load_image
    from video_r1.media.types import Clip

    d = ImageSettings()
    settings = ImageSettings(
        min_pixels=args.min_pixels or d.min_pixels,
        max_pixels=args.max_pixels or d.max_pixels,
        factor=args.factor,
    )
    image = load_image(args.video, settings)  # uint8 [3, H, W]
    return Clip(frames=image[None], indices=(0,), timestamps=(0.0,), source_fps=0.0,
                path=str(args.video))  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from video_r1.media import MediaError, VideoSettings, load_video
    from video_r1.media.sheet import write_contact_sheet

    is_image = Path(args.video).suffix.lower() in IMAGE_SUFFIXES
    try:
        if is_image:
            clip = _image_as_clip(args)
        else:
            settings = VideoSettings(
                fps=args.fps,
                min_frames=args.min_frames,
                max_frames=args.max_frames,
                nframes=args.nframes,
                min_pixels=args.min_pixels or 128 * 28 * 28,
                max_pixels=args.max_pixels or 128 * 28 * 28,
                factor=args.factor,
            )
            clip = load_video(args.video, settings, backend=args.backend)
    except MediaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    write_contact_sheet(clip, args.out, columns=args.columns)
    height, width = clip.frames.shape[-2:]
    if is_image:
        print(f"{clip.path}: image of {width}x{height} (image loader) -> {args.out}")
        return 0
    print(
        f"{clip.path}: {clip.num_frames} frames of {width}x{height} "
        f"(source {clip.source_fps:.3f} fps) -> {args.out}"
    )
    for index, seconds in zip(clip.indices, clip.timestamps, strict=True):
        print(f"  frame {index:6d}  t={seconds:8.3f}s")
    return 0
