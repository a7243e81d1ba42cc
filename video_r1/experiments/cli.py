"""Run one of the project's measured experiments.

    video-r1 experiment temporal --jobs 2    # the defaults: 8 seeds x 4 variants x 300 steps
    video-r1 experiment temporal --quick --from-demo runs/demo     # a first look

temporal: from one SFT checkpoint on the synthetic benchmark, with the same budget and 8 seeds,
GRPO and T-GRPO variants (as published, without group std scaling, and the variants of
docs/experiment_temporal.md), every run with common random numbers (rl.paired_sampling). Runs of the same seed
are paired: per task and pooled over the order-dependent tasks, the per-seed difference to
GRPO of ordered accuracy and of the ordered - shuffled gap with 95% t-intervals, and how often
groups give the published bonus a channel (varying format or length); OUT/results.md,
OUT/results.json, OUT/temporal.png, OUT/paired.png. Rerunning resumes finished runs. The
experiment is concluded: docs/experiment_temporal.md gives its findings and one command per
comparison.
`--earlier` pools the paired differences with earlier reports of other seeds from the same
SFT checkpoint (another session; results.json records the checkpoint), in results.md and
OUT/paired_with_earlier.png. A verdict that is one of several comparisons (variants compared,
seeds looked at batch by batch) is read from the familywise interval of `--comparisons`:

    video-r1 experiment temporal --jobs 2 --seeds $(seq 20 39) --variants grpo margin \\
        --earlier docs/experiment_temporal/results_seeds0-19.json --comparisons 4

Other CPUs train other SFT checkpoints from the same code, so seeds added on another machine
start from the earlier runs' exported checkpoint (`--export-base DEST`, then `--base-sft DEST`
there; the benchmark and the initial model are rebuilt and checked against its manifest):

    video-r1 experiment temporal --jobs 2 --base-sft docs/experiment_temporal/base_f652668380050bfb \\
        --steps 1800 --variants grpo group_weight
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=["temporal"], help="the experiment to run")
    parser.add_argument(
        "--out", default="runs/experiment_temporal", help="run folder (reused to resume)"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None,
        help="RL seeds (rollout sampling, frame shuffles, record order); default 0..7 "
        "(--quick: 0 1 2)",
    )  # fmt: skip
    parser.add_argument(
        "--steps", type=int, default=None, help="RL steps per run (default 300; --quick: 10)"
    )
    parser.add_argument(
        "--variants", nargs="+", default=None,
        help="variants to run (default: grpo tgrpo after_norm margin; --quick: grpo tgrpo "
        "tgrpo_nostd); also tgrpo_nostd, tgrpo_mu1, group_weight, margin_a1 (margin with alpha 1.0)",
    )  # fmt: skip
    parser.add_argument(
        "--quick", action="store_true",
        help="a first look: seeds 0 1 2, 10 steps, GRPO and the published T-GRPO variants",
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
    parser.add_argument(
        "--base-sft", type=Path, default=None, metavar="DIR",
        help="take this exported SFT checkpoint (--export-base; the group_weight comparison's "
        "is docs/experiment_temporal/base_f652668380050bfb) as the base's instead of training "
        "one: another CPU trains another checkpoint. The benchmark and the initial model are "
        "built here and must be the ones it was trained from (checked)",
    )  # fmt: skip
    parser.add_argument(
        "--export-base", type=Path, default=None, metavar="DEST",
        help="write the base's SFT checkpoint (OUT/base, or --from-demo DIR) to the new folder "
        "DEST with a manifest of its benchmark and initial model, for --base-sft on another "
        "machine; runs nothing",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads per process (default 1)"
    )
    parser.add_argument(
        "--jobs", type=int, default=1,
        help="processes running seeds side by side (default 1; 2 on a 2-core machine)",
    )  # fmt: skip
    parser.add_argument(
        "--report-only", action="store_true",
        help="write the report of the runs finished under --out, running nothing (seeds: "
        "--seeds, or every seed found); unfinished runs are listed",
    )  # fmt: skip
    parser.add_argument(
        "--earlier", nargs="+", type=Path, default=None, metavar="RESULTS_JSON",
        help="results.json of earlier reports (other seeds, same SFT checkpoint: another "
        "session) whose paired differences to GRPO (each file's own `paired` rows) are pooled "
        "with this report's, each seed once; docs/experiment_temporal/ keeps each comparison's "
        "final one",
    )  # fmt: skip
    parser.add_argument(
        "--comparisons", type=int, default=1, metavar="K",
        help="how many comparisons the verdicts are among: variants compared x looks at the "
        "data (each batch of seeds pooled with earlier ones is a look). Beside each 95%% "
        "interval the report gives the ordered difference's familywise one, at 1 - 0.05/K "
        "(Bonferroni), and the verdicts claim an effect only from it (default 1: one planned "
        "comparison, the 95%% interval)",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from video_r1.experiments.temporal import (
        DEFAULT_STEPS,
        DEFAULT_VARIANTS,
        QUICK_VARIANTS,
        VARIANTS,
        report_finished,
        run_temporal,
    )

    variants = args.variants or list(QUICK_VARIANTS if args.quick else DEFAULT_VARIANTS)
    seeds = args.seeds or ([0, 1, 2] if args.quick else list(range(8)))
    steps = args.steps if args.steps is not None else (10 if args.quick else DEFAULT_STEPS)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        print(f"error: unknown variant(s) {unknown}; choose from {list(VARIANTS)}", file=sys.stderr)
        return 2
    if min(steps, args.jobs, args.comparisons) < 1:
        print(f"error: --steps >= 1, --jobs >= 1 and --comparisons >= 1 needed, got {steps}, "
              f"{args.jobs} and {args.comparisons}", file=sys.stderr)  # fmt: skip
        return 2
    base = Path(args.from_demo) if args.from_demo else Path(args.out) / "base"
    if args.base_sft and args.from_demo:
        print("error: --base-sft builds OUT/base; --from-demo reuses another base: not both",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.export_base:
        from video_r1.experiments.shipped_base import export_base

        try:
            manifest = export_base(base, args.export_base)
        except (FileNotFoundError, FileExistsError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"exported the SFT checkpoint {manifest['sft'][:16]} of {base} to "
              f"{args.export_base}")  # fmt: skip
        return 0
    try:  # before any run: a bad file or a seed run twice would fail the report (the base is
        # checked once built: run_temporal, write_results)
        _check_earlier(args.earlier or [], variants, None if args.report_only else seeds)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.report_only:
        try:
            print(report_finished(Path(args.out), variants, args.seeds, base, args.earlier,
                                  args.comparisons))  # fmt: skip
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    if args.from_demo and not (base / "sft" / "final").exists():
        print(
            f"error: {args.from_demo}: no finished demo (sft/final missing); run video-r1 demo",
            file=sys.stderr,
        )
        return 2
    try:
        report = run_temporal(
            Path(args.out), args.scale, seeds, steps, variants,
            threads=args.threads, progress=not args.no_progress,
            base=base, jobs=args.jobs, earlier=args.earlier, comparisons=args.comparisons,
            shipped_sft=args.base_sft,
        )  # fmt: skip
    except ValueError as e:  # an earlier report of another checkpoint than the base built,
        # or a shipped checkpoint trained from another benchmark or initial model
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report)
    return 0


def _check_earlier(paths: list[Path], variants: list[str], seeds: list[int] | None) -> None:
    """ValueError for an earlier report that cannot be read, or (seeds given: a run) that
    already holds a seed this run is about to add for one of `variants`."""
    from video_r1.experiments.temporal_paired import load_earlier

    for path in paths:
        for (variant, task, measure), (earlier_seeds, _) in load_earlier(path).items():
            twice = sorted(set(earlier_seeds) & set(seeds or []))
            if variant in variants and twice:
                raise ValueError(f"{path}: {variant} {task} {measure} already has seeds {twice}; "
                                 "run other seeds, or leave that report out")  # fmt: skip
