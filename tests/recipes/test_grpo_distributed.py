"""Two-process T-GRPO on CPU (gloo): DDP via torchrun, DeepSpeed ZeRO-2 and ZeRO-3 via
accelerate launch.

Records alternate video / image and are not shuffled, so with one prompt per micro-batch rank 0
rolls out videos (ordered + shuffled) while rank 1 rolls out images: a mixed step that must
not hang (ZeRO-3 gathers parameters collectively on every forward). One step of two
micro-batches (grad_accum 2) and two passes over its experience (rl.num_iterations 2): each
backend must take exactly one optimizer and one schedule step per pass. The update runs in
the prefix-grouped layout (rl.grouped_update), DDP and ZeRO-3 under activation checkpointing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _launch import REPO, accelerate_launch, run_driver, torchrun
from _sft_data import write_cot_records

from video_r1.rollout.grouped_attention import GROUPED_ATTENTION as GROUPED
from video_r1.utils.io import read_jsonl

DRIVER = Path(__file__).with_name("_grpo_dist_driver.py")
ITERATIONS = 2
CHECKPOINTING = "model.gradient_checkpointing=true"
pytestmark = pytest.mark.slow


def _launch(launcher: list[str], model: Path, data: Path, out: Path, *extra: str) -> None:
    args = [
        str(REPO / "configs" / "grpo_tiny.yaml"),
        f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
        f"checkpoint.output_dir={out}", "logging.progress_bar=false", "data.shuffle=false",
        "optim.per_device_batch_size=1", "optim.max_steps=1", "rl.max_completion_length=8",
        "optim.lr=1e-3", "optim.weight_decay=0.0", "optim.grad_accum=2",
        f"rl.num_iterations={ITERATIONS}", "rl.epsilon=0.01",
        f"rl.reward_funcs=[accuracy,format,{DRIVER.with_name('_rewards.py')}:text_length]",
        *extra,
    ]  # fmt: skip
    run_driver(launcher, DRIVER, args)


def _check(out: Path, initial: Path, replicated: bool) -> None:
    from transformers import AutoModelForImageTextToText

    if replicated:  # DDP, ZeRO-2: every rank holds the whole model; ZeRO-3 shards it
        p0, p1 = torch.load(out / "params_rank0.pt"), torch.load(out / "params_rank1.pt")
        assert p0.keys() == p1.keys() and all(torch.equal(p0[k], p1[k]) for k in p0)
    before = AutoModelForImageTextToText.from_pretrained(initial).state_dict()
    after = AutoModelForImageTextToText.from_pretrained(out / "final").state_dict()
    assert after.keys() == before.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) > len(before) // 2  # the saved final model is the trained one
    ids0 = [i for r in read_jsonl(out / "data_order" / "rank0.jsonl") for i in r["problem_ids"]]
    ids1 = [i for r in read_jsonl(out / "data_order" / "rank1.jsonl") for i in r["problem_ids"]]
    assert ids0 == [0, 2] and ids1 == [1, 3]  # rank 0: videos, rank 1: images
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1]
    # temporal fields reduced over ranks: the video groups are on rank 0
    assert all("train/temporal/passed" in r for r in rows)
    # pass 1 is on-policy; the optimizer stepped before pass 2, which sees a changed policy
    assert rows[0]["train/pass1/ratio_mean"] == pytest.approx(1.0, abs=1e-4)
    assert abs(rows[0]["train/pass2/ratio_mean"] - 1.0) > 1e-4
    for rank in (0, 1):
        steps = json.loads((out / f"steps_rank{rank}.json").read_text())
        assert steps == {"optimizer": ITERATIONS, "scheduler": ITERATIONS,
                         "attention": GROUPED}, (rank, steps)  # fmt: skip


@pytest.fixture(scope="module")
def dist_data(tmp_path_factory) -> Path:
    return write_cot_records(tmp_path_factory.mktemp("grpo_dist"), n=8)


def test_two_process_ddp(tiny_model_factory, dist_data: Path, tmp_path) -> None:
    out = tmp_path / "ddp"
    # the grouped update through DDP under activation checkpointing
    _launch(torchrun(), tiny_model_factory("qwen2.5-vl"), dist_data, out, CHECKPOINTING)
    _check(out, tiny_model_factory("qwen2.5-vl"), replicated=True)


def test_two_process_deepspeed_zero2(tiny_model_factory, dist_data: Path, tmp_path) -> None:
    pytest.importorskip("deepspeed")
    out = tmp_path / "zero2"
    _launch(accelerate_launch("zero2"), tiny_model_factory("qwen2.5-vl"), dist_data, out)
    _check(out, tiny_model_factory("qwen2.5-vl"), replicated=True)


def test_two_process_deepspeed_zero3_mixed_batch(
    tiny_model_factory, dist_data: Path, tmp_path
) -> None:
    pytest.importorskip("deepspeed")
    out = tmp_path / "zero3"
    # and under ZeRO-3 (ZeRO-2 runs it without checkpointing)
    _launch(accelerate_launch("zero3"), tiny_model_factory("qwen2.5-vl"), dist_data, out,
            CHECKPOINTING)  # fmt: skip
    _check(out, tiny_model_factory("qwen2.5-vl"), replicated=False)
