"""Reward functions are pure Python: importing them loads no deep-learning library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_importing_rewards_loads_no_torch_torchvision_or_transformers():
    code = (
        "import sys, video_r1.rewards\n"
        "from video_r1.rewards import accuracy_reward\n"
        "print(accuracy_reward(['<answer>B</answer>'], solution=['<answer>B</answer>'],"
        " problem_type=['multiple choice']))\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'transformers') if m in sys.modules))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[1.0]", "[]"]
