"""Does DAPO's dynamic sampling pay for its extra rollouts? The demo's T-GRPO run with and
without `rl.dynamic_sampling`, the same wall-clock budget each, several seeds (issue 59).

Setting: the demo's data and SFT checkpoint (`video-r1 demo --out DIR`: DIR/synth and
DIR/sft/final; built here when missing, as the demo builds them), its RL config
(video_r1/configs/demo/grpo.yaml) for both arms with two changes so that a run can stop at any
step: a constant learning rate after 20 warm-up steps (a cosine schedule would decay over a
step count neither arm knows in advance) and no step limit. Each run trains until `--budget`
seconds have passed since it started (model loading included), saves that step's checkpoint
and stops; the checkpoint is then evaluated greedily on the test split, ordered and shuffled
frames, as the demo evaluates (`evaluate_both_orders`; not part of the budget). Arms:

- plain: the demo's run (every drawn group trained, zero-variance ones included);
- dynamic: + rl.dynamic_sampling=true (rl.dynamic_sampling_max_rounds 4): groups whose ordered
  rewards are all equal are dropped and refilled, so a step costs more generation.

Printed per arm, mean +- SD over seeds (and each seed): the share of the groups the loss saw
that had zero variance, the steps done within the budget, and the pooled ordered accuracy on
the order-dependent tasks (the demo's headline measure). Runs go `--jobs` at a time, each in
its own process on `--threads` torch threads; results land in OUT/<arm>/seed<k>/ and a rerun
skips finished runs.

    .venv/bin/python benchmarks/dynamic_sampling.py --demo runs/demo --out runs/bench_dynamic \\
        --seeds 0 1 2 --budget 400 --jobs 2
    # smoke check on the quick demo: --scale quick --budget 5
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ARMS = {"plain": [], "dynamic": ["rl.dynamic_sampling=true"]}
# both arms: a schedule that does not need the run's length, and no step limit
BUDGET_OVERRIDES = ["optim.schedule=constant", "optim.warmup_steps=20",
                    "optim.max_steps=1000000", "checkpoint.save_every=0",
                    "checkpoint.keep_last=1"]  # fmt: skip


class BudgetReached(Exception):
    """Raised after the checkpoint of the step that used up the budget."""


def run_one(demo: Path, run_dir: Path, arm: str, seed: int, budget: float, scale_name: str,
            threads: int) -> dict:  # fmt: skip
    """Train one arm for `budget` seconds, evaluate its last step; writes run_dir/result.json."""
    import torch

    import video_r1.recipes.grpo_log as grpo_log
    import video_r1.train.checkpoint as checkpoint
    from video_r1.demo.pipeline import SCALES, config_overrides, load_demo_config
    from video_r1.evaluation.both_orders import evaluate_both_orders
    from video_r1.recipes.grpo import train
    from video_r1.recipes.grpo_config import GRPOConfig

    torch.set_num_threads(threads)
    scale = SCALES[scale_name]
    overrides = config_overrides(demo, "grpo", (demo / "sft" / "final").resolve(), scale, seed,
                                 progress=False)  # fmt: skip
    overrides = [o for o in overrides if not o.startswith("checkpoint.output_dir=")]
    overrides += [f"checkpoint.output_dir={run_dir / 'train'}", "checkpoint.overwrite=true",
                  *BUDGET_OVERRIDES, *ARMS[arm]]  # fmt: skip
    cfg = load_demo_config(GRPOConfig, "grpo", overrides)
    start = time.perf_counter()
    original_log, original_save = grpo_log.log_step, checkpoint.save_checkpoint
    saved: list[Path] = []

    def log_step(run, *args, **kwargs):  # the loop reads save_every after logging each step
        totals = original_log(run, *args, **kwargs)
        if time.perf_counter() - start >= budget:
            run.cfg.checkpoint.save_every = 1  # this step is the last: save it
        return totals

    def save_checkpoint(*args, **kwargs):
        saved.append(original_save(*args, **kwargs))
        raise BudgetReached()

    grpo_log.log_step, checkpoint.save_checkpoint = log_step, save_checkpoint
    try:
        train(cfg)
        raise RuntimeError("the run ended before its budget; raise optim.max_steps")
    except BudgetReached:
        pass
    finally:
        grpo_log.log_step, checkpoint.save_checkpoint = original_log, original_save
    seconds = time.perf_counter() - start
    evaluate_both_orders(saved[0], demo / "synth", run_dir / "eval", frames=scale.frames,
                         size=scale.size, max_new_tokens=scale.eval_max_new_tokens,
                         progress=False)  # fmt: skip
    result = measures(run_dir, demo, cfg.optim.per_device_batch_size * cfg.optim.grad_accum)
    result.update({"arm": arm, "seed": seed, "train_seconds": round(seconds, 1)})
    (run_dir / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def measures(run_dir: Path, demo: Path, prompts_per_step: int) -> dict:
    """Steps done, zero-variance share of the groups trained on, pooled ordered accuracy on
    the order-dependent tasks, from a finished run's metrics.jsonl and eval summary.json."""
    from video_r1.demo.report import task_accuracy
    from video_r1.experiments.temporal_report import order_dependent_tasks
    from video_r1.utils.io import read_jsonl

    rows = read_jsonl(run_dir / "train" / "metrics.jsonl")
    zero = sum(r["train/groups/zero_variance_count"] for r in rows)
    # without dynamic sampling every prompt of the step is trained (the demo has no bad media)
    groups = sum(r.get("train/dynamic/groups_trained", prompts_per_step) for r in rows)
    summary = json.loads((run_dir / "eval" / "summary.json").read_text())
    accuracy = task_accuracy(summary, "ordered")
    tasks = order_dependent_tasks(demo / "synth" / "tasks.json")
    pooled = math.fsum(accuracy[t][0] for t in tasks) / len(tasks)
    drawn = sum(r.get("train/dynamic/groups_drawn", prompts_per_step) for r in rows)
    share = zero / groups if groups else math.nan  # nan: the loss saw no group at all
    return {"steps": len(rows), "zero_variance_share": share,
            "groups_trained": groups, "groups_drawn": drawn,
            "ordered_accuracy_order_tasks": pooled}  # fmt: skip


