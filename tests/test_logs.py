"""What libraries print into video-r1's log (video_r1/utils/logs.py): DeepSpeed's CPU notice is
left out of every command's output, its other lines are not."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from video_r1.utils.logs import DEEPSPEED_CPU_NOTICE, quiet_deepspeed_cpu_notice

REPO = Path(__file__).parents[1]


def test_only_deepspeeds_cpu_notice_is_dropped(monkeypatch):
    monkeypatch.delenv("VIDEO_R1_DEBUG", raising=False)
    quiet_deepspeed_cpu_notice()
    quiet_deepspeed_cpu_notice()  # idempotent: one filter
    logger = logging.getLogger("DeepSpeed")
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    try:
        logger.warning(f"{DEEPSPEED_CPU_NOTICE}. If you have GPU or other accelerator, ...")
        logger.warning("ZeRO stage 3 needs more memory")
        logger.error("NCCL error")
    finally:
        logger.removeHandler(handler)
    assert seen == ["ZeRO stage 3 needs more memory", "NCCL error"]


@pytest.mark.slow
def test_a_training_run_prints_no_deepspeed_accelerator_notice(tiny_qwen25, tmp_path):
    """DeepSpeed (imported by the training setup when installed) said "Setting accelerator to
    CPU" in the middle of every CPU run's output."""
    pytest.importorskip("deepspeed")
    sys.path.insert(0, str(REPO / "tests" / "recipes"))
    from _sft_data import write_cot_records

    data = write_cot_records(tmp_path / "data", n=2)
    command = [sys.executable, "-m", "video_r1.cli", "sft", "--config",
               str(REPO / "configs" / "sft_tiny.yaml"), f"model.path={tiny_qwen25}",
               f"data.train_file={data}", f"data.media_root={data.parent}",
               f"checkpoint.output_dir={tmp_path / 'run'}", "optim.max_steps=1",
               "logging.progress_bar=false"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}
    env.pop("VIDEO_R1_DEBUG", None)  # an earlier in-process `main(["--debug", ...])` sets it
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "# done:" in proc.stderr
    assert DEEPSPEED_CPU_NOTICE not in proc.stdout + proc.stderr
