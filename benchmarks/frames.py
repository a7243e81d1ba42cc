"""Frame sampling speed: the 16 training frames of a clip, video-r1 vs qwen-vl-utils.

Run: .venv/bin/python benchmarks/frames.py [VIDEO] [--runs 7]

VIDEO defaults to video1.mp4 (../shared/media/ beside the repository, or $VIDEO_R1_TEST_VIDEO),
else a generated stand-in of its geometry (video_r1.media.reference_clip).

Prints the median of each (after one warm-up call), the ratio to qwen-vl-utils, and checks
that both sample the same frame indices at the same size with close pixel values. Goals: at
least 2x faster than qwen-vl-utils uncached, 20x with the frame cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")  # torchcodec is broken here
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from video_r1.compat import ensure_torchvision_importable  # noqa: E402

ensure_torchvision_importable()  # qwen-vl-utils imports torchvision


def median_ms(fns: dict, runs: int) -> tuple[dict[str, float], dict[str, object]]:
    """Median milliseconds of each function, runs interleaved so load from other processes
    on the machine hits every variant alike; one untimed warm-up call each."""
    results = {name: fn() for name, fn in fns.items()}  # warm-up: imports, page cache
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=None, help="default: video1.mp4 (see above)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per variant (>= 5)")
    args = parser.parse_args(argv)
    from qwen_vl_utils import process_vision_info

    from video_r1.media import FrameCache, VideoSettings, load_video
    from video_r1.media.reference_clip import reference_clip

    if args.video is None:  # the stand-in, when needed, is kept for the next run
        args.video = str(reference_clip(Path(tempfile.gettempdir()) / "video-r1"))

    settings = VideoSettings()  # training: 2 fps, 4..16 frames, 128x28x28 pixels per frame
    messages = [
        {
            "role": "user",
            "content": [
                {
                    "type": "video",
                    "video": args.video,
                    "fps": settings.fps,
                    "min_frames": settings.min_frames,
                    "max_frames": settings.max_frames,
                    "min_pixels": settings.min_pixels,
                    "max_pixels": settings.max_pixels,
                    "total_pixels": settings.total_pixels,
                },
                {"type": "text", "text": "?"},
            ],
        }
    ]

    def qwen():
        _, videos, _ = process_vision_info(
            messages, return_video_kwargs=True, return_video_metadata=True
        )
        return videos[0]

    with tempfile.TemporaryDirectory() as tmp:
        cache = FrameCache(tmp)
        ms, out = median_ms(
            {
                "qwen": qwen,
                "auto": lambda: load_video(args.video, settings),
                "decord": lambda: load_video(args.video, settings, backend="decord"),
                "cached": lambda: load_video(args.video, settings, cache=cache),
            },
            args.runs,
        )
    (reference, meta), clip, cached = out["qwen"], out["auto"], out["cached"]
    qwen_ms, ours_ms, decord_ms, cached_ms = ms["qwen"], ms["auto"], ms["decord"], ms["cached"]

    assert list(clip.indices) == list(meta["frames_indices"]), "frame indices differ"
    assert clip.frames.shape == reference.shape, "frame sizes differ"
    assert cached.indices == clip.indices and bool((cached.frames == clip.frames).all())
    mad = (clip.frames.float() - reference).abs().mean().item()
    t, _, h, w = clip.frames.shape
    print(f"{args.video}: {t} frames {w}x{h}, indices {list(clip.indices)}")
    print(f"mean |video-r1 - qwen-vl-utils| pixel difference: {mad:.3f} / 255")
    print(f"median of {args.runs} runs:")
    print(f"  qwen-vl-utils process_vision_info  {qwen_ms:8.1f} ms")
    print(f"  video-r1 load_video (auto: PyAV)   {ours_ms:8.1f} ms  {qwen_ms / ours_ms:5.1f}x")
    print(f"  video-r1 load_video (decord)       {decord_ms:8.1f} ms  {qwen_ms / decord_ms:5.1f}x")
    print(f"  video-r1 load_video (cached)       {cached_ms:8.1f} ms  {qwen_ms / cached_ms:5.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
