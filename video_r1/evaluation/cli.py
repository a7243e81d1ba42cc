"""Evaluate a model on video benchmarks (Video-R1 evaluation schema), exactly and resumably.

    video-r1 eval --model DIR --bench eval_mvbench.json [more files] --media-root DIR --out DIR
        [--frames 16|32|64] [--max-pixels P] [--greedy | --temperature T --top-p P]
        [--batch-size B] [--frame-order ordered|shuffled|reversed | --compare-frame-order]
        [--shard i/n]
    video-r1 eval --predictions preds.jsonl --bench eval_mvbench.json --out DIR
    video-r1 eval --merge DIR1 DIR2 ... --out DIR

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
                 VSI-Bench combined score for VSI-Bench files; for temporal grounding
                 samples `grounding`: mIoU and recall@0.3/0.5/0.7 (share with IoU >= m; an
                 answer stating no interval, or a reversed one, is IoU 0 and counts); with
                 --compare-frame-order the per-task drop table (ordered - shuffled, ...).
  summary.md     the same as Markdown tables.

Rerunning the same command resumes: finished samples are skipped, none is run twice. A resume
must use the same model, settings, dtype, attention implementation and bench file contents
(run.json); it names what differs otherwise. One process at a time per --out: a second says
who holds the folder (.lock: pid, host, start time) and exits 1.

--shard i/n runs every n-th record starting at the i-th (1-based), into its own --out, so n
GPUs or machines can split a benchmark; --merge joins the n finished shard folders.
--predictions scores outputs made elsewhere (JSONL of {"problem_id", "output"}; see
video_r1.evaluation.offline) with the same scoring and report, no model loaded.

Exit status: 0 done (a warning names the count of failed samples and how to retry them),
1 every sample failed (e.g. a wrong --media-root), the folder is locked or too many
generation errors in a row, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from video_r1.evaluation.settings import FRAME_ORDERS, add_settings_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from video_r1.evaluation.answering import add_engine_arguments, add_model_arguments

    add_model_arguments(parser, required=False)
    add_engine_arguments(parser)
    parser.add_argument(
        "--bench",
        nargs="+",
        metavar="FILE",
        help="benchmark files (JSON list or JSONL, Video-R1 schema); names must differ",
    )
    parser.add_argument(
        "--media-root", help="folder the records' `path` fields are relative to (model runs)"
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
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="run only shard I of N (every N-th record from the I-th, 1-based) into --out",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--predictions",
        metavar="FILE",
        help='score a JSONL of {"problem_id", "output"} lines instead of running a model',
    )
    source.add_argument(
        "--merge", nargs="+", metavar="DIR", help="merge the finished folders of --shard runs"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_settings_arguments(parser)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """ "2/4" -> (2, 4); ValueError unless 1 <= i <= n.

    Example: parse_shard("1/2") -> (1, 2)
    """
    if text is None:
        return None
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected I/N, e.g. 1/4") from None
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text!r}: need 1 <= I <= N")
    return index, count


def _check_inputs(args: argparse.Namespace) -> None:
    """ValueError naming the flag for an inconsistent command line."""
    if args.merge:
        if args.bench or args.model:
            raise ValueError("--merge takes the shard folders only (no --bench, no --model)")
        return
    if not args.bench:
        raise ValueError("--bench is required (the benchmark files)")
    names = [Path(b).name for b in args.bench]
    if len(set(names)) != len(names):
        raise ValueError(f"benchmark file names must differ (they key the results): {names}")
    for bench in args.bench:
        if Path(bench).is_file() and not Path(bench).read_text(encoding="utf-8-sig").strip():
            raise ValueError(f"--bench {bench}: the file is empty (no records to evaluate)")
    if args.predictions:
        if not Path(args.predictions).is_file():
            raise ValueError(f"--predictions {args.predictions}: no such file")
        return
    for flag, value in (("--model", args.model), ("--media-root", args.media_root)):
        if not value:
            raise ValueError(f"{flag} is required to run a model (or give --predictions FILE)")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")


def _finish(result, out: Path, argv_hint: str) -> int:
    """Print the report and the outcome; 1 if every sample failed."""
    print(result.report)
    print(f"wrote {out / 'samples.jsonl'}, summary.json and summary.md")
    if result.total and result.failed == result.total:
        first = result.summary["errors"][0]["error"]
        print(
            f"error: all {result.total} samples failed (first: {first}); check --media-root "
            f"and the errors in {out / 'summary.json'}",
            file=sys.stderr,
        )
        return 1
    if result.failed:
        print(
            f"warning: {result.failed} of {result.total} samples failed and are left out of the "
            f"scores (errors in {out / 'summary.json'}); retry them with: {argv_hint}",
            file=sys.stderr,
        )
    return 0


def run(args: argparse.Namespace) -> int:
    from video_r1.data import RecordError
    from video_r1.evaluation.lock import LockHeld
    from video_r1.evaluation.offline import merge_shards, score_predictions
    from video_r1.evaluation.runner import EvalAborted, evaluate
    from video_r1.rollout.vllm_engine import VLLMMissing

    out = Path(args.out)
    try:
        _check_inputs(args)
        if args.merge:
            hint = "each shard's command with --retry-failed, then --merge again"
            return _finish(merge_shards([Path(d) for d in args.merge], out), out, hint)
        if args.predictions:
            result = score_predictions(Path(args.predictions), [Path(b) for b in args.bench], out)
            return _finish(result, out, "(predictions: fix them and rerun)")
        result = evaluate(_eval_run(args))
    except (RecordError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (EvalAborted, LockHeld, VLLMMissing) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return _finish(result, out, "the same command with --retry-failed")


def _eval_run(args: argparse.Namespace):
    """The EvalRun of a model run's flags (printing the resolved settings)."""
    from video_r1.evaluation.answering import vllm_settings_from_args
    from video_r1.evaluation.runner import EvalRun
    from video_r1.evaluation.settings import describe_settings, settings_from_args

    settings = settings_from_args(args)
    orders = list(FRAME_ORDERS) if args.compare_frame_order else [args.frame_order]
    print(f"evaluation settings:\n{describe_settings(settings)}")
    print(f"  frame orders: {', '.join(orders)}\n  batch size: {args.batch_size}")
    return EvalRun(
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
        shard=parse_shard(args.shard),
        engine=args.engine,
        vllm=vllm_settings_from_args(args),
    )
