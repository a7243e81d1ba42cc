"""Generate the synthetic benchmark: rendered mp4 clips and png images with questions.

Writes OUT/train.jsonl and OUT/test.jsonl (Video-R1 schema; `path` relative to OUT, so OUT
is the media root; `data_source` is the task name; train records carry a <think>
rationale for SFT), OUT/media/..., and OUT/tasks.json describing each task: problem and
data type, whether the answer depends on frame order, chance accuracy, and the best
accuracy reachable from the frames in random order. The same seed gives identical files.

Tasks (default mix weighted towards multiple-choice video):
  direction*, event_order*, reverse* (need the frame order; * = order-dependent),
  shape_video, count_video, light_fraction (video, order-independent),
  color_image, ocr_image, shape_image (image);
  appear* and lamp_window* (temporal grounding: when is the lamp on, in seconds; clips twice
  as long) only when named in --tasks.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="output folder (becomes the media root of the records)")
    parser.add_argument("--n", type=int, default=1000, help="records in all (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--tasks",
        help="comma-separated tasks, e.g. direction,reverse (default: all but the opt-in appear "
        "and lamp_window)",
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="share of each task's records that go to test.jsonl (default 0.2)",
    )
    parser.add_argument(
        "--size", type=int, default=112, help="frame/image side, multiple of 28 (default 112)"
    )
    parser.add_argument(
        "--frames", type=int, default=8, help="frames per clip, multiple of 4 (default 8)"
    )
    parser.add_argument("--fps", type=float, default=4.0, help="clip frame rate (default 4)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace train.jsonl/test.jsonl/tasks.json/media/ if OUT already holds a benchmark",
    )


def run(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from video_r1.synth.generate import generate_benchmark, select_tasks
    from video_r1.synth.tasks import SynthConfig

    out = Path(args.out)
    owned = [out / name for name in ("train.jsonl", "test.jsonl", "tasks.json", "media")]
    present = [p for p in owned if p.exists()]
    if present and not args.overwrite:
        print(f"error: {out} already holds {present[0].name}; pass --overwrite", file=sys.stderr)
        return 2
    try:
        cfg = SynthConfig(size=args.size, frames=args.frames, fps=args.fps)
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
        select_tasks(tasks)  # reject unknown names before touching OUT
        if (out / "media").exists():
            shutil.rmtree(out / "media")  # stale clips of a bigger earlier run would linger
        summary = generate_benchmark(
            out, args.n, args.seed, tasks, cfg, args.test_fraction, progress=True
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, counts in summary.counts.items():
        print(f"{name:<16} train {counts['train']:>5}  test {counts['test']:>5}")
    print(f"wrote {out / 'train.jsonl'}, {out / 'test.jsonl'}, {out / 'tasks.json'}")
    return 0
