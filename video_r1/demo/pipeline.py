"""The main job out of the box, on a laptop-sized CPU: synthetic data -> tiny model -> SFT ->
T-GRPO -> evaluation on ordered and shuffled frames -> report.

    video-r1 demo                      # everything under runs/demo (about 8 minutes, 2 cores)
    video-r1 demo --out runs/mydemo --scale quick   # a smaller run (tests use it)

Stages (each skipped when its output exists, so rerunning resumes after an interruption):
  1. synth   OUT/synth/           the synthetic benchmark (train/test JSONL, media, tasks.json)
  2. model   OUT/tiny_model/      a tiny randomly initialised Qwen2.5-VL
  3. sft     OUT/sft/final        SFT on the rationales (video_r1/configs/demo/sft.yaml)
  4. grpo    OUT/grpo/final       T-GRPO from the SFT model (video_r1/configs/demo/grpo.yaml);
                                 SFT stops early (6 epochs) so that RL gets over a third of the time
  5. eval    OUT/eval_sft/, OUT/eval_grpo/   greedy evaluation, ordered and shuffled frames
  6. report  OUT/report.md + OUT/plots/*.png: curves, per-task accuracy against chance

OUT/demo.json records the settings of the run; a rerun with other settings refuses to mix
them into the same folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import TypeVar

C = TypeVar("C")

# Multiple-choice tasks: exact accuracy has a clear chance level, and three of them depend on
# the frame order (two carry a single-frame colour shortcut), which is what T-GRPO is about.
DEMO_TASKS = ("direction", "event_order", "reverse", "appear", "shape_video", "color_image")


@dataclass(frozen=True)
class DemoScale:
    """How big a demo run is. `full` is the default; `quick` is for tests (tens of seconds)."""

    records: int  # synthetic records over all tasks, before the train/test split
    test_fraction: float
    size: int  # frame / image side in pixels (56 = 4 video tokens per temporal patch)
    frames: int
    hidden_size: int
    layers: int
    sft_epochs: int
    grpo_steps: int
    eval_max_new_tokens: int
    tasks: tuple[str, ...] = DEMO_TASKS
    sft_overrides: tuple[str, ...] = field(default=())
    grpo_overrides: tuple[str, ...] = field(default=())


SCALES: dict[str, DemoScale] = {
    # 849 training records (the earlier 1000-record benchmark's 850, give or take one clip per
    # task) and a test split of 142 clips per task (212 direction, 71 colour) that begins with
    # the earlier 25-38 clips: a task's accuracy has a sampling SD of about 4 points, where the
    # small split's figures swung by 10-40 points between runs
    "full": DemoScale(
        records=1700,
        test_fraction=0.5,
        size=56,
        frames=4,
        hidden_size=128,
        layers=2,
        sft_epochs=6,
        grpo_steps=400,
        eval_max_new_tokens=64,
    ),  # fmt: skip
    "quick": DemoScale(
        records=40,
        test_fraction=0.25,
        size=56,
        frames=4,
        hidden_size=64,
        layers=1,
        sft_epochs=1,
        grpo_steps=2,
        eval_max_new_tokens=16,
        grpo_overrides=("optim.per_device_batch_size=2", "rl.max_completion_length=16"),
    ),  # fmt: skip
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default="runs/demo", help="run folder (default runs/demo); reused to resume"
    )
    parser.add_argument(
        "--scale", choices=list(SCALES), default="full",
        help="full: the demo proper (default); quick: a tiny smoke run of every stage",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of data and model (default 0)")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch CPU threads (default 1: on a busy 2-core machine more threads thrash)",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.epilog = (
        "The report (OUT/report.md) states the test accuracy per task against chance, after\n"
        "SFT and after T-GRPO, on ordered and on shuffled frames, and the time each stage took."
    )


def run(args: argparse.Namespace) -> int:
    try:
        timings = run_demo(
            Path(args.out), SCALES[args.scale], seed=args.seed, threads=args.threads,
            progress=not args.no_progress,
        )  # fmt: skip
    except DemoSettingsChanged as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    total = sum(timings.values())
    print(f"\ndemo finished in {total:.0f} s; report: {Path(args.out) / 'report.md'}")
    return 0


class DemoSettingsChanged(RuntimeError):
    """The run folder holds a demo made with other settings."""


def check_settings(out: Path, settings: dict) -> None:
    """Write OUT/demo.json, or check that the existing one matches `settings`."""
    from video_r1.utils.io import atomic_write_json

    path = out / "demo.json"
    settings = json.loads(json.dumps(settings))  # as read back: tuples become lists
    if path.exists():
        before = json.loads(path.read_text())
        if before != settings:
            changed = sorted(k for k in settings.keys() | before.keys()
                             if settings.get(k) != before.get(k))  # fmt: skip
            raise DemoSettingsChanged(
                f"{path}: this folder holds a demo run with other settings ({', '.join(changed)}); "
                "use another --out or delete the folder"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, settings)


def banner(stage: str, text: str) -> None:
    print(f"\n=== demo: {stage} === {text}", flush=True)


def config_overrides(out: Path, stage: str, model: Path, scale: DemoScale, seed: int,
                     progress: bool) -> list[str]:  # fmt: skip
    """The key=value overrides that point a demo config at this run's folders."""
    common = [
        f"model.path={model}",
        f"data.train_file={out / 'synth' / 'train.jsonl'}",
        f"data.media_root={out / 'synth'}",
        f"checkpoint.output_dir={out / stage}",
        f"media.cache_dir={out / 'frame_cache'}",
        f"logging.progress_bar={str(progress).lower()}",
        f"seed={seed}",
    ]
    if stage == "sft":
        return [*common, f"optim.epochs={scale.sft_epochs}", *scale.sft_overrides]
    return [*common, f"optim.max_steps={scale.grpo_steps}", *scale.grpo_overrides]


