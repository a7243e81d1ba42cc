"""FSDP on CPU: accelerate cannot shard without an accelerator, so the launch must stop with a
clear error instead of silently training plain DDP (or one process) under an FSDP config.

Why it cannot run (accelerate 1.15): `FullyShardedDataParallelPlugin.__post_init__` with
`sync_module_states` (which `cpu_ram_efficient_loading` forces on) asks for the current
accelerator device and raises "There are currently no available devices found"; with it off,
`AcceleratorState` turns FSDP on only for MULTI_GPU/XPU/NPU/... launches, so a CPU launch
becomes MULTI_CPU (DDP over gloo) with `cpu=True`, or a world of one process without it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch
from _launch import REPO, accelerate_launch
from _sft_data import write_cot_records

from video_r1.train.setup import FSDP_NEEDS_DEVICE, check_fsdp_supported

DRIVER = Path(__file__).with_name("_sft_dist_driver.py")
pytestmark = pytest.mark.skipif(
    torch.accelerator.is_available(), reason="checks the CPU refusal; FSDP runs on accelerators"
)


def test_fsdp_request_without_accelerator_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "false")
    check_fsdp_supported()  # not asked for: nothing to refuse
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")  # what `accelerate launch` sets
    with pytest.raises(RuntimeError, match="FSDP was requested .* no GPU"):
        check_fsdp_supported()


@pytest.mark.slow
def test_two_process_fsdp_launch_on_cpu_fails_with_the_reason(tiny_model_factory, tmp_path):
    data = write_cot_records(tmp_path / "data", n=4)
    out = tmp_path / "fsdp"
    args = [
        str(REPO / "configs" / "sft_tiny.yaml"), f"model.path={tiny_model_factory('qwen2.5-vl')}",
        f"data.train_file={data}", f"data.media_root={data.parent}",
        f"checkpoint.output_dir={out}", "logging.progress_bar=false", "optim.max_steps=2",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{DRIVER.parent}",
           "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    proc = subprocess.run([*accelerate_launch("fsdp"), str(DRIVER), *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode != 0
    assert FSDP_NEEDS_DEVICE in proc.stderr, proc.stderr[-3000:]
    assert not out.exists() or not any(out.glob("checkpoint-*"))  # nothing trained