def ensure_demo(demo: Path, scale_name: str, threads: int) -> None:
    """The demo's synthetic data, tiny model and SFT checkpoint under `demo`, built if missing
    (seed 0, as `video-r1 demo` builds them)."""
    import torch

    from video_r1.demo.pipeline import SCALES, make_benchmark, make_model, run_sft

    torch.set_num_threads(threads)
    scale = SCALES[scale_name]
    if not (demo / "synth" / "tasks.json").exists():
        make_benchmark(demo / "synth", scale, 0, progress=False)
    if not (demo / "tiny_model").exists():
        make_model(demo / "tiny_model", scale, 0)
    if not (demo / "sft" / "final").exists():
        run_sft(demo, demo / "tiny_model", scale, 0, progress=False)


def table(results: list[dict]) -> str:
    """Markdown: per arm, mean +- SD over seeds of each measure, and the seeds' values."""
    lines = ["| arm | seeds | zero-variance share of trained groups | steps in budget | "
             "groups drawn | ordered acc., order-dependent tasks (%) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for arm in ARMS:
        mine = sorted((r for r in results if r["arm"] == arm), key=lambda r: r["seed"])
        if not mine:
            continue
        cells = []
        for key, scale in (("zero_variance_share", 100), ("steps", 1), ("groups_drawn", 1),
                           ("ordered_accuracy_order_tasks", 100)):  # fmt: skip
            values = [scale * r[key] for r in mine]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            each = ", ".join(f"{v:.1f}" for v in values)
            cells.append(f"{statistics.fmean(values):.1f} +- {spread:.1f} ({each})")
        lines.append(f"| {arm} | {len(mine)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo", type=Path, required=True, help="demo folder (synth, sft)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=400.0, help="seconds of RL per run")
    parser.add_argument("--scale", default="full", help="the demo's scale (quick: smoke test)")
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--one", nargs=2, metavar=("ARM", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # a worker: one run in this process
        arm, seed = args.one[0], int(args.one[1])
        run_one(args.demo, args.out / arm / f"seed{seed}", arm, seed, args.budget, args.scale,
                args.threads)  # fmt: skip
        return 0
    ensure_demo(args.demo, args.scale, args.threads)
    todo = [(arm, seed) for seed in args.seeds for arm in ARMS
            if not (args.out / arm / f"seed{seed}" / "result.json").exists()]  # fmt: skip

    def work(job: tuple[str, int]) -> None:
        arm, seed = job
        log = args.out / "logs" / f"{arm}_seed{seed}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, __file__, "--demo", str(args.demo), "--out", str(args.out),
                   "--budget", str(args.budget), "--scale", args.scale, "--threads",
                   str(args.threads), "--one", arm, str(seed)]  # fmt: skip
        with log.open("w") as stream:
            code = subprocess.call(command, stdout=stream, stderr=subprocess.STDOUT)
        print(f"# {arm} seed {seed}: exit {code} (log {log})", flush=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(work, todo))
    results = [json.loads(p.read_text()) for p in sorted(args.out.glob("*/seed*/result.json"))]
    text = table(results)
    (args.out / "results.md").write_text(text)
    print(f"# {len(todo)} run(s) in {time.perf_counter() - start:.0f} s\n{text}", flush=True)
    return 0


if __name__ == "__main__":
    from video_r1.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    sys.exit(main())
