"""Two-process SFT on CPU (gloo): DDP via torchrun and DeepSpeed ZeRO-2 via accelerate launch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _launch import REPO, accelerate_launch, run_driver, torchrun
from _sft_data import write_cot_records

from video_r1.utils.io import read_jsonl

DRIVER = Path(__file__).with_name("_sft_dist_driver.py")
pytestmark = pytest.mark.slow


def _launch(launcher: list[str], model: Path, data: Path, out: Path, *extra: str) -> None:
    args = [
        str(REPO / "configs" / "sft_tiny.yaml"),
        f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
        f"checkpoint.output_dir={out}", "logging.progress_bar=false",
        "optim.grad_accum=1", "optim.max_steps=2", *extra,
    ]  # fmt: skip
    run_driver(launcher, DRIVER, args, timeout=240)


def _check_ranks_agree_and_differ(out: Path) -> None:
    p0 = torch.load(out / "params_rank0.pt")
    p1 = torch.load(out / "params_rank1.pt")
    assert p0.keys() == p1.keys()
    assert all(torch.equal(p0[k], p1[k]) for k in p0)  # replicas identical after training
    ids0 = [i for r in read_jsonl(out / "data_order" / "rank0.jsonl") for i in r["problem_ids"]]
    ids1 = [i for r in read_jsonl(out / "data_order" / "rank1.jsonl") for i in r["problem_ids"]]
    assert len(ids0) == len(ids1) == 2 and not set(ids0) & set(ids1)  # different records
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [1, 2]


@pytest.fixture(scope="module")
def dist_data(tmp_path_factory) -> Path:
    return write_cot_records(tmp_path_factory.mktemp("cot_dist"), n=8)


@pytest.fixture(scope="module")
def ddp_run(tiny_model_factory, dist_data: Path, tmp_path_factory) -> Path:
    """One torchrun DDP run with a tracker, shared by the DDP and the tracker tests (the
    tracker-less DDP path: test_sft_run_safety's two-process run, test_grpo_distributed)."""
    out = tmp_path_factory.mktemp("sft_ddp") / "tracked"
    _launch(torchrun(), tiny_model_factory("qwen2.5-vl"), dist_data, out,
            "logging.trackers=[tensorboard]")  # fmt: skip
    return out


def test_two_process_ddp(ddp_run: Path) -> None:
    from transformers import AutoModelForImageTextToText

    out = ddp_run
    _check_ranks_agree_and_differ(out)
    saved = AutoModelForImageTextToText.from_pretrained(out / "final").state_dict()
    trained = torch.load(out / "params_rank0.pt")
    assert all(torch.equal(saved[k], trained[k]) for k in saved)
    assert not (out / ".lock").exists()  # rank 0 held it for the run and released it


def test_two_processes_on_a_folder_in_use_both_stop(
    tiny_model_factory, dist_data: Path, tmp_path
) -> None:
    # rank 0 takes the lock and tells rank 1: both refuse, neither waits on the other
    import os
    import socket
    import subprocess

    from _lock_holder import held_by_a_live_process

    out = tmp_path / "locked"
    with held_by_a_live_process(out) as holder:
        args = [str(REPO / "configs" / "sft_tiny.yaml"), f"checkpoint.output_dir={out}",
                f"model.path={tiny_model_factory('qwen2.5-vl')}", f"data.train_file={dist_data}",
                f"data.media_root={dist_data.parent}", "optim.grad_accum=1"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{DRIVER.parent}",
               "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
        proc = subprocess.run([*torchrun(), str(DRIVER), *args], env=env, capture_output=True,
                              text=True, timeout=240)  # fmt: skip
    assert proc.returncode != 0
    refusal = f"LockHeld: {out} is in use by pid {holder.pid} on host {socket.gethostname()}"
    assert proc.stderr.count(refusal) == 2, proc.stderr[-4000:]  # each rank says it
    assert sorted(p.name for p in out.iterdir()) == [".lock"]


def test_two_process_deepspeed_zero2(tiny_model_factory, dist_data: Path, tmp_path) -> None:
    pytest.importorskip("deepspeed")
    out = tmp_path / "zero2"
    _launch(accelerate_launch("zero2"), tiny_model_factory("qwen2.5-vl"), dist_data, out)
    _check_ranks_agree_and_differ(out)
    assert (out / "final" / "model.safetensors").is_file()


def test_two_process_run_with_a_tracker_ends_cleanly(ddp_run: Path) -> None:
    # accelerate's end_training destroys the process group; final's barrier comes after the
    # loop's logger closes, so the logger finishes its trackers without ending the group
    # (the run failing would fail ddp_run: its exit status is checked)
    out = ddp_run
    _check_ranks_agree_and_differ(out)
    assert (out / "final" / "config.json").is_file()
    assert list(out.rglob("events.out.tfevents.*"))  # the tracker wrote its file
