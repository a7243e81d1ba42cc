"""Chain-of-thought annotation: a teacher answers each record; good answers become COT records.

    video-r1 annotate --teacher DIR --data train.jsonl --media-root DIR --out cot.jsonl
        [--samples K] [--threshold 0.6] [--batch-size B] [frame/pixel/decoding flags]

The teacher (any local Qwen-VL checkpoint, loaded like every model here) sees each record with
the CoT prompt (the evaluation wording of REFERENCE.md) at evaluation frames and pixels, K
answers per record if asked. An answer is kept when it is well formed (<think>...</think>
then <answer>...</answer>) and its accuracy reward is at least --threshold (published: 0.6);
of several kept answers the most accurate (then the first) wins. The record is written in the
COT schema: the original record with `process` = the answer's <think> block (the ground-truth
`solution` is kept), so `video-r1 data check` accepts it and `video-r1 sft` trains on it.

Writes OUT (records kept, input order, atomically), OUT.progress.jsonl (one fsynced line per
record: kept or the reason it was dropped, with the teacher's answers; rerunning resumes from
it) and OUT.summary.json (kept, dropped per reason). With K > 1, sample with a higher
temperature (e.g. --temperature 1.0 --top-p 0.95) or the K answers will be near-identical.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)


def judge_answers(
    outputs: list[str], ground_truth: str, problem_type: str, threshold: float
) -> tuple[int | None, str, list[dict[str, Any]]]:
    """(index of the answer to keep or None, reason, per-answer checks).

    reason is "kept", "malformed" (no answer well formed) or "inaccurate" (well formed, but
    accuracy < threshold).
    Example:
        judge_answers(["no tags", "<think>a</think><answer>B</answer>"], "B", "multiple choice",
                      0.6) -> (1, "kept", [{"format": False, "accuracy": 0.0},
                                           {"format": True, "accuracy": 1.0}])
    """
    from video_r1.rewards.parsing import extract_answer, has_think_answer_format
    from video_r1.rewards.scoring import score_answer

    checks = [
        {
            "format": has_think_answer_format(text),
            "accuracy": score_answer(extract_answer(text), ground_truth, problem_type),
        }
        for text in outputs
    ]
    formed = [i for i, c in enumerate(checks) if c["format"]]
    if not formed:
        return None, "malformed", checks
    best = max(formed, key=lambda i: (checks[i]["accuracy"], -i))
    if checks[best]["accuracy"] < threshold:
        return None, "inaccurate", checks
    return best, "kept", checks


def think_block(text: str) -> str:
    """The first <think>...</think> of an answer (its rationale). Example:
    think_block("<think>a</think> <answer>B</answer>") -> "<think>a</think>"."""
    match = THINK_RE.search(text)
    if match is None:
        raise ValueError(f"no <think>...</think> in {text[:80]!r}")
    return match.group(0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from video_r1.evaluation.generate import add_model_arguments
    from video_r1.evaluation.settings import add_settings_arguments

    add_model_arguments(parser, "--teacher")
    parser.add_argument("--data", required=True, help="records to annotate (Video-R1 schema)")
    parser.add_argument("--media-root", required=True, help="folder record paths are under")
    parser.add_argument("--out", required=True, help="COT records to write (.jsonl or .json)")
    parser.add_argument("--samples", type=int, default=1, help="answers per record (K)")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.6,
        help="least accuracy reward of a kept answer (published: 0.6)",
    )
    parser.add_argument("--batch-size", type=int, default=4, help="records per generate call")
    parser.add_argument("--limit", type=int, default=0, help="first N records only (0: all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_settings_arguments(parser)


def _progress_path(out: Path) -> Path:
    return out.with_name(out.name + ".progress.jsonl")


def run(args: argparse.Namespace) -> int:
    from video_r1.data import RecordError, load_records
    from video_r1.evaluation.settings import describe_settings, settings_from_args

    out = Path(args.out)
    try:
        settings = settings_from_args(args)
        if args.samples < 1 or args.batch_size < 1:
            raise ValueError("--samples and --batch-size must be >= 1")
        if out.suffix not in (".jsonl", ".json"):
            raise ValueError(f"--out {out}: use a .jsonl or .json file name")
        records = load_records(args.data, args.media_root)
    except (ValueError, RecordError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.limit:
        records = records[: args.limit]
    ids = [str(r.problem_id) for r in records]
    if len(set(ids)) != len(ids):
        print(f"error: {args.data}: repeated problem_ids (they key the resume)", file=sys.stderr)
        return 2
    print(f"annotation settings:\n{describe_settings(settings)}")
    print(f"  samples per record: {args.samples}\n  threshold: {args.threshold}")
    if args.samples > 1 and (args.greedy or settings.temperature < 0.5):
        print("warning: K > 1 with (near-)greedy decoding gives near-identical answers")
    summary = annotate(args, records, settings, out)
    print(f"kept {summary['kept']} of {summary['records']}; dropped: {summary['dropped']}")
    print(f"wrote {out}, {_progress_path(out)} and {out.with_suffix('.summary.json')}")
    return 0


def annotate(args: argparse.Namespace, records: list, settings: Any, out: Path) -> dict:
    """Annotate (resuming from the progress file), then write OUT and its summary."""
    import dataclasses

    from tqdm import tqdm

    from video_r1.data import write_records
    from video_r1.evaluation.generate import (
        generate_answers,
        load_media,
        load_model_and_processor,
        model_factor,
        stable_seed,
    )
    from video_r1.evaluation.results import drop_partial_last_line
    from video_r1.media import MediaError
    from video_r1.utils.io import append_jsonl, atomic_write_json, read_jsonl

    progress = _progress_path(out)
    drop_partial_last_line(progress)
    done = {str(line["problem_id"]): line for line in read_jsonl(progress)}
    todo = [r for r in records if str(r.problem_id) not in done]
    print(f"{len(records)} records: {len(records) - len(todo)} already done, {len(todo)} to run")
    if todo:
        model, processor = load_model_and_processor(
            args.teacher, dtype=args.dtype, device=args.device, attn=args.attn
        )
        factor = model_factor(processor)
        bar = tqdm(total=len(todo), desc="annotate", unit="record", disable=args.no_progress)
        kept = 0
        for start in range(0, len(todo), args.batch_size):
            batch, lines = [], []
            for record in todo[start : start + args.batch_size]:
                try:
                    batch.append((record, load_media(record, settings, factor)))
                except MediaError as err:
                    lines.append(
                        {
                            "problem_id": record.problem_id,
                            "kept": False,
                            "reason": "media error",
                            "error": str(err),
                        }
                    )
            if batch:
                seeds = [stable_seed(settings.seed, r.problem_id) for r, _ in batch]
                answers = generate_answers(
                    model,
                    processor,
                    [r for r, _ in batch],
                    [m for _, m in batch],
                    settings,
                    samples_per_record=args.samples,
                    seeds=seeds,
                )
                for (record, _), group in zip(batch, answers, strict=True):
                    texts = [a.text for a in group]
                    best, reason, checks = judge_answers(
                        texts, record.answer, record.problem_type, args.threshold
                    )
                    line = {
                        "problem_id": record.problem_id,
                        "kept": best is not None,
                        "reason": reason,
                        "outputs": texts,
                        "checks": checks,
                    }
                    if best is not None:
                        cot = dataclasses.replace(record, process=think_block(texts[best]))
                        line["record"] = cot.to_json()
                    lines.append(line)
            for line in lines:
                append_jsonl(progress, line)
                done[str(line["problem_id"])] = line
                kept += line["kept"]
            bar.update(len(lines))
            bar.set_postfix(kept=kept, dropped=bar.n - kept)
        bar.close()

    finals = [done[str(r.problem_id)] for r in records]
    kept_records = [
        dataclasses.replace(r, process=line["record"]["process"])
        for r, line in zip(records, finals, strict=True)
        if line["kept"]
    ]
    write_records(out, kept_records)
    dropped: dict[str, int] = {}
    for line in finals:
        if not line["kept"]:
            dropped[line["reason"]] = dropped.get(line["reason"], 0) + 1
    summary = {
        "records": len(records),
        "kept": len(kept_records),
        "dropped": dropped,
        "threshold": args.threshold,
        "samples": args.samples,
        "teacher": str(Path(args.teacher).resolve()),
        "settings": settings.to_json(),
    }
    atomic_write_json(out.with_suffix(".summary.json"), summary)
    return summary
