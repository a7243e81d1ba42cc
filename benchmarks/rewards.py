"""Benchmark: score N mixed completions with the accuracy and format rewards; print
completions per second per problem type.

    .venv/bin/python benchmarks/rewards.py [--n 100000] [--lenient] [--seed 0]

Completions look like a policy's: a <think> block of ~60-120 words then an <answer> (some
malformed or missing), mixed over the five problem types in the Video-R1-260k proportions.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

# Run from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from video_r1.rewards import accuracy_reward, format_reward  # noqa: E402

# Video-R1-260k counts per type (docs/spec.md#data).
TYPE_WEIGHTS = {
    "multiple choice": 168_769,
    "free-form": 38_722,
    "numerical": 34_354,
    "OCR": 15_886,
    "regression": 5_340,
}
WORDS = (
    "let me think the video shows a person walking towards red car then turning left wait "
    "hmm oh I see so the answer should be counted frames objects distance meters sign reads"
).split()


def make_example(rng: random.Random, qtype: str) -> tuple[str, str]:
    """One (completion, solution) pair of the given type."""
    if qtype == "multiple choice":
        gt, pred = rng.choice("ABCD"), rng.choice(["A", "B", "C", "D", "B. blue", "(c)"])
    elif qtype in ("numerical", "regression"):
        value = rng.randint(1, 500)
        gt = str(value) if qtype == "numerical" else f"{value / 10:.1f}"
        pred = rng.choice([gt, str(value + rng.randint(-5, 5)), f"{value}.0", "about 3 m"])
    elif qtype == "OCR":
        gt = " ".join(rng.choices(WORDS, k=rng.randint(2, 8)))
        pred = " ".join(w if rng.random() < 0.8 else rng.choice(WORDS) for w in gt.split())
    else:
        gt = " ".join(rng.choices(WORDS, k=rng.randint(5, 20)))
        pred = " ".join(rng.choices(WORDS, k=rng.randint(5, 25)))
    think = " ".join(rng.choices(WORDS, k=rng.randint(60, 120)))
    form = rng.random()
    if form < 0.85:
        completion = f"<think>{think}</think>\n<answer>{pred}</answer>"
    elif form < 0.95:
        completion = f"<think>{think}</think> The answer is {pred}"
    else:
        completion = f"{think} <answer>{pred}"
    return completion, f"<answer>{gt}</answer>"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="completions in all")
    parser.add_argument("--lenient", action="store_true", help="score with lenient=True")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the completions")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    types = rng.choices(list(TYPE_WEIGHTS), weights=list(TYPE_WEIGHTS.values()), k=args.n)
    by_type: dict[str, tuple[list[str], list[str]]] = {t: ([], []) for t in TYPE_WEIGHTS}
    for t in types:
        completion, solution = make_example(rng, t)
        by_type[t][0].append(completion)
        by_type[t][1].append(solution)

    accuracy_reward(["<answer>a</answer>"], ["<answer>a</answer>"], "free-form")  # build ROUGE
    print(f"{'type':<16}{'n':>8}{'seconds':>10}{'completions/s':>16}{'mean reward':>13}")
    total_n, total_s = 0, 0.0
    for t, (completions, solutions) in by_type.items():
        start = time.perf_counter()
        values = accuracy_reward(completions, solutions, t, lenient=args.lenient)
        seconds = time.perf_counter() - start
        total_n, total_s = total_n + len(values), total_s + seconds
        mean = sum(values) / max(1, len(values))
        rate = len(values) / seconds
        print(f"{t:<16}{len(values):>8}{seconds:>10.3f}{rate:>16,.0f}{mean:>13.3f}")
    print(f"{'all (accuracy)':<16}{total_n:>8}{total_s:>10.3f}{total_n / total_s:>16,.0f}")
    everything = [c for completions, _ in by_type.values() for c in completions]
    start = time.perf_counter()
    values = format_reward(everything)
    seconds = time.perf_counter() - start
    mean = sum(values) / len(values)
    print(
        f"{'format':<16}{len(values):>8}{seconds:>10.3f}{len(values) / seconds:>16,.0f}{mean:>13.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
