"""Two-process ZeRO-3 T-GRPO step: weights gathered once per generation call vs per token, and DDP.

Setting (issue 15): the recipe itself (`video-r1 grpo`) on two CPU processes (gloo,
OMP_NUM_THREADS=1 each), `configs/grpo_tiny.yaml` (tiny random Qwen2.5-VL, G = 4 ordered +
2 shuffled rollouts, 8 frames of at most 16x28x28 pixels), 1 prompt per process (synthetic
`direction` clips, so every prompt is a video with a shuffled row), exactly 64 new tokens
(rl.min_completion_length = rl.max_completion_length = 64), beta 0.04 (a reference model).

- gathered: ZeRO-3 (configs/accelerate/zero3.yaml), rl.gather_for_generation=true: the weights
  are gathered once per generation call and once for the reference pass (video_r1/train/zero3.py).
- per_token: ZeRO-3 with rl.gather_for_generation=false: every forward of every decode step
  gathers each layer again, and the processes step together (synced_gpus).
- ddp: torchrun, every process holds the whole model.

Each run is a fresh launch of `--steps` + 1 steps (the first warms up and is dropped); the modes
alternate for `--rounds` rounds so that a change in machine load hits all alike. Prints the
medians of the per-step times the recipe logs (train/time/generate and train/time/reference:
mean over processes; train/step_time_s: the slowest process) and the ratios.

    .venv/bin/python benchmarks/zero3_generation.py [--steps 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).parents[1]
NEW_TOKENS = 64
MODES = ("gathered", "per_token", "ddp")
COLUMNS = {"generate": "train/time/generate", "reference": "train/time/reference",
           "step": "train/step_time_s"}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launcher(mode: str, ds_json: Path | None = None) -> list[str]:
    """Two processes: accelerate launch with the ZeRO-3 config (or, with `ds_json`, a DeepSpeed
    JSON that sets the persistence threshold), or torchrun for DDP."""
    if mode == "ddp":
        return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_addr", "127.0.0.1", "--master_port", str(_free_port())]  # fmt: skip
    config = (["--use_deepspeed", "--deepspeed_config_file", str(ds_json)] if ds_json else
              ["--config_file", str(REPO / "configs" / "accelerate" / "zero3.yaml")])  # fmt: skip
    return [sys.executable, "-m", "accelerate.commands.launch", *config,
            "--num_processes", "2", "--mixed_precision", "no",
            "--main_process_port", str(_free_port())]  # fmt: skip


def run_once(
    mode: str, steps: int, model_dir: Path, synth: Path, out: Path, ds_json: Path | None = None
) -> list[dict]:
    """Launch `steps` + 1 recipe steps in `mode`; the timed steps' logged times."""
    overrides = [
        f"model.path={model_dir}", f"data.train_file={synth / 'train.jsonl'}",
        f"data.media_root={synth}", f"checkpoint.output_dir={out}", "data.shuffle=false",
        "logging.progress_bar=false", "optim.per_device_batch_size=1",
        f"optim.max_steps={steps + 1}", f"rl.max_completion_length={NEW_TOKENS}",
        f"rl.min_completion_length={NEW_TOKENS}",
        f"rl.gather_for_generation={'false' if mode == 'per_token' else 'true'}",
    ]  # fmt: skip
    command = [*_launcher(mode, ds_json), "-m", "video_r1.cli", "grpo",
               "--config", str(REPO / "configs" / "grpo_tiny.yaml"), *overrides]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{name: row[key] for name, key in COLUMNS.items()} for row in rows[1:]]


def print_table(results: dict[str, list[dict]], rounds: int) -> None:
    medians = {
        mode: {name: statistics.median(s[name] for s in runs) for name in COLUMNS}
        for mode, runs in results.items()
    }
    n = len(results[MODES[0]])
    print(f"two-process T-GRPO step, tiny Qwen2.5-VL, grpo_tiny.yaml, 1 prompt per process, "
          f"{NEW_TOKENS} new tokens; median of {n} steps per mode, {rounds} alternating rounds (s)")  # fmt: skip
    print(f"{'phase':<10}" + "".join(f"{mode:>11}" for mode in MODES))
    for name in COLUMNS:
        print(f"{name:<10}" + "".join(f"{medians[mode][name]:>11.3f}" for mode in MODES))
    for name in ("generate", "step"):
        gathered, per_token, ddp = (medians[mode][name] for mode in MODES)
        print(f"{name}: per_token / gathered {per_token / gathered:.2f}x, "
              f"gathered / ddp {gathered / ddp:.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=3, help="timed steps per run (after 1)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per mode")
    parser.add_argument(
        "--persistence-threshold", type=int, default=None, metavar="N",
        help="DeepSpeed's stage3_param_persistence_threshold (default: DeepSpeed's 1e5, under "
        "which the tiny model's layers stay whole and only its embeddings are partitioned; 0 "
        "partitions every weight, as a real-size model's layers are)",
    )  # fmt: skip
    args = parser.parse_args()
    from video_r1.compat import ensure_torchvision_importable

    ensure_torchvision_importable()  # before transformers
    from video_r1.cli import main as cli
    from video_r1.models import build_tiny_model
    from video_r1.prompts import tokenizer_texts

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(
            Path(tmp) / "tiny", "qwen2.5-vl", prompt_texts=tokenizer_texts()
        )
        synth = Path(tmp) / "synth"
        assert cli(["synth", str(synth), "--n", "16", "--tasks", "direction", "--seed", "0"]) == 0
        ds_json = None
        if args.persistence_threshold is not None:
            ds_json = Path(tmp) / "zero3.json"
            ds_json.write_text(json.dumps({
                "zero_optimization": {"stage": 3, "stage3_param_persistence_threshold":
                                      args.persistence_threshold,
                                      "stage3_gather_16bit_weights_on_model_save": True},
                "train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",
                "gradient_clipping": "auto", "bf16": {"enabled": False},
            }))  # fmt: skip
        results: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for r in range(args.rounds):
            for mode in MODES:
                out = Path(tmp) / f"{mode}_{r}"
                results[mode] += run_once(mode, args.steps, model_dir, synth, out, ds_json)
    print_table(results, args.rounds)


if __name__ == "__main__":
    main()
