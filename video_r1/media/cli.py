"""Sample a video's frames exactly as training does and write a contact sheet.

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
    parser.add_argument("video", help="video file to sample")
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
        default=128 * 28 * 28,
        help="per-frame pixel cap (default 100352 = 128x28x28, training; evaluation uses 200704)",
    )
    parser.add_argument(
        "--min-pixels",
        type=int,
        default=128 * 28 * 28,
        help="per-frame pixel floor (default 100352)",
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


def run(args: argparse.Namespace) -> int:
    import sys

    from video_r1.media import MediaError, VideoSettings, load_video
    from video_r1.media.sheet import write_contact_sheet

    settings = VideoSettings(
        fps=args.fps,
        min_frames=args.min_frames,
        max_frames=args.max_frames,
        nframes=args.nframes,
        min_pixels=args.min_pixels,
        max_pixels=args.max_pixels,
        factor=args.factor,
    )
    try:
        clip = load_video(args.video, settings, backend=args.backend)
    except MediaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    write_contact_sheet(clip, args.out, columns=args.columns)
    height, width = clip.frames.shape[-2:]
    print(
        f"{clip.path}: {clip.num_frames} frames of {width}x{height} "
        f"(source {clip.source_fps:.3f} fps) -> {args.out}"
    )
    for index, seconds in zip(clip.indices, clip.timestamps, strict=True):
        print(f"  frame {index:6d}  t={seconds:8.3f}s")
    return 0
