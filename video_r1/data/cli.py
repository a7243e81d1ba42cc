"""Check or summarise a Video-R1-format dataset (JSON list or JSONL).

video-r1 data check FILE --media-root DIR [--decode] [--workers N]
    Validate every record against the schema (fields and types, problem_type, data_type,
    options and answer letter, <answer> tag, media path under the root and present).
    Prints each problem as `file:line (problem_id): field: reason` (JSONL) or
    `file[index] (line N) (problem_id): field: reason` (JSON array, index 0-based), then a
    summary.
    With --decode, also opens every media file in parallel. Exit status 1 if any record
    is bad or the file holds no record, 0 if all are good.

video-r1 data stats FILE [--plot out.png]
    Counts by data_type, problem_type and data_source, and optionally a bar chart.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check",
        help="validate every record; exit 1 if any is bad",
        description="Validate every record of FILE and list each problem with where it is.",
    )
    check.add_argument("file", help="dataset file: a JSON list or JSONL")
    check.add_argument(
        "--media-root",
        required=True,
        help="folder that record paths are relative to; paths may not leave it",
    )
    check.add_argument(
        "--decode",
        action="store_true",
        help="also open every video/image (slow) and report the ones that fail to decode",
    )
    check.add_argument(
        "--workers", type=int, default=4, help="parallel decoders for --decode (default 4)"
    )
    stats = sub.add_parser(
        "stats",
        help="counts by data_type, problem_type and data_source",
        description="Print counts by data_type, problem_type and data_source of FILE.",
    )
    stats.add_argument("file", help="dataset file: a JSON list or JSONL")
    stats.add_argument("--plot", metavar="OUT.png", help="also write a bar chart to this file")


def run(args: argparse.Namespace) -> int:
    if args.data_command == "check":
        return _run_check(args)
    return _run_stats(args)


def _run_check(args: argparse.Namespace) -> int:
    from video_r1.data.load import read_records
    from video_r1.data.records import bad_record_count, file_order

    if args.workers < 1:
        print(f"error: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    try:
        records, problems = read_records(args.file, args.media_root)
    except (OSError, UnicodeDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    total = len(records) + bad_record_count(problems)  # a bad record has >= 1 problem
    if total == 0:
        print(f"error: {args.file}: no records (an empty dataset)", file=sys.stderr)
        return 1
    if args.decode:
        from video_r1.data.decode import decode_problems

        problems = sorted(
            problems + decode_problems(records, args.workers),
            key=lambda p: (*file_order(p), p.field),
        )
    for problem in problems:
        print(problem)
    bad = bad_record_count(problems)
    print(
        f"{args.file}: {total} record(s), {total - bad} good, {bad} bad, "
        f"{len(problems)} problem(s)" + (" (media decoded)" if args.decode else "")
    )
    return 1 if problems else 0


def _run_stats(args: argparse.Namespace) -> int:
    from video_r1.data.parse import read_raw_records
    from video_r1.data.stats import count_fields, format_table, plot_counts

    try:
        raws, problems = read_raw_records(args.file)
    except (OSError, UnicodeDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    counts = count_fields(raw.value for raw in raws)
    unreadable = f", {len(problems)} unreadable" if problems else ""
    print(f"{args.file}: {len(raws)} record(s){unreadable}")
    print(format_table(counts, len(raws)))
    if args.plot:
        out = plot_counts(counts, args.plot, title=f"{args.file} ({len(raws)} records)")
        print(f"wrote {out}")
    return 0
