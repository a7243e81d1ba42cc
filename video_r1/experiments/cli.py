"""Run one of the project's measured experiments.

    video-r1 experiment temporal [--out runs/experiment_temporal] [--seeds 0 1 2] [--steps 30]

temporal: from one SFT checkpoint on the synthetic benchmark, with the same budget and several
seeds, GRPO, T-GRPO as published (mu 0.8, group std scaling), T-GRPO with mu 1.0 and T-GRPO
without group std scaling; per task and overall, mean and spread over seeds of ordered and
shuffled accuracy, their gap, and the fraction of groups passing the temporal rule
(OUT/results.md, OUT/results.json, OUT/temporal.png). Rerunning resumes finished runs.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=["temporal"], help="the experiment to run")
    parser.add_argument(
        "--out", default="runs/experiment_temporal", help="run folder (reused to resume)"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2],
        help="RL seeds (rollout sampling, frame shuffles, record order); default 0 1 2",
    )  # fmt: skip
    parser.add_argument("--steps", type=int, default=30, help="RL steps per run (default 30)")
    parser.add_argument(
        "--variants", nargs="+", default=None,
        help="subset of the variants (default all: grpo tgrpo tgrpo_mu1 tgrpo_nostd)",
    )  # fmt: skip
    parser.add_argument(
        "--scale", choices=["full", "quick"], default="full",
        help="data, model and SFT of the demo at this scale (quick: for tests)",
    )  # fmt: skip
    parser.add_argument(
        "--from-demo", default=None, metavar="DIR",
        help="reuse a finished `video-r1 demo --out DIR` (its data and SFT checkpoint) as the "
        "base instead of building one under OUT/base",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from video_r1.experiments.temporal import VARIANTS, run_temporal

    variants = args.variants or list(VARIANTS)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or args.steps < 1 or not args.seeds:
        print(f"error: unknown variant(s) {unknown}; choose from {list(VARIANTS)}, "
              "with --steps >= 1 and at least one seed")  # fmt: skip
        return 2
    from pathlib import Path

    if args.from_demo and not (Path(args.from_demo) / "sft" / "final").exists():
        print(f"error: {args.from_demo}: no finished demo (sft/final missing); run video-r1 demo")
        return 2
    report = run_temporal(
        Path(args.out), args.scale, args.seeds, args.steps, variants,
        threads=args.threads, progress=not args.no_progress,
        base=Path(args.from_demo) if args.from_demo else None,
    )  # fmt: skip
    print(report)
    return 0
