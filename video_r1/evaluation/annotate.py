"""Chain-of-thought annotation: a teacher answers each record; good answers become COT records.

    video-r1 annotate --teacher DIR --data train.jsonl --media-root DIR --out cot.jsonl
        [--samples K] [--threshold 0.6] [--batch-size B] [--skip-missing-media]
        [frame/pixel/decoding flags]

The teacher (any local Qwen-VL checkpoint, loaded like every model here) sees each record with
the CoT prompt (the evaluation wording, docs/spec.md#prompt) at evaluation frames and pixels, K
answers per record if asked, decoded as the published CoT generation did (temperature 1.0,
top_p 0.95, 512 new tokens). An answer is kept when it is well formed (<think>...</think>
then <answer>...</answer>), its <think> block is not empty, and its accuracy reward is above
--threshold (published: > 0.6; `--keep-rule at-least` for >=); of several kept answers the
most accurate (then the first) wins. The record is written in the COT schema: the original
record with `process` = the answer's <think> block (the ground-truth `solution` is kept), so
`video-r1 data check` accepts it and `video-r1 sft` trains on it.

A record whose media file is missing refuses the whole file unless --skip-missing-media, which
records it as dropped ("media error"); an unreadable media file or a generation error (its
batch is retried one record at a time) drops that record only, with the error recorded.

Writes OUT (records kept, input order, atomically), OUT.progress.jsonl (one fsynced line per
record: kept or the reason it was dropped, with the teacher's answers; rerunning resumes from
it), OUT.run.json (the settings, the teacher and the data file's hash: a resume with other
settings is refused) and OUT with .summary.json for its suffix (cot.jsonl: cot.summary.json;
kept, dropped per reason). OUT.lock keeps a second
process off the same OUT.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)


KEEP_RULES = ("above", "at-least")


def judge_answers(
    outputs: list[str],
    ground_truth: str,
    problem_type: str,
    threshold: float,
    keep_rule: str = "above",
) -> tuple[int | None, str, list[dict[str, Any]]]:
    """(index of the answer to keep or None, reason, per-answer checks).

    reason is "kept", "malformed" (no answer well formed with a non-empty <think> block) or
    "inaccurate" (well formed, but accuracy not above the threshold: the published rule is
    accuracy > 0.6; keep_rule "at-least" keeps accuracy >= threshold).
    Example:
        judge_answers(["no tags", "<think>a</think><answer>B</answer>"], "B", "multiple choice",
                      0.6) -> (1, "kept", [{"format": False, "accuracy": 0.0},
                                           {"format": True, "accuracy": 1.0}])
    """
    from video_r1.rewards.accuracy import score_answer
    from video_r1.rewards.parsing import extract_answer, has_think_answer_format

    if keep_rule not in KEEP_RULES:
        raise ValueError(f"keep_rule must be one of {KEEP_RULES}, got {keep_rule!r}")
    checks = [
        {
            "format": has_think_answer_format(text) and _has_reasoning(text),
            "accuracy": score_answer(extract_answer(text), ground_truth, problem_type),
        }
        for text in outputs
    ]
    formed = [i for i, c in enumerate(checks) if c["format"]]
    if not formed:
        return None, "malformed", checks
    best = max(formed, key=lambda i: (checks[i]["accuracy"], -i))
    accuracy = checks[best]["accuracy"]
    if accuracy < threshold or (keep_rule == "above" and accuracy == threshold):
        return None, "inaccurate", checks
    return best, "kept", checks


def _has_reasoning(text: str) -> bool:
    """Whether the first <think> block has any text (an empty rationale teaches nothing)."""
    match = THINK_RE.search(text)
    return match is not None and match.group(0)[len("<think>") : -len("</think>")].strip() != ""


def think_block(text: str) -> str:
    """The first <think>...</think> of an answer (its rationale). Example:
    think_block("<think>a</think> <answer>B</answer>") -> "<think>a</think>"."""
    match = THINK_RE.search(text)
    if match is None:
        raise ValueError(f"no <think>...</think> in {text[:80]!r}")
    return match.group(0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from video_r1.evaluation.answering import add_engine_arguments, add_model_arguments
    from video_r1.evaluation.settings import add_settings_arguments

    add_model_arguments(parser, "--teacher")
    add_engine_arguments(parser)
    parser.add_argument("--data", required=True, help="records to annotate (Video-R1 schema)")
    parser.add_argument("--media-root", required=True, help="folder record paths are under")
    parser.add_argument("--out", required=True, help="COT records to write (.jsonl or .json)")
    parser.add_argument("--samples", type=int, default=1, help="answers per record (K)")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.6,
        help="accuracy reward a kept answer must exceed (published: > 0.6)",
    )
    parser.add_argument(
        "--keep-rule",
        choices=KEEP_RULES,
        default="above",
        help="above: accuracy > threshold (published); at-least: accuracy >= threshold",
    )
    parser.add_argument(
        "--skip-missing-media",
        action="store_true",
        help="record a record whose media file is missing as dropped instead of refusing the file",
    )
    parser.add_argument("--batch-size", type=int, default=4, help="records per generate call")
    parser.add_argument("--limit", type=int, default=0, help="first N records only (0: all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    # the published CoT generation (generate_cot_vllm.py) sampled at 1.0 / 0.95, 512 tokens
    add_settings_arguments(
        parser,
        max_new_tokens=512,
        temperature=1.0,
        top_p=0.95,
        source="published CoT generation defaults",
    )


def _path(out: Path, suffix: str) -> Path:
    return out.with_name(out.name + suffix)


def load_annotation_records(args: argparse.Namespace) -> tuple[list, list[dict]]:
    """(records to annotate, a "media error" progress line per record whose media file is
    missing). Missing media refuse the file (ValueError) unless --skip-missing-media; any
    other problem raises RecordError."""
    from video_r1.data.load import read_records_keeping_missing_media

    entries = read_records_keeping_missing_media(args.data, args.media_root)
    missing = [entry for entry in entries if entry.record is None]
    if missing and not args.skip_missing_media:
        raise ValueError(
            f"{len(missing)} record(s) have no media file (first: {missing[0].missing_media}); "
            "fix --media-root, or pass --skip-missing-media to record them as dropped"
        )
    if args.limit:
        entries = entries[: args.limit]
    ids = [str(e.record.problem_id if e.record else e.raw.get("problem_id")) for e in entries]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{args.data}: repeated problem_ids (they key the resume)")
    lines = [
        {"problem_id": e.raw.get("problem_id"), "kept": False, "reason": "media error",
         "error": f"MediaError: {e.missing_media}"}
        for e in entries if e.record is None
    ]  # fmt: skip
    return [e.record for e in entries if e.record], lines


def _run_description(args: argparse.Namespace, settings: Any) -> dict[str, Any]:
    """What the progress lines depend on (OUT.run.json; a resume must match it)."""
    from video_r1.utils.hashing import file_sha256, weights_sha256

    return {
        "teacher": str(Path(args.teacher).resolve()),
        "teacher_weights": weights_sha256(args.teacher),  # same folder, other weights: refused
        "data": file_sha256(args.data),
        "settings": settings.to_json(),
        "samples": args.samples,
        "threshold": args.threshold,
        "keep_rule": args.keep_rule,
        "dtype": args.dtype,
        "attn": args.attn,
        # another engine samples other numbers (native runs' files predate the key)
        **({"engine": args.engine} if args.engine != "native" else {}),
    }


def run(args: argparse.Namespace) -> int:
    from video_r1.data import RecordError
    from video_r1.evaluation.lock import LockHeld, hold_lock
    from video_r1.evaluation.results import check_run_description
    from video_r1.evaluation.settings import describe_settings, settings_from_args
    from video_r1.rollout.vllm_engine import VLLMMissing

    out = Path(args.out)
    try:
        settings = settings_from_args(args)
        if args.samples < 1 or args.batch_size < 1:
            raise ValueError("--samples and --batch-size must be >= 1")
        if out.suffix not in (".jsonl", ".json"):
            raise ValueError(f"--out {out}: use a .jsonl or .json file name")
        records, missing = load_annotation_records(args)
        if not records and not missing:
            raise ValueError(f"{args.data}: no records to annotate")
    except (ValueError, RecordError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"annotation settings:\n{describe_settings(settings)}")
    print(
        f"  samples per record: {args.samples}\n  keep: accuracy {args.keep_rule} {args.threshold}"
    )
    if args.samples > 1 and (args.greedy or settings.temperature < 0.5):
        print("warning: K > 1 with (near-)greedy decoding gives near-identical answers")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with hold_lock(_path(out, ".lock")):
            if _path(out, ".progress.jsonl").exists() and not _path(out, ".run.json").exists():
                raise ValueError(
                    f"{_path(out, '.progress.jsonl')} has no saved settings (an older version "
                    "made it); use another --out"
                )
            check_run_description(
                _path(out, ".run.json"), _run_description(args, settings),
                _path(out, ".progress.jsonl"),
            )  # fmt: skip
            summary = annotate(args, records, missing, settings, out)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (LockHeld, VLLMMissing) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"kept {summary['kept']} of {summary['records']}; dropped: {summary['dropped']}")
    print(f"wrote {out}, {_path(out, '.progress.jsonl')} and {out.with_suffix('.summary.json')}")
    return 0


def _judged_line(record: Any, answers: Any, error: str | None, args: argparse.Namespace) -> dict:
    """The progress line of one answered record: kept (with the COT record) or why not."""
    import dataclasses

    if error is not None:
        return {"problem_id": record.problem_id, "kept": False, "reason": "generation error",
                "error": error}  # fmt: skip
    texts = [a.text for a in answers]
    best, reason, checks = judge_answers(
        texts, record.answer, record.problem_type, args.threshold, args.keep_rule
    )
    line = {"problem_id": record.problem_id, "kept": best is not None, "reason": reason,
            "outputs": texts, "checks": checks}  # fmt: skip
    if best is not None:
        line["record"] = dataclasses.replace(record, process=think_block(texts[best])).to_json()
    return line


def _annotate_batch(teacher, batch: list, settings: Any, args: argparse.Namespace) -> list[dict]:
    """Progress lines for one batch of records (media errors and generation errors per record)."""
    from video_r1.evaluation.answering import answer_each, load_media, stable_seed
    from video_r1.media import MediaError

    model, processor, factor = teacher
    lines, ready = [], []
    for record in batch:
        try:
            ready.append((record, load_media(record, settings, factor)))
        except MediaError as err:
            lines.append({"problem_id": record.problem_id, "kept": False,
                          "reason": "media error", "error": str(err)})  # fmt: skip
    if ready:
        results = answer_each(
            model,
            processor,
            [r for r, _ in ready],
            [m for _, m in ready],
            settings,
            [stable_seed(settings.seed, r.problem_id) for r, _ in ready],
            samples_per_record=args.samples,
        )
        for (record, _), (answers, error) in zip(ready, results, strict=True):
            lines.append(_judged_line(record, answers, error, args))
    return lines


def annotate(
    args: argparse.Namespace, records: list, missing: list[dict], settings: Any, out: Path
) -> dict:
    """Annotate (resuming from the progress file), then write OUT and its summary."""
    import dataclasses

    from tqdm import tqdm

    from video_r1.data import write_records
    from video_r1.evaluation.answering import (
        engine_closed,
        load_model_and_processor,
        vllm_settings_from_args,
    )
    from video_r1.evaluation.results import drop_partial_last_line
    from video_r1.prompts import processor_factor
    from video_r1.utils.io import append_jsonl, atomic_write_json, read_jsonl

    progress = _path(out, ".progress.jsonl")
    drop_partial_last_line(progress)
    done = {str(line["problem_id"]): line for line in read_jsonl(progress)}
    for line in missing:
        if str(line["problem_id"]) not in done:
            append_jsonl(progress, line)
            done[str(line["problem_id"])] = line
    todo = [r for r in records if str(r.problem_id) not in done]
    print(f"{len(records)} records: {len(records) - len(todo)} already done, {len(todo)} to run")
    if todo:
        model, processor = load_model_and_processor(
            args.teacher, dtype=args.dtype, device=args.device, attn=args.attn,
            engine=args.engine, vllm=vllm_settings_from_args(args),
        )  # fmt: skip
        teacher = (model, processor, processor_factor(processor))
        kept = 0
        # `with`: the bar's line ends before whatever stops the loop prints its error
        bar = tqdm(total=len(todo), desc="annotate", unit="record", disable=args.no_progress)
        with engine_closed(model), bar:
            for start in range(0, len(todo), args.batch_size):
                batch = todo[start : start + args.batch_size]
                lines = _annotate_batch(teacher, batch, settings, args)
                for line in lines:
                    append_jsonl(progress, line)
                    done[str(line["problem_id"])] = line
                    kept += line["kept"]
                bar.update(len(lines))
                bar.set_postfix(kept=kept, dropped=bar.n - kept)

    finals = [done[str(r.problem_id)] for r in records] + missing
    kept_records = [
        dataclasses.replace(r, process=line["record"]["process"])
        for r, line in zip(records, finals, strict=False)
        if line["kept"]
    ]
    write_records(out, kept_records)
    dropped: dict[str, int] = {}
    for line in finals:
        if not line["kept"]:
            dropped[line["reason"]] = dropped.get(line["reason"], 0) + 1
    summary = {
        "records": len(finals),
        "kept": len(kept_records),
        "dropped": dropped,
        "threshold": args.threshold,
        "keep_rule": args.keep_rule,
        "samples": args.samples,
        "teacher": str(Path(args.teacher).resolve()),
        "settings": settings.to_json(),
    }
    atomic_write_json(out.with_suffix(".summary.json"), summary)
    return summary
