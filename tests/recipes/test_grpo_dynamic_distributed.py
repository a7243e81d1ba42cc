"""Dynamic sampling on two CPU processes (gloo) where rank 1's first draw teaches nothing.

Records are not shuffled and each micro-batch holds one prompt (grad_accum 2): round 1 gives
rank 0 ids 0 and 2, rank 1 ids 1 and 3, which `unlearnable_first_odd` scores 0 on every
rollout. The ranks all-reduce their shortfall (0 and 2), so both run a second round of two
micro-batches: rank 1 keeps ids 5 and 7, rank 0 generates 4 and 6 with it (ZeRO-3 gathers,
DDP's step) and drops them as surplus. Neither rank waits forever; both train two groups.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _launch import REPO, accelerate_launch, run_driver, torchrun
from _sft_data import write_cot_records

from video_r1.utils.io import read_jsonl

DRIVER = Path(__file__).with_name("_grpo_dist_driver.py")
REWARD = f"{DRIVER.with_name('_rewards.py')}:unlearnable_first_odd"
pytestmark = pytest.mark.slow


def _run(launcher: list[str], model: Path, data: Path, out: Path, *extra: str) -> None:
    args = [
        str(REPO / "configs" / "grpo_tiny.yaml"),
        f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
        f"checkpoint.output_dir={out}", "logging.progress_bar=false", "data.shuffle=false",
        "optim.per_device_batch_size=1", "optim.grad_accum=2", "optim.max_steps=1",
        "rl.max_completion_length=8", "optim.lr=1e-3", "optim.weight_decay=0.0",
        "rl.dynamic_sampling=true", f"rl.reward_funcs=[{REWARD}]", f"rl.accuracy_reward={REWARD}", *extra,
    ]  # fmt: skip
    run_driver(launcher, DRIVER, args)


def _check(out: Path, replicated: bool) -> None:
    ids = [
        [i for r in read_jsonl(out / "data_order" / f"rank{rank}.jsonl") for i in r["problem_ids"]]
        for rank in (0, 1)
    ]
    assert ids == [[0, 2, 4, 6], [1, 3, 5, 7]]  # both ranks drew a second round
    row = read_jsonl(out / "metrics.jsonl")[0]
    assert row["train/dynamic/rounds"] == 2
    assert row["train/dynamic/groups_drawn"] == 8
    assert row["train/dynamic/groups_kept"] == 6  # rank 0: 0, 2, 4, 6; rank 1: 5, 7
    assert row["train/dynamic/groups_trained"] == 4
    assert row["train/groups/zero_variance_count"] == 0
    assert row["train/grad_norm"] > 0
    if replicated:
        p0, p1 = torch.load(out / "params_rank0.pt"), torch.load(out / "params_rank1.pt")
        assert all(torch.equal(p0[k], p1[k]) for k in p0)


@pytest.fixture(scope="module")
def dist_data(tmp_path_factory) -> Path:
    return write_cot_records(tmp_path_factory.mktemp("dynamic_dist"), n=8)


def test_two_process_ddp_refills_the_short_rank(tiny_qwen25, dist_data: Path, tmp_path) -> None:
    _run(torchrun(), tiny_qwen25, dist_data, tmp_path / "ddp")
    _check(tmp_path / "ddp", replicated=True)


@pytest.mark.parametrize("gather", ["true", "false"])
def test_two_process_zero3_refills_the_short_rank(
    tiny_qwen25, dist_data: Path, tmp_path, gather: str
) -> None:
    """With the weights gathered once per generate call, and per token (synced_gpus: the
    full rank's forwards keep pace with the short rank's)."""
    pytest.importorskip("deepspeed")
    out = tmp_path / "zero3"
    _run(accelerate_launch("zero3"), tiny_qwen25, dist_data, out,
         f"rl.gather_for_generation={gather}")  # fmt: skip
    _check(out, replicated=False)
