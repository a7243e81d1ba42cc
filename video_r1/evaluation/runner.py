"""The evaluation loop: benchmarks -> samples -> batched answers -> fsynced lines -> summary.

Reads top to bottom: lock the output folder, load the benchmarks (this shard's records),
check the saved run description, skip what the results file already holds, then per batch load
media (a bad file fails that sample only), generate, score, append the lines; at the end
summarise every line of this run's samples.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from video_r1.data import Record
from video_r1.evaluation.lock import hold_lock
from video_r1.evaluation.results import (
    check_run_description,
    drop_failed,
    drop_partial_last_line,
    read_results,
    sample_key,
)
from video_r1.evaluation.settings import EvalSettings
from video_r1.utils.hashing import file_sha256, weights_sha256
from video_r1.utils.io import append_jsonl, atomic_write_json, atomic_write_text


class EvalAborted(RuntimeError):
    """Too many samples in a row failed to generate: something is wrong beyond one sample."""


@dataclass(frozen=True)
class EvalRun:
    """One `video-r1 eval` invocation (see video_r1.evaluation.cli for the meaning of each)."""

    model: str
    benchmarks: list[Path]
    media_root: Path
    out: Path
    settings: EvalSettings = field(default_factory=EvalSettings)
    orders: list[str] = field(default_factory=lambda: ["ordered"])
    batch_size: int = 4
    dtype: str = "auto"
    device: str | None = None
    attn: str | None = None
    retry_failed: bool = False
    max_consecutive_errors: int = 20
    limit: int = 0
    progress: bool = True
    shard: tuple[int, int] | None = None  # (i, n), 1 <= i <= n: every n-th record from the i-th
    engine: str = "native"  # generation engine: native or vllm
    vllm: Any = None  # VLLMSettings with engine "vllm"


@dataclass(frozen=True)
class EvalResult:
    """What a finished run wrote: the summary (as in summary.json) and its Markdown."""

    summary: dict[str, Any]
    report: str

    @property
    def failed(self) -> int:
        return len(self.summary["errors"])

    @property
    def total(self) -> int:
        return sum(r["overall"]["n"] for r in self.summary["orders"].values())


@dataclass(frozen=True)
class Sample:
    """One (record, frame order) to evaluate. `record` is None when the record's media file
    is missing; `error` then says so and the sample is written as failed without running."""

    benchmark: str  # file name: part of the key
    benchmark_file: str
    order: str
    fields: dict[str, Any]  # problem_id, data_source, task, problem_type, data_type, ground_truth
    record: Record | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        return sample_key(self.benchmark, self.fields["problem_id"], self.order)


def _fields(raw: dict[str, Any]) -> dict[str, Any]:
    from video_r1.rewards.parsing import extract_answer

    return {
        "problem_id": raw["problem_id"],
        "data_source": raw.get("data_source") or "",
        "task": str(raw.get("task") or raw.get("data_source") or "(none)"),
        # VSI-Bench question type: its official overall is a mean over these
        "category": raw.get("question_type"),
        "problem_type": raw["problem_type"],
        "data_type": raw["data_type"],
        "ground_truth": extract_answer(raw["solution"]),
    }


def load_samples(
    path: Path,
    media_root: Path,
    orders: list[str],
    limit: int = 0,
    shard: tuple[int, int] | None = None,
) -> list[Sample]:
    """The samples of one benchmark file in every order (images only in "ordered").

    A record whose media file is missing becomes a failed sample; any other schema problem
    raises RecordError (a broken benchmark file is not something to half-evaluate), and so
    do repeated problem_ids (they key the results). `shard` (i, n) keeps the records at
    positions i-1, i-1+n, ... (after `limit`), every frame order of a record in one shard.
    """
    from video_r1.data.load import read_records_keeping_missing_media

    entries: list[tuple[Record | None, dict, str | None]] = [
        (e.record, e.record.to_json(), None) if e.record
        else (None, e.raw, f"MediaError: {e.missing_media}")
        for e in read_records_keeping_missing_media(path, media_root)
    ]  # fmt: skip
    if limit:
        entries = entries[:limit]
    ids = [str(raw["problem_id"]) for _, raw, _ in entries]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"{path}: repeated problem_id(s) {repeated[:10]}; they key the results")
    if shard is not None:
        entries = entries[shard[0] - 1 :: shard[1]]
    samples = []
    for order in orders:
        for record, raw, error in entries:
            if order != "ordered" and raw["data_type"] != "video":
                continue  # an image has no frame order
            samples.append(
                Sample(path.name, str(path), order, _fields(raw), record=record, error=error)
            )
    return samples


def line_settings(settings: EvalSettings) -> dict[str, Any]:
    """The settings written into every per-sample line."""
    return {
        "frames": settings.frames,
        "fps": settings.fps,
        "video_pixels": [settings.video_min_pixels, settings.video_max_pixels],
        "image_pixels": [settings.image_min_pixels, settings.image_max_pixels],
        "decoding": settings.decoding(),
        "wording": settings.wording,
    }


def make_line(sample: Sample, settings: EvalSettings | dict, **result: Any) -> dict[str, Any]:
    """One samples.jsonl line: the sample's fields, the settings, and `result` (output,
    answer, score, correct, ... or error)."""
    line = {
        "key": sample.key,
        "benchmark": sample.benchmark,
        "benchmark_file": sample.benchmark_file,
    }
    line.update(sample.fields)
    line.update(
        frame_order=sample.order,
        settings=settings if isinstance(settings, dict) else line_settings(settings),
        num_frames=None,
        output=None,
        answer=None,
        score=None,
        correct=None,
        num_tokens=None,
        truncated=None,
        error=None,
    )
    line.update(result)
    return line


def _answer_batch(model, processor, items, settings, config) -> list[tuple[Any, str | None]]:
    """(answer, None) or (None, error) per item. Each sample's sampling is seeded from its
    key, so its answer does not depend on the batch it shares (a resumed run equals an
    uninterrupted one)."""
    from video_r1.evaluation.answering import answer_each, stable_seed

    results = answer_each(
        model,
        processor,
        [s.record for s, _ in items],
        [m for _, m in items],
        settings,
        [stable_seed(settings.seed, s.key) for s, _ in items],
        generation_config=config,
    )
    return [(None, error) if error else (answers[0], None) for answers, error in results]


def run_description(run: EvalRun) -> dict[str, Any]:
    """What the results depend on, saved as run.json and compared on resume."""
    shard = None
    if run.shard is not None:  # shards merge only if they split the same records
        shard = {"shard": f"{run.shard[0]}/{run.shard[1]}", "limit": run.limit}
    return {
        "model": os.path.abspath(run.model),
        "model_weights": weights_sha256(run.model),  # same path, retrained: not the same model
        "settings": run.settings.to_json(),
        "dtype": run.dtype,
        "attn": run.attn,
        "benchmarks": {b.name: file_sha256(b) for b in run.benchmarks},
        **(shard or {"shard": None}),
        # another engine samples other numbers: a resume keeps the engine (native runs' run.json
        # predates the key)
        **({"engine": run.engine} if run.engine != "native" else {}),
    }


def write_summary(
    out: Path, lines: list[dict], benchmarks: list[str], orders: list[str], **info: Any
) -> EvalResult:
    """Summarise `lines` (with `info` such as settings and model) into summary.json and
    summary.md under `out`."""
    from video_r1.evaluation.report import markdown_report
    from video_r1.evaluation.summary import summarize_run

    summary = summarize_run(lines, benchmarks, orders)
    summary.update(info)
    summary["errors"] = [
        {"key": line["key"], "error": line["error"]} for line in lines if line["error"] is not None
    ]
    report = markdown_report(summary)
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "summary.md", report)
    return EvalResult(summary, report)


def evaluate(run: EvalRun) -> EvalResult:
    """Evaluate (or resume) under the output folder's lock; write summary.json and summary.md."""
    run.out.mkdir(parents=True, exist_ok=True)
    with hold_lock(run.out / ".lock"):
        return _evaluate_locked(run)


