"""The temporal experiment: what the T-GRPO bonus does, against GRPO, over several seeds.

One SFT checkpoint (the demo's model and SFT on the demo's tasks plus `appear`, under
OUT/base), then for every variant and seed an RL run of the same budget from it
(OUT/runs/VARIANT/seedS/, every rollout logged to rollouts.jsonl) and a greedy evaluation on
ordered and shuffled frames (OUT/runs/VARIANT/seedS/eval/). Runs of the same seed pair up
(same seed, same record order): the report gives per-seed differences to GRPO with 95%
intervals (temporal_paired.py) and where the published bonus can act (channel.py). Every run
and evaluation is skipped when its output exists, so a rerun resumes.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

# variant -> config overrides of video_r1/configs/demo/grpo.yaml (T-GRPO with the demo's
# rl.temporal_variant: every variant names its own)
PUBLISHED = "rl.temporal_variant=published"
VARIANTS: dict[str, tuple[str, ...]] = {
    "grpo": ("rl.temporal=false", PUBLISHED),
    "tgrpo": ("rl.mu=0.8", "rl.scale_rewards=group", PUBLISHED),
    "tgrpo_mu1": ("rl.mu=1.0", "rl.scale_rewards=group", PUBLISHED),
    "tgrpo_nostd": ("rl.mu=0.8", "rl.scale_rewards=none", PUBLISHED),
    "after_norm": ("rl.temporal_variant=after_norm",),
    "group_weight": ("rl.temporal_variant=group_weight",),
    "margin": ("rl.temporal_variant=margin",),
    # margin's push at a size comparable to GRPO's own normalised advantages (+-1): at 0.3 it is
    # at most 0.3; a dose-response test of margin's 900-step effect (README)
    "margin_a1": ("rl.temporal_variant=margin", "rl.alpha=1.0"),
}
DESCRIPTIONS = {
    "grpo": "GRPO (no shuffled rollouts, no temporal bonus)",
    "tgrpo": "T-GRPO as published (mu 0.8, group std scaling)",
    "tgrpo_mu1": "T-GRPO with mu 1.0 (the paper's rule p >= p~)",
    "tgrpo_nostd": "T-GRPO without group std scaling (scale_rewards none, as Dr. GRPO)",
    "after_norm": "T-GRPO, bonus added after the group normalisation",
    "group_weight": "T-GRPO, advantages of passing groups x (1 + alpha)",
    "margin": "T-GRPO, + alpha * max(0, p - p~) after the normalisation on correct rollouts",
    "margin_a1": "margin with alpha 1.0 instead of the published 0.3",
}
# variants that exist only through rl.temporal_variant (video_r1.rl.advantages)
LOOP_VARIANTS = ("after_norm", "group_weight", "margin", "margin_a1")
# GRPO, the published rule and two variants built to survive normalisation (README's table)
DEFAULT_VARIANTS = ("grpo", "tgrpo", "after_norm", "margin")
DEFAULT_STEPS = 300  # the README's runs; GRPO's training reward still rises there (README)
QUICK_VARIANTS = ("grpo", "tgrpo", "tgrpo_nostd")
# the demo's tasks plus `appear`: four order-dependent tasks and two controls
EXPERIMENT_TASKS = ("direction", "event_order", "reverse", "appear", "shape_video", "color_image")
# every ordered rollout of every step goes to rollouts.jsonl, for the channel analysis
LOG_ROLLOUTS = "rl.debug_rollouts=1000000"
# common random numbers: the runs of one seed draw the same ordered rollouts while their
# policies agree, so a paired difference is caused by the temporal rule (rollout/paired.py)
PAIRED = "rl.paired_sampling=true"
# the README's runs sampled from the whole distribution (temperature, top-p; transformers 5
# generate with no top-k): rl.top_k's default of 50 came later and would change the sampling
# between the seeds that are pooled
NO_TOP_K = "rl.top_k=0"


def run_rl(base: Path, run_dir: Path, variant: str, seed: int, steps: int, scale,
           progress: bool) -> None:  # fmt: skip
    """One RL run from the base SFT checkpoint (resumes an interrupted one)."""
    from video_r1.demo.pipeline import load_demo_config
    from video_r1.recipes.grpo import train
    from video_r1.recipes.grpo_config import GRPOConfig

    overrides = [
        f"model.path={(base / 'sft' / 'final').resolve()}",
        f"data.train_file={base / 'synth' / 'train.jsonl'}",
        f"data.media_root={base / 'synth'}",
        f"media.cache_dir={base / 'frame_cache'}",
        f"checkpoint.output_dir={run_dir}",
        f"logging.progress_bar={str(progress).lower()}",
        f"seed={seed}",
        f"data.seed={seed}",
        f"optim.max_steps={steps}",
        LOG_ROLLOUTS,
        PAIRED,
        NO_TOP_K,
        *scale.grpo_overrides,
        *VARIANTS[variant],
    ]
    train(load_demo_config(GRPOConfig, "grpo", overrides), resume="latest")


def run_temporal(
    out: Path,
    scale_name: str,
    seeds: list[int],
    steps: int,
    variants: list[str],
    threads: int = 1,
    progress: bool = True,
    base: Path | None = None,
    jobs: int = 1,
    earlier: list[Path] | None = None,
    comparisons: int = 1,
    shipped_sft: Path | None = None,
) -> str:
    """Run (or resume) the experiment; write OUT/results.{json,md} and OUT/temporal.png.

    `base` (default OUT/base, built here): folder with synth/ and sft/final to start from.
    shipped_sft: an exported base (`shipped_base.export_base`) to take as the SFT checkpoint
    instead of training one here (other CPUs train other checkpoints).
    jobs: processes running seeds side by side (`run_jobs`), each with `threads` threads.
    earlier: earlier reports' results.json to pool the paired differences with (`write_results`).
    comparisons: how many comparisons the verdicts are among (`write_results`).
    See `report_finished` for the report alone."""
    import torch

    from video_r1.demo.pipeline import SCALES, banner, make_benchmark, make_model, run_sft
    from video_r1.experiments.temporal_report import order_dependent_tasks, write_results

    if threads > 0:
        torch.set_num_threads(threads)
    scale = dataclasses.replace(SCALES[scale_name], tasks=EXPERIMENT_TASKS)
    base = base or out / "base"  # a finished demo folder has the same layout
    if not (base / "synth" / "tasks.json").exists():
        banner("synth", f"{scale.records} records")
        make_benchmark(base / "synth", scale, 0, progress)
    if not (base / "tiny_model").exists():
        banner("model", "tiny Qwen2.5-VL")
        make_model(base / "tiny_model", scale, 0)
    if shipped_sft is not None:  # checked against this base's benchmark and initial model
        from video_r1.experiments.shipped_base import adopt_base

        banner("sft", f"the shipped checkpoint {shipped_sft}")
        adopt_base(shipped_sft, base)
    elif not (base / "sft" / "final").exists():
        banner("sft", "the shared SFT checkpoint")
        run_sft(base, base / "tiny_model", scale, 0, progress)
    if earlier:  # the base just built may be another checkpoint than theirs: say so before runs
        from video_r1.experiments.temporal_paired import load_earlier
        from video_r1.experiments.temporal_report import base_fingerprint

        base_sft = base_fingerprint(base)  # hashes the weights: once, not per file
        for path in earlier:
            load_earlier(path, base_sft, steps)
    if jobs > 1 and len(seeds) > 1:
        run_jobs(out, base, scale_name, seeds, steps, variants, threads, jobs)
    else:
        run_seeds(out, base, scale, seeds, steps, variants, progress)
    order_tasks = order_dependent_tasks(base / "synth" / "tasks.json")
    return write_results(out, variants, seeds, steps, order_tasks, earlier=earlier, base=base,
                         comparisons=comparisons)  # fmt: skip


def run_jobs(out: Path, base: Path, scale_name: str, seeds: list[int], steps: int,
             variants: list[str], threads: int, jobs: int) -> None:  # fmt: skip
    """Seeds dealt round-robin to `jobs` processes of this command (logs: OUT/logs/);
    raises if any fails (its log says why; a rerun resumes)."""
    import subprocess
    import sys

    (out / "logs").mkdir(parents=True, exist_ok=True)
    procs = []
    for job in range(min(jobs, len(seeds))):
        mine = [str(s) for s in seeds[job::jobs]]
        log = out / "logs" / f"job{job}.log"
        command = [sys.executable, "-m", "video_r1.cli", "experiment", "temporal",
                   "--out", str(out), "--from-demo", str(base), "--scale", scale_name,
                   "--seeds", *mine, "--steps", str(steps), "--variants", *variants,
                   "--threads", str(threads), "--no-progress"]  # fmt: skip
        print(f"# job {job}: seeds {' '.join(mine)} (log: {log})", flush=True)
        with log.open("a") as stream:
            procs.append((log, subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT)))
    failed = [str(log) for log, proc in procs if proc.wait() != 0]
    if failed:
        raise RuntimeError(f"experiment job(s) failed, see {', '.join(failed)}; rerun to resume")


def run_seeds(out: Path, base: Path, scale, seeds: list[int], steps: int, variants: list[str],
              progress: bool) -> None:  # fmt: skip
    """Every variant's RL run and evaluation for `seeds`, one after another (seed-major:
    an interrupted experiment has whole seeds to pair)."""
    from video_r1.demo.pipeline import banner
    from video_r1.evaluation.both_orders import evaluate_both_orders

    for seed in seeds:
        for variant in variants:
            run_dir = out / "runs" / variant / f"seed{seed}"
            start = time.perf_counter()
            if not (run_dir / "final").exists():
                banner(f"{variant} seed {seed}", f"{DESCRIPTIONS[variant]}, {steps} steps")
                run_rl(base, run_dir, variant, seed, steps, scale, progress)
            if not (run_dir / "eval" / "summary.json").exists():
                banner(f"{variant} seed {seed}", "evaluation, ordered and shuffled frames")
                evaluate_both_orders(
                    run_dir / "final", base / "synth", run_dir / "eval", frames=scale.frames,
                    size=scale.size, max_new_tokens=scale.eval_max_new_tokens, progress=progress,
                )  # fmt: skip
            print(f"# {variant} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)


def report_finished(out: Path, variants: list[str], seeds: list[int] | None,
                    base: Path | None = None, earlier: list[Path] | None = None,
                    comparisons: int = 1) -> str:  # fmt: skip
    """The report of the runs finished so far, running nothing (e.g. while seeds still run
    elsewhere); unfinished runs are listed. seeds None: every seed found under OUT/runs."""
    from video_r1.experiments.temporal_report import order_dependent_tasks, write_results

    tasks_json = (base or out / "base") / "synth" / "tasks.json"
    if not tasks_json.exists():
        raise FileNotFoundError(f"{tasks_json}: no experiment base here; run the experiment first")
    if seeds is None:
        found = {p.name for v in variants for p in (out / "runs" / v).glob("seed*")}
        seeds = sorted(int(name[4:]) for name in found if name[4:].isdigit())
    steps = _steps_of_runs(out, variants, seeds)
    return write_results(out, variants, seeds, steps, order_dependent_tasks(tasks_json),
                         finished_only=True, earlier=earlier, base=base,
                         comparisons=comparisons)  # fmt: skip


def _steps_of_runs(out: Path, variants: list[str], seeds: list[int]) -> int:
    """The RL steps of the finished runs (their saved config); ValueError if they differ."""
    import yaml

    steps = set()
    for variant in variants:
        for seed in seeds:
            config = out / "runs" / variant / f"seed{seed}" / "final" / "config.yaml"
            if config.exists():
                steps.add(int(yaml.safe_load(config.read_text())["optim"]["max_steps"]))
    if len(steps) != 1:
        raise ValueError(f"{out}: finished runs with steps {sorted(steps) or 'unknown'}; "
                         "report runs of one length")  # fmt: skip
    return steps.pop()
