"""Writing the synthetic benchmark: OUT/train.jsonl, OUT/test.jsonl, OUT/tasks.json, OUT/media/.

Every record draws from its own generator seeded by (seed, task, split, index), so the
output depends only on the arguments: the same seed gives byte-identical JSONL.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from video_r1.synth.grounding_task import LAMP_WINDOW
from video_r1.synth.image_tasks import IMAGE_TASKS
from video_r1.synth.tasks import Sample, SynthConfig, Task, balanced_slots
from video_r1.synth.video_tasks import VIDEO_TASKS
from video_r1.utils.io import atomic_write_json, atomic_write_jsonl

TASKS: dict[str, Task] = {t.name: t for t in (*VIDEO_TASKS, *IMAGE_TASKS, LAMP_WINDOW)}
SPLITS = ("train", "test")


@dataclass(frozen=True)
class BenchmarkSummary:
    out: Path
    counts: dict[str, dict[str, int]]  # task -> split -> records


def select_tasks(names: list[str] | None) -> list[Task]:
    """The named tasks (the default mix when None), in registry order; unknown names raise
    ValueError."""
    if not names:
        return [t for t in TASKS.values() if t.default]
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; choose from {list(TASKS)}")
    return [t for t in TASKS.values() if t.name in names]


def plan_counts(weights: dict[str, int], n: int) -> dict[str, int]:
    """Split n records over tasks in proportion to their weights (largest remainder).

    Example:
        >>> plan_counts({"a": 3, "b": 1}, 10)
        {'a': 8, 'b': 2}
    """
    total = sum(weights.values())
    exact = {name: n * w / total for name, w in weights.items()}
    counts = {name: int(x) for name, x in exact.items()}
    by_remainder = sorted(weights, key=lambda k: (-(exact[k] - counts[k]), list(weights).index(k)))
    for name in by_remainder[: n - sum(counts.values())]:
        counts[name] += 1
    return counts


def _task_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))  # stable across runs, unlike hash()


def generate_samples(
    task: Task, split: str, count: int, seed: int, cfg: SynthConfig
) -> list[Sample]:
    """The split's samples of one task, in memory (tests and analysis use this directly)."""
    key = [seed, _task_key(task.name), SPLITS.index(split)]
    slots = balanced_slots(np.random.default_rng(key), task.n_slots, count)
    return [
        task.make(np.random.default_rng([*key, 1, i]), slot, cfg) for i, slot in enumerate(slots)
    ]


def _write_media(sample: Sample, task: Task, path: Path, cfg: SynthConfig) -> None:
    if task.data_type == "video":
        from video_r1.media.encode import write_video

        write_video(path, sample.media, fps=cfg.fps)
    else:
        from PIL import Image

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.png")
        Image.fromarray(sample.media).save(tmp)
        os.replace(tmp, path)


def sample_record(sample: Sample, task: Task, split: str, index: int, path: str) -> dict[str, Any]:
    """The Video-R1 record of a sample; train records carry the <think> rationale."""
    record: dict[str, Any] = {
        "problem_id": f"{task.name}-{split}-{index:05d}",
        "problem": sample.problem,
        "data_type": task.data_type,
        "problem_type": task.problem_type,
        "options": list(sample.options),
        "solution": f"<answer>{sample.answer}</answer>",
        "path": path,
        "data_source": task.name,
    }
    if split == "train":
        record["process"] = f"<think>{sample.rationale}</think>"
    if sample.cue_agrees is not None:
        record["shortcut_agrees"] = sample.cue_agrees  # kept by the loader as an extra field
    return record


def task_table(tasks: list[Task], counts: dict[str, dict[str, int]], cfg: SynthConfig) -> dict:
    """The content of OUT/tasks.json: what each task is and what accuracy means on it."""
    table: dict[str, Any] = {}
    for task in tasks:
        table[task.name] = {
            "description": task.description,
            "problem_type": task.problem_type,
            "data_type": task.data_type,
            "order_dependent": task.order_dependent,
            "chance_accuracy": round(task.chance_accuracy, 6),
            "order_blind_accuracy": task.order_blind_accuracy,
            "shortcut": task.shortcut or None,
            "weight": task.weight,
            "records": counts[task.name],
            **task.extras,  # e.g. a grounding task's chance and order-blind mean IoU
        }
    return {"config": vars(cfg), "tasks": table}


def generate_benchmark(
    out: str | os.PathLike,
    n: int,
    seed: int = 0,
    tasks: list[str] | None = None,
    cfg: SynthConfig | None = None,
    test_fraction: float = 0.2,
    progress: bool = False,
) -> BenchmarkSummary:
    """Render n records (split train/test per task) with media and write them under `out`."""
    cfg = cfg or SynthConfig()
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    chosen = select_tasks(tasks)
    out = Path(out)
    totals = plan_counts({t.name: t.weight for t in chosen}, n)
    counts = {}
    for name, total in totals.items():
        n_test = round(total * test_fraction)
        counts[name] = {"train": total - n_test, "test": n_test}
    rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
    jobs = [(t, s) for t in chosen for s in SPLITS]
    if progress:
        from tqdm import tqdm

        jobs = tqdm(jobs, desc="synth", unit="task-split")
    for task, split in jobs:
        samples = generate_samples(task, split, counts[task.name][split], seed, cfg)
        suffix = "mp4" if task.data_type == "video" else "png"
        for i, sample in enumerate(samples):
            rel = f"media/{split}/{task.name}/{i:05d}.{suffix}"
            _write_media(sample, task, out / rel, cfg)
            rows[split].append(sample_record(sample, task, split, i, rel))
    for split in SPLITS:
        order = np.random.default_rng([seed, 7, SPLITS.index(split)]).permutation(len(rows[split]))
        atomic_write_jsonl(out / f"{split}.jsonl", [rows[split][i] for i in order])
    atomic_write_json(out / "tasks.json", task_table(chosen, counts, cfg))
    return BenchmarkSummary(out=out, counts=counts)