def _evaluate_locked(run: EvalRun) -> EvalResult:
    samples = [
        s
        for b in run.benchmarks
        for s in load_samples(b, run.media_root, run.orders, run.limit, run.shard)
    ]
    results_path = run.out / "samples.jsonl"
    check_run_description(run.out / "run.json", run_description(run), results_path)
    if drop_partial_last_line(results_path):
        print(f"{results_path}: dropped a partial last line (an interrupted write)")
    if run.retry_failed:
        print(f"retrying {drop_failed(results_path)} failed sample(s)")
    done = {line["key"] for line in read_results(results_path)}
    todo = [s for s in samples if s.key not in done]
    print(f"{len(samples)} samples: {len(samples) - len(todo)} already done, {len(todo)} to run")
    if todo:
        _run_samples(run, todo, results_path)
    keys = {s.key for s in samples}
    lines = [line for line in read_results(results_path) if line["key"] in keys]
    return write_summary(
        run.out,
        lines,
        [b.name for b in run.benchmarks],
        run.orders,
        settings=run.settings.to_json(),
        model=os.path.abspath(run.model),
    )


def _batch_lines(run, model, processor, batch, factor, config) -> tuple[list[dict], list[bool]]:
    """The result lines of one batch of samples, and whether each generation succeeded."""
    from video_r1.evaluation.answering import load_media, stable_seed
    from video_r1.evaluation.summary import score_output
    from video_r1.media import MediaError

    lines, ready = [], []
    for sample in batch:
        if sample.error is not None:
            lines.append(make_line(sample, run.settings, error=sample.error))
            continue
        seed = stable_seed(run.settings.seed, sample.benchmark, sample.fields["problem_id"])
        try:
            media = load_media(sample.record, run.settings, factor, sample.order, seed)
        except MediaError as err:
            lines.append(make_line(sample, run.settings, error=f"MediaError: {err}"))
            continue
        ready.append((sample, media))
    results = _answer_batch(model, processor, ready, run.settings, config) if ready else []
    generated = [error is None for _, error in results]
    for (sample, media), (answer, error) in zip(ready, results, strict=True):
        frames = media.num_frames if sample.fields["data_type"] == "video" else None
        if error is not None:
            lines.append(make_line(sample, run.settings, num_frames=frames, error=error))
            continue
        scored = score_output(
            answer.text,
            sample.fields["ground_truth"],
            sample.fields["problem_type"],
            sample.fields["category"],
        )
        lines.append(
            make_line(
                sample,
                run.settings,
                num_frames=frames,
                output=answer.text,
                num_tokens=answer.num_tokens,
                truncated=answer.truncated,
                **scored,
            )
        )
    return lines, generated