def run_demo(
    out: Path, scale: DemoScale, seed: int = 0, threads: int = 1, progress: bool = True
) -> dict[str, float]:
    """Run (or resume) every stage under `out`; returns seconds per stage run this time."""
    import torch

    from video_r1.demo.report import write_report

    if threads > 0:
        torch.set_num_threads(threads)
    check_settings(out, {"scale": asdict(scale), "seed": seed})
    timings_path = out / "timings.json"
    timings: dict[str, float] = (
        json.loads(timings_path.read_text()) if timings_path.exists() else {}
    )

    def stage(name: str, done: bool, text: str, fn) -> None:
        if done:
            banner(name, "already done, skipped")
            return
        banner(name, text)
        start = time.perf_counter()
        fn()
        timings[name] = round(time.perf_counter() - start, 1)
        from video_r1.utils.io import atomic_write_json

        atomic_write_json(timings_path, timings)

    synth_dir, model_dir = out / "synth", out / "tiny_model"
    stage("synth", (synth_dir / "tasks.json").exists(),
          f"{scale.records} records of {', '.join(scale.tasks)}",
          lambda: make_benchmark(synth_dir, scale, seed, progress))  # fmt: skip
    stage("model", model_dir.exists(),
          f"tiny Qwen2.5-VL, hidden {scale.hidden_size}, {scale.layers} layers",
          lambda: make_model(model_dir, scale, seed))  # fmt: skip
    stage("sft", (out / "sft" / "final").exists(), f"{scale.sft_epochs} epoch(s)",
          lambda: run_sft(out, model_dir, scale, seed, progress))  # fmt: skip
    stage("grpo", (out / "grpo" / "final").exists(), f"T-GRPO, {scale.grpo_steps} steps",
          lambda: run_grpo(out, out / "sft" / "final", scale, seed, progress))  # fmt: skip
    for name in ("sft", "grpo"):
        stage(f"eval_{name}", (out / f"eval_{name}" / "summary.json").exists(),
              f"the {name.upper()} model on the test split, ordered and shuffled frames",
              lambda name=name: run_eval(out, name, scale, progress))  # fmt: skip
    banner("report", str(out / "report.md"))
    write_report(out, timings)
    return timings


def make_benchmark(synth_dir: Path, scale: DemoScale, seed: int, progress: bool) -> None:
    from video_r1.synth import generate_benchmark
    from video_r1.synth.tasks import SynthConfig

    summary = generate_benchmark(
        synth_dir, scale.records, seed=seed, tasks=list(scale.tasks),
        cfg=SynthConfig(size=scale.size, frames=scale.frames, fps=float(scale.frames)),
        test_fraction=scale.test_fraction, progress=progress,
    )  # fmt: skip
    for task, counts in summary.counts.items():
        print(f"  {task}: {counts['train']} train, {counts['test']} test")


def make_model(model_dir: Path, scale: DemoScale, seed: int) -> None:
    from video_r1.models import build_tiny_model
    from video_r1.prompts import tokenizer_texts

    build_tiny_model(
        model_dir, "qwen2.5-vl", prompt_texts=tokenizer_texts(), hidden_size=scale.hidden_size, layers=scale.layers, heads=4,
        vision_depth=2, vision_hidden=64, seed=seed,
    )  # fmt: skip


def load_demo_config(cls: type[C], name: str, overrides: list[str]) -> C:
    """The demo's config NAME (sft or grpo) with overrides; the YAML ships inside the package
    (video_r1/configs/demo/), so the demo runs from any folder after `pip install .`."""
    from video_r1.train.config import load_config

    resource = resources.files("video_r1") / "configs" / "demo" / f"{name}.yaml"
    with resources.as_file(resource) as path:  # a real file even from a zipped install
        return load_config(cls, path, overrides)


def run_sft(out: Path, model_dir: Path, scale: DemoScale, seed: int, progress: bool) -> None:
    from video_r1.recipes.sft import SFTConfig, train

    overrides = config_overrides(out, "sft", model_dir, scale, seed, progress)
    train(load_demo_config(SFTConfig, "sft", overrides), resume="auto")


def run_grpo(out: Path, sft_model: Path, scale: DemoScale, seed: int, progress: bool) -> None:
    from video_r1.recipes.grpo import train
    from video_r1.recipes.grpo_config import GRPOConfig

    overrides = config_overrides(out, "grpo", sft_model.resolve(), scale, seed, progress)
    train(load_demo_config(GRPOConfig, "grpo", overrides), resume="auto")


def run_eval(out: Path, name: str, scale: DemoScale, progress: bool) -> None:
    from video_r1.evaluation.both_orders import evaluate_both_orders

    evaluate_both_orders(
        out / name / "final", out / "synth", out / f"eval_{name}", frames=scale.frames,
        size=scale.size, max_new_tokens=scale.eval_max_new_tokens, progress=progress,
    )  # fmt: skip
