"""The built wheel carries what the package needs at run time: the demo's configs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIGS = ("video_r1/configs/demo/sft.yaml", "video_r1/configs/demo/grpo.yaml")
pytestmark = pytest.mark.slow

LOAD_FROM_ELSEWHERE = """
import video_r1
from video_r1.demo.pipeline import load_demo_config
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.recipes.sft import SFTConfig

required = ["model.path=m", "data.train_file=t", "data.media_root=.", "checkpoint.output_dir=o"]
print(video_r1.__file__)
print(load_demo_config(SFTConfig, "sft", required).optim.lr)
print(load_demo_config(GRPOConfig, "grpo", required).rl.num_generations)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built offline from a copy of the checkout (the build writes build/, egg-info)."""
    tmp = tmp_path_factory.mktemp("wheel")
    ignore = shutil.ignore_patterns(".git", ".venv", "runs", "build", "*.egg-info", "__pycache__")
    shutil.copytree(REPO, tmp / "src", ignore=ignore)
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*cmd, "-w", str(tmp / "dist"), str(tmp / "src")], check=True)
    (built,) = (tmp / "dist").glob("video_r1-*.whl")
    return built


def test_wheel_ships_the_demo_configs(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert [name for name in DEMO_CONFIGS if name not in names] == []


def test_demo_configs_load_from_the_installed_package(wheel, tmp_path):
    site = tmp_path / "site"  # what `pip install` does with a pure-Python wheel: unpack it
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"  # no configs/ folder here or above
    elsewhere.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", LOAD_FROM_ELSEWHERE],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert Path(out[0]).is_relative_to(site)
    assert out[1:] == ["0.001", "8"]  # sft.yaml: lr 1.0e-3; grpo.yaml: G = 8