def _run_samples(run: EvalRun, todo: list[Sample], results_path: Path) -> None:
    """Answer `todo` batch by batch, appending (fsynced) each batch's lines."""
    from tqdm import tqdm

    from video_r1.evaluation.answering import (
        build_generation_config,
        engine_closed,
        load_model_and_processor,
    )
    from video_r1.prompts import processor_factor

    model, processor = load_model_and_processor(
        run.model, dtype=run.dtype, device=run.device, attn=run.attn, engine=run.engine,
        vllm=run.vllm,
    )  # fmt: skip
    factor = processor_factor(processor)
    config = build_generation_config(model, processor, run.settings)
    failed = errors_in_row = 0
    # `with`: the bar's line ends before whatever stops the loop prints its error
    bar = tqdm(total=len(todo), desc="eval", unit="sample", disable=not run.progress)
    with engine_closed(model), bar:
        for start in range(0, len(todo), run.batch_size):
            batch = todo[start : start + run.batch_size]
            lines, generated = _batch_lines(run, model, processor, batch, factor, config)
            for ok in generated:
                errors_in_row = 0 if ok else errors_in_row + 1
            for line in lines:
                append_jsonl(results_path, line)
                failed += line["error"] is not None
            bar.update(len(lines))
            bar.set_postfix(done=bar.n, failed=failed)
            if run.max_consecutive_errors and errors_in_row >= run.max_consecutive_errors:
                last = [line["error"] for line in lines if line["error"] is not None][-1]
                raise EvalAborted(
                    f"{errors_in_row} samples in a row failed to generate; last error: "
                    f"{last} (results so far are kept; rerun to resume)"
                )
