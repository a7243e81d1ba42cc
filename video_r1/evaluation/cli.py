"""Evaluate a model on video benchmarks (Video-R1 evaluation schema), exactly and resumably.

    video-r1 eval --model DIR --bench eval_mvbench.json [more files] --media-root DIR --out DIR
        [--frames 16|32|64] [--max-pixels P] [--greedy | --temperature T --top-p P]
        [--batch-size B] [--frame-order ordered|shuffled|reversed | --compare-frame-order]

Defaults are the published evaluation settings: up to 16 frames at 2 fps, 128x28x28 to
256x28x28 pixels per frame, temperature 0.01, top_p 0.001, 1024 new tokens.

Writes under --out:
  samples.jsonl  one line per (benchmark, problem_id, frame order), appended and fsynced as
                 each batch finishes: settings, raw output, extracted answer, scores under the
                 published and the official (VSI-Bench) semantics, correct, and `error` for a
                 sample that could not run (counted as failed, never as wrong).
  run.json       the settings the lines were made with (a resume must use the same).
  summary.json   per frame order, per benchmark and overall: n, failed, score per problem type
                 (accuracy, MRA, 1-WER, ROUGE), per task (`task` field, else data_source), the
                 VSI-Bench combined score for VSI-Bench files; with --compare-frame-order the
                 per-task drop table (ordered - shuffled, ordered - reversed).
  summary.md     the same as Markdown tables.

Rerunning the same command resumes: finished samples are skipped, none is run twice.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from video_r1.evaluation.settings import FRAME_ORDERS, add_settings_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from video_r1.evaluation.generate import add_model_arguments

    add_model_arguments(parser)
    parser.add_argument(
        "--bench",
        nargs="+",
        required=True,
        metavar="FILE",
        help="benchmark files (JSON list or JSONL, Video-R1 schema); names must differ",
    )
    parser.add_argument(
        "--media-root", required=True, help="folder the records' `path` fields are relative to"
    )
    parser.add_argument("--out", required=True, help="output folder (reused to resume)")
    parser.add_argument("--batch-size", type=int, default=4, help="samples per generate call")
    parser.add_argument(
        "--frame-order",
        choices=FRAME_ORDERS,
        default="ordered",
        help="order of the video frames shown (shuffled: seeded per sample; default ordered)",
    )
    parser.add_argument(
        "--compare-frame-order",
        action="store_true",
        help="run every frame order and report, per task, the drop from ordered frames",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="on resume, run again the samples that failed before",
    )
    parser.add_argument(
        "--max-consecutive-errors",
        type=int,
        default=20,
        help="stop when this many samples in a row fail to generate (0: never stop; default 20)",
    )
    parser.add_argument("--limit", type=int, default=0, help="first N records per file (0: all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_settings_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from video_r1.data import RecordError
    from video_r1.evaluation.runner import EvalAborted, EvalRun, evaluate
    from video_r1.evaluation.settings import describe_settings, settings_from_args

    try:
        settings = settings_from_args(args)
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        names = [Path(b).name for b in args.bench]
        if len(set(names)) != len(names):
            raise ValueError(f"benchmark file names must differ (they key the results): {names}")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    orders = list(FRAME_ORDERS) if args.compare_frame_order else [args.frame_order]
    print(f"evaluation settings:\n{describe_settings(settings)}")
    print(f"  frame orders: {', '.join(orders)}\n  batch size: {args.batch_size}")
    config = EvalRun(
        model=args.model,
        benchmarks=[Path(b) for b in args.bench],
        media_root=Path(args.media_root),
        out=Path(args.out),
        settings=settings,
        orders=orders,
        batch_size=args.batch_size,
        dtype=args.dtype,
        device=args.device,
        attn=args.attn,
        retry_failed=args.retry_failed,
        max_consecutive_errors=args.max_consecutive_errors,
        limit=args.limit,
        progress=not args.no_progress,
    )
    try:
        summary_md = evaluate(config)
    except (RecordError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except EvalAborted as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(summary_md)
    print(f"wrote {config.out / 'samples.jsonl'}, summary.json and summary.md")
    return 0
