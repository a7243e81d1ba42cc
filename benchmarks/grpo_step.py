"""One T-GRPO step, video-r1's optimised path vs the same step with reuse and batching off.

Setting (REFERENCE.md's baseline): a tiny random Qwen2.5-VL (text hidden 128, 2 layers, vision
depth 2), /work/shared/media/video1.mp4 at training settings (16 frames, 128x28x28 pixels per
frame), G = 8 ordered + 4 shuffled rollouts of exactly 64 new tokens, beta 0.04, fp32, one
prompt per step, CPU.

- optimised: the vision tower once per (prompt, frame order); one generate call for all 12
  rollouts; features shared by the policy and (frozen-tower-free) reference passes.
- off: the published structure: pixels repeated once per rollout, ordered and shuffled
  generated in two sequential calls, policy and reference forwards on repeated pixels.

Each mode runs in its own processes (for its own peak RSS), the two modes alternating for
`--rounds` rounds so that a change in machine load hits both alike; prints the median step
time over all timed steps, the per-phase breakdown (other = time outside the phases, mostly
freeing the step's tensors), peak RSS, and the ratio.

    .venv/bin/python benchmarks/grpo_step.py [--steps 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

VIDEO = "/work/shared/media/video1.mp4"
G, G_SHUFFLED, NEW_TOKENS, BETA = 8, 4, 64, 0.04


def _step(
    mode: str, model, reference, processor, record, settings, optimizer, gen_config, eos, seed
):
    import torch

    from video_r1.media import load_video
    from video_r1.prompts import build_messages, encode_prompts, repeat_batch, select
    from video_r1.rewards import accuracy_reward, format_reward
    from video_r1.rl import group_advantages, policy_loss
    from video_r1.rl.frame_order import time_shuffle
    from video_r1.rollout import (
        Rollouts,
        completion_logprobs,
        completion_mask,
        detach_features,
        encode_vision,
        generate_rollouts,
    )

    times: dict[str, float] = defaultdict(float)

    @contextmanager
    def timer(phase):
        start = time.perf_counter()
        yield
        times[phase] += time.perf_counter() - start

    gen = torch.Generator().manual_seed(seed)
    with timer("media"):
        clip = load_video(VIDEO, settings)
        shuffled = clip.reordered(time_shuffle(clip.num_frames, gen))
    with timer("prompt"):
        messages = build_messages(record)
        batch = encode_prompts(processor, [messages, messages], [clip, shuffled])
        inputs = batch.model_inputs
    tokenizer = processor.tokenizer
    if mode == "optimised":
        with timer("generate"):
            encoded = encode_vision(model, inputs, grad_rows=[0])  # graph for the ordered row
            rollouts = generate_rollouts(
                model, detach_features(encoded), [G, G_SHUFFLED], gen_config, eos
            )
        ordered = torch.arange(G)
        with timer("reference"), torch.no_grad():
            ref_encoded = encode_vision(reference, select(inputs, [0]))
            ref_logprobs = completion_logprobs(reference, ref_encoded, rollouts, ordered)
        with timer("logprobs"):
            logprobs = completion_logprobs(model, encoded, rollouts, ordered)
    else:
        with timer("generate"), torch.no_grad():
            outs = []
            for row, n in ((0, G), (1, G_SHUFFLED)):  # two sequential calls, pixels repeated
                rep = repeat_batch(select(inputs, [row]), n)
                outs.append(model.generate(**rep, generation_config=gen_config))
            prompt_len = inputs["input_ids"].shape[1]
            completions = torch.cat([o[:, prompt_len:] for o in outs])
            rows = torch.tensor([0] * G + [1] * G_SHUFFLED)
            rollouts = Rollouts(
                rows=rows, prompt_ids=inputs["input_ids"][rows], prompt_mask=inputs["attention_mask"][rows],
                completion_ids=completions, completion_mask=completion_mask(completions, eos),
                truncated=torch.ones(len(rows), dtype=torch.bool),
            )  # fmt: skip

        def repeated_logprobs(net):
            rep = repeat_batch(select(inputs, [0]), G)
            comp = rollouts.completion_ids[:G]
            rep["input_ids"] = torch.cat([rep["input_ids"], comp], 1)
            rep["attention_mask"] = torch.cat(
                [rep["attention_mask"], rollouts.completion_mask[:G]], 1
            )
            types = rep["mm_token_type_ids"]
            rep["mm_token_type_ids"] = torch.cat(
                [types, torch.zeros_like(comp, dtype=types.dtype)], 1
            )
            logits = net(**rep, logits_to_keep=comp.shape[1] + 1).logits[:, :-1]
            return torch.log_softmax(logits, -1).gather(-1, comp.unsqueeze(-1)).squeeze(-1)

        with timer("reference"), torch.no_grad():
            ref_logprobs = repeated_logprobs(reference)
        with timer("logprobs"):
            logprobs = repeated_logprobs(model)
    with timer("rewards"):
        texts = tokenizer.batch_decode(rollouts.completion_ids, skip_special_tokens=True)
        columns = {
            "solution": [record.solution] * len(texts),
            "problem_type": [record.problem_type] * len(texts),
        }
        acc = accuracy_reward(texts, **columns)
        fmt = format_reward(texts)
        # + 0.01 i: a random model scores 0 everywhere; keep the advantages non-zero
        rewards = torch.tensor(
            [a + f + 0.01 * i for i, (a, f) in enumerate(zip(acc, fmt, strict=True))]
        )[:G]
        advantages = group_advantages(rewards.view(1, G)).view(-1)
    with timer("backward"):
        loss, _ = policy_loss(logprobs, advantages, rollouts.completion_mask[:G].float(),
                              ref_logprobs=ref_logprobs, beta=BETA)  # fmt: skip
        loss.backward()
    with timer("optimizer"):
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return dict(times)


def run_mode(mode: str, steps: int, model_dir: str) -> dict:
    import torch

    import video_r1  # noqa: F401
    from video_r1.data.records import Record
    from video_r1.media.types import VideoSettings
    from video_r1.models import generation_config, load_model, load_processor, stop_token_ids

    torch.manual_seed(0)
    model = load_model(model_dir, dtype="float32")
    reference = load_model(model_dir, dtype="float32").eval().requires_grad_(False)
    processor = load_processor(model_dir)
    gen_config = generation_config(
        model, processor, temperature=1.0, top_p=0.95, max_new_tokens=NEW_TOKENS
    )
    gen_config.min_new_tokens = NEW_TOKENS  # fixed-length completions
    eos = stop_token_ids(processor.tokenizer)
    record = Record(
        problem_id=0, problem="What happens in the video?", data_type="video",
        problem_type="multiple choice", solution="<answer>A</answer>", path="video1.mp4",
        media_path=Path(VIDEO), options=("A. something", "B. nothing"),
    )  # fmt: skip
    settings = VideoSettings()  # training: 16 frames, 128x28x28
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    runs = []
    for i in range(steps + 1):  # the first step warms up
        start = time.perf_counter()
        phases = _step(
            mode, model, reference, processor, record, settings, optimizer, gen_config, eos, i
        )
        phases["total"] = time.perf_counter() - start
        phases["other"] = phases["total"] - sum(v for k, v in phases.items() if k != "total")
        if i:
            runs.append(phases)
    return {
        "mode": mode,
        "steps": runs,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--steps", type=int, default=3, help="timed steps per round (after 1 warm-up)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per mode")
    parser.add_argument("--mode", choices=["optimised", "off"], help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args.mode, args.steps, args.model_dir)))
        return
    import video_r1  # noqa: F401
    from video_r1.models import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(Path(tmp) / "tiny", "qwen2.5-vl")
        steps: dict[str, list] = {"optimised": [], "off": []}
        rss: dict[str, float] = {"optimised": 0.0, "off": 0.0}
        for _ in range(args.rounds):
            for mode in ("optimised", "off"):
                proc = subprocess.run(
                    [sys.executable, __file__, "--mode", mode, "--steps", str(args.steps), "--model-dir", str(model_dir)],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                steps[mode] += result["steps"]
                rss[mode] = max(rss[mode], result["peak_rss_gib"])
    results = {
        mode: {
            "median": {k: statistics.median(s[k] for s in runs) for k in runs[0]},
            "peak_rss_gib": rss[mode],
        }
        for mode, runs in steps.items()
    }
    phases = [
        "media",
        "prompt",
        "generate",
        "rewards",
        "reference",
        "logprobs",
        "backward",
        "optimizer",
        "other",
        "total",
    ]
    n = args.steps * args.rounds
    print(f"T-GRPO step, tiny Qwen2.5-VL, video1.mp4 16 frames, G={G}+{G_SHUFFLED}, {NEW_TOKENS} tokens; "
          f"median of {n} steps per mode, {args.rounds} alternating rounds (s)")  # fmt: skip
    print(f"{'phase':<10} {'optimised':>10} {'off':>10}")
    for phase in phases:
        a, b = (
            results["optimised"]["median"].get(phase, 0.0),
            results["off"]["median"].get(phase, 0.0),
        )
        print(f"{phase:<10} {a:>10.3f} {b:>10.3f}")
    print(
        f"{'peak RSS':<10} {results['optimised']['peak_rss_gib']:>9.2f}G {results['off']['peak_rss_gib']:>9.2f}G"
    )
    ratio = results["off"]["median"]["total"] / results["optimised"]["median"]["total"]
    print(f"speed-up (off / optimised): {ratio:.2f}x")


if __name__ == "__main__":
    main()
