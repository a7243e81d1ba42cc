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

video-r1 data convert --from charades-sta ANNOTATIONS.txt --videos DIR --out FILE
    Turn a published annotation file into records (video_r1.data.convert).
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
    _add_convert(sub)


def _add_convert(sub) -> None:
    from video_r1.data.convert import QUESTION, SOURCES

    convert = sub.add_parser(
        "convert",
        help="turn a published annotation file (Charades-STA) into records",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Turn Charades-STA annotation lines `VIDEO_ID START END##sentence` (seconds) into\n"
            "temporal grounding records, one per line:\n"
            '  problem: the question below with the query ("{query}"): the sentence stripped,\n'
            "           lower-cased, a final '.' removed (as Time-R1 reads it); the prompt adds\n"
            "           the grounding type's answer instruction\n"
            '  solution: "<answer>[START, END]</answer>"; path: VIDEO_ID.mp4 in --videos,\n'
            "           relative to --media-root; problem_id: VIDEO_ID_k (k-th moment of it);\n"
            '  data_source: "charades-sta"; query: the query.\n'
            "A bad line (not two numbers before '##', start >= end, negative, no sentence) is\n"
            "named as FILE:LINE: reason, and nothing is written unless --skip-bad. The output\n"
            "is written whole or not at all. Check the videos after: `video-r1 data check OUT\n"
            "--media-root ROOT --decode` (also flags a moment ending after its video).\n\n"
            f"Default question: {QUESTION}"
        ),
    )
    convert.add_argument(
        "--from", dest="source", required=True, choices=SOURCES, help="the annotation format"
    )
    convert.add_argument("annotations", help="the annotation file (e.g. charades_sta_train.txt)")
    convert.add_argument("--videos", required=True, help="folder holding VIDEO_ID.mp4")
    convert.add_argument(
        "--media-root",
        help="folder the records' paths are relative to, holding --videos (default: --videos)",
    )
    convert.add_argument("--out", required=True, help="output JSONL file")
    convert.add_argument(
        "--question", help="the problem text, with {query} where the query goes (default above)"
    )
    convert.add_argument(
        "--skip-bad", action="store_true", help="write the good lines' records despite bad lines"
    )


def run(args: argparse.Namespace) -> int:
    if args.data_command == "check":
        return _run_check(args)
    if args.data_command == "convert":
        return _run_convert(args)
    return _run_stats(args)


def _run_convert(args: argparse.Namespace) -> int:
    from video_r1.data.convert import QUESTION, convert_charades_sta
    from video_r1.utils.io import atomic_write_jsonl

    try:
        records, bad = convert_charades_sta(
            args.annotations, args.videos, args.media_root, args.question or QUESTION
        )
    except (OSError, UnicodeDecodeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for line in bad:
        print(line, file=sys.stderr)
    if bad and not args.skip_bad:
        print(
            f"error: {len(bad)} bad line(s) in {args.annotations}; nothing written "
            "(--skip-bad writes the others)",
            file=sys.stderr,
        )
        return 1
    if not records:
        print(f"error: {args.annotations}: no annotation line", file=sys.stderr)
        return 1
    atomic_write_jsonl(args.out, records)
    skipped = f", {len(bad)} bad line(s) skipped" if bad else ""
    print(f"wrote {len(records)} record(s) to {args.out}{skipped}")
    return 0


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
