"""Greedy evaluation of a checkpoint on a benchmark's test split with frames in order and
time-shuffled, at one frame count and one square frame size: the frame-order test that the
demo and the temporal experiment both report (`video-r1 eval --compare-frame-order` is the
general form)."""

from __future__ import annotations

from pathlib import Path


def evaluate_both_orders(
    model_dir: Path, bench_dir: Path, out: Path, *, frames: int, size: int,
    max_new_tokens: int, progress: bool = True,
) -> None:  # fmt: skip
    """Evaluate `model_dir` on `bench_dir/test.jsonl` (media under bench_dir) into `out`:
    greedy decoding, `frames` frames of size x size pixels (images too), ordered and shuffled."""
    from video_r1.evaluation.runner import EvalRun, evaluate
    from video_r1.evaluation.settings import EvalSettings

    pixels = size * size
    settings = EvalSettings(
        frames=frames, fps=2.0, video_min_pixels=pixels, video_max_pixels=pixels,
        image_min_pixels=pixels, image_max_pixels=pixels, greedy=True,
        max_new_tokens=max_new_tokens, wording="eval",
    )  # fmt: skip
    evaluate(
        EvalRun(
            model=str(model_dir.resolve()),
            benchmarks=[bench_dir / "test.jsonl"],
            media_root=bench_dir,
            out=out,
            settings=settings,
            orders=["ordered", "shuffled"],
            batch_size=32,
            dtype="float32",
            device="cpu",
            progress=progress,
        )
    )
