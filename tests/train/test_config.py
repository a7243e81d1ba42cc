"""Config loading: YAML + overrides, unknown keys and bad values named, shipped configs load."""

from __future__ import annotations

from pathlib import Path

import pytest

from video_r1.train.config import (
    ConfigError,
    TrainConfig,
    describe_config,
    format_config,
    load_config,
)

REQUIRED = [
    "model.path=m",
    "data.train_file=t.jsonl",
    "data.media_root=.",
    "checkpoint.output_dir=out",
]


def test_yaml_then_overrides(tmp_path: Path) -> None:
    yaml = tmp_path / "c.yaml"
    yaml.write_text("optim:\n  lr: 3.0e-6\n  grad_accum: 4\nlogging:\n  trackers: []\n")
    cfg = load_config(TrainConfig, yaml, [*REQUIRED, "optim.grad_accum=2"])
    assert cfg.optim.lr == 3e-6  # from the file
    assert cfg.optim.grad_accum == 2  # the command line wins
    assert cfg.logging.trackers == []
    assert cfg.model.path == "m"
    assert "grad_accum: 2" in format_config(cfg)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optim.lrr=1"], "unknown key 'optim.lrr'"),
        (["nope=1"], "unknown key 'nope'"),
        (["optim.lr=fast"], "optim.lr=fast"),
        (["optim.schedule=step"], "optim.schedule must be one of"),
        (["data.on_bad_sample=ignore"], "data.on_bad_sample"),
        (["optim.lr"], "not key=value"),
    ],
)
def test_bad_overrides_are_named(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(TrainConfig, None, [*REQUIRED, *overrides])


def test_unknown_key_in_yaml_names_file_and_key(tmp_path: Path) -> None:
    yaml = tmp_path / "c.yaml"
    yaml.write_text("model:\n  pth: x\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown key 'model\.pth'"):
        load_config(TrainConfig, yaml, REQUIRED)


def test_missing_required_values_listed() -> None:
    with pytest.raises(ConfigError, match="model.path, data.train_file"):
        load_config(TrainConfig, None, [])


def test_every_field_has_help() -> None:
    lines = describe_config(TrainConfig)
    assert any(line.startswith("optim.lr (1e-06): ") for line in lines)
    assert any(line.startswith("model.lora.r (64): ") for line in lines)
    assert all(line.split(": ", 1)[1].strip() for line in lines), "a field has no help text"


@pytest.mark.parametrize(
    ("override", "suggestion"),
    [
        ("optim.lrr=1", "did you mean 'optim.lr'?"),
        ("chekpoint.output_dir=x", "did you mean 'checkpoint.output_dir'?"),
        ("model.lora.rr=8", "did you mean 'model.lora.r'?"),
    ],
)
def test_unknown_key_suggests_the_closest(override: str, suggestion: str) -> None:
    with pytest.raises(ConfigError, match=suggestion.replace("?", r"\?")):
        load_config(TrainConfig, None, [*REQUIRED, override])


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"command line \(optim.lr=abc\): key 'optim.lr'"):
        load_config(TrainConfig, None, [*REQUIRED, "optim.lr=abc"])
    yaml = tmp_path / "c.yaml"
    yaml.write_text("optim:\n  grad_accum: two\n")
    with pytest.raises(ConfigError, match=rf"{yaml.name}: key 'optim.grad_accum'"):
        load_config(TrainConfig, yaml, REQUIRED)


def test_words_yaml_reads_as_booleans_stay_strings_for_string_keys(tmp_path: Path) -> None:
    cfg = load_config(TrainConfig, None, [*REQUIRED, "mixed_precision=no"])
    assert cfg.mixed_precision == "no"
    cfg = load_config(TrainConfig, None, [*REQUIRED, "data.shuffle=no"])  # a bool key: a bool
    assert cfg.data.shuffle is False
    yaml = tmp_path / "c.yaml"
    yaml.write_text("mixed_precision: no\n")  # in a file YAML 1.1 reads it as False
    with pytest.raises(ConfigError, match=r'write mixed_precision: "no"'):
        load_config(TrainConfig, yaml, REQUIRED)
