"""One source of truth for gradient clipping and accumulation: the run config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from video_r1.train.config import ConfigError, OptimConfig, TrainConfig
from video_r1.train.setup import check_launch_settings

REPO = Path(__file__).parents[2]
CLIP_DRIVER = Path(__file__).with_name("_clip_driver.py")


def _cfg(max_grad_norm: float = 5.0, grad_accum: int = 1) -> TrainConfig:
    return TrainConfig(optim=OptimConfig(max_grad_norm=max_grad_norm, grad_accum=grad_accum))


@pytest.mark.parametrize("name", ["zero2", "zero3", "multinode_zero3"])
def test_shipped_deepspeed_configs_leave_clipping_and_accumulation_to_the_run(name):
    ds = yaml.safe_load((REPO / "configs" / "accelerate" / f"{name}.yaml").read_text())
    assert ds["distributed_type"] == "DEEPSPEED"
    assert "gradient_clipping" not in ds["deepspeed_config"]
    assert "gradient_accumulation_steps" not in ds["deepspeed_config"]


def test_a_launch_value_that_contradicts_the_run_config_is_refused(monkeypatch):
    # accelerate launch turns the yaml's `gradient_clipping: 1.0` into this variable
    monkeypatch.setenv("ACCELERATE_GRADIENT_CLIPPING", "1.0")
    with pytest.raises(ConfigError, match=r"gradient_clipping = 1.0 .* optim.max_grad_norm = 5.0"):
        check_launch_settings(_cfg(max_grad_norm=5.0))
    check_launch_settings(_cfg(max_grad_norm=1.0))  # the same value is no contradiction
    monkeypatch.delenv("ACCELERATE_GRADIENT_CLIPPING")
    monkeypatch.setenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "1")
    with pytest.raises(ConfigError, match="optim.grad_accum = 2"):
        check_launch_settings(_cfg(grad_accum=2))


def test_a_deepspeed_json_value_that_contradicts_the_run_config_is_refused(monkeypatch):
    monkeypatch.delenv("ACCELERATE_GRADIENT_CLIPPING", raising=False)
    monkeypatch.delenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", raising=False)
    with pytest.raises(ConfigError, match="the DeepSpeed config sets gradient_clipping"):
        check_launch_settings(_cfg(), {"gradient_clipping": 1.0})
    check_launch_settings(_cfg(), {"gradient_clipping": "auto", "gradient_accumulation_steps": 1})


@pytest.mark.slow
def test_deepspeed_clips_at_the_run_configs_max_grad_norm(tmp_path):
    """Launched with the shipped zero2.yaml: the engine clips at optim.max_grad_norm = 5 (the
    published value), so an SGD step (lr 1) on a gradient of norm 200 moves the weights by 5."""
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                str(REPO / "configs" / "accelerate" / "zero2.yaml"), "--num_processes", "1",
                "--main_process_port", "0"]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
    }
    proc = subprocess.run([*launcher, str(CLIP_DRIVER), str(tmp_path), "5.0"], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    result = json.loads((tmp_path / "clip.json").read_text())
    assert result["engine_clipping"] == 5.0
    assert result["update_norm"] == pytest.approx(5.0, rel=1e-4)
