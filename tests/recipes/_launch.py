"""Launch a recipe driver as two real CPU processes (gloo), as users launch multi-GPU runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun() -> list[str]:
    """DDP through torchrun, 2 processes."""
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
            "--master_addr", "127.0.0.1", "--master_port", str(free_port())]  # fmt: skip


def accelerate_launch(config: str) -> list[str]:
    """accelerate launch with configs/accelerate/<config>.yaml, 2 processes."""
    return [sys.executable, "-m", "accelerate.commands.launch",
            "--config_file", str(REPO / "configs" / "accelerate" / f"{config}.yaml"),
            "--num_processes", "2", "--mixed_precision", "no",
            "--main_process_port", str(free_port())]  # fmt: skip


def run_driver(launcher: list[str], driver: Path, args: list[str], timeout: int = 300) -> None:
    """Run `driver` with `args` under `launcher`; fail with the processes' output tails."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{driver.parent}",
           "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    proc = subprocess.run([*launcher, str(driver), *args], env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
