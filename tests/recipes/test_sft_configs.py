"""Every shipped SFT and accelerate config loads; the CLI help lists the config keys."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
import yaml

from video_r1.recipes import sft
from video_r1.recipes.sft import SFTConfig
from video_r1.train.config import load_config

CONFIGS = Path(__file__).parents[2] / "configs"


@pytest.mark.parametrize("name", ["sft.yaml", "sft_tiny.yaml"])
def test_shipped_sft_configs_load(name: str) -> None:
    cfg = load_config(SFTConfig, CONFIGS / name)
    assert cfg.optim.lr > 0 and cfg.checkpoint.output_dir


def test_published_recipe_values() -> None:
    cfg = load_config(SFTConfig, CONFIGS / "sft.yaml")
    assert (cfg.optim.lr, cfg.optim.epochs, cfg.mixed_precision) == (1e-6, 1, "bf16")
    assert cfg.media.max_frames == 16 and cfg.media.video_max_pixels == 128 * 28 * 28
    assert cfg.media.image_max_pixels == 256 * 28 * 28
    assert cfg.sft.system_prompt == "You are a helpful assistant"


@pytest.mark.parametrize("path", sorted((CONFIGS / "accelerate").glob("*.yaml")), ids=str)
def test_accelerate_configs_parse(path: Path) -> None:
    from accelerate.commands.config.config_args import ClusterConfig

    cfg = ClusterConfig.from_yaml_file(str(path))  # raises on unknown keys
    assert cfg.num_processes == yaml.safe_load(path.read_text())["num_processes"]


def test_help_lists_every_key() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.RawDescriptionHelpFormatter)
    sft.add_arguments(parser)
    text = parser.format_help()
    assert "--resume" in text and "optim.grad_accum (1):" in text
    assert "sft.max_seq_len (0):" in text and "data.on_bad_sample (error):" in text


def test_published_global_batch_is_8() -> None:
    # run_sft_video.sh: 4 GPUs x 1 record x grad accumulation 2
    cfg = load_config(SFTConfig, CONFIGS / "sft.yaml")
    launch = re.search(r"--num_processes (\d+)", (CONFIGS / "sft.yaml").read_text())
    assert launch is not None, "configs/sft.yaml must name the published number of processes"
    processes = int(launch.group(1))
    assert (processes, cfg.optim.per_device_batch_size, cfg.optim.grad_accum) == (4, 1, 2)
    assert processes * cfg.optim.per_device_batch_size * cfg.optim.grad_accum == 8


def test_deepspeed_is_an_install_extra() -> None:
    import tomllib

    extras = tomllib.loads((CONFIGS.parent / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for name in ("deepspeed", "gpu", "dev"):  # `pip install video-r1[gpu]` for the ZeRO configs
        assert any(r.startswith("deepspeed") for r in extras[name]), name
