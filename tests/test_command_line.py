"""The `video-r1` command: every subcommand has a working --help; bad usage exits 2."""

import importlib.util
import re
import sys

import pytest

from video_r1.cli import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_explains_itself(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: video-r1 {name}") and len(out.splitlines()) > 3
    # an example's line continuation written as a bare backslash in a docstring joins the two
    # lines into one with a run of spaces: not a command a reader can copy
    joined = [line for line in out.splitlines()
              if re.search(r"\S {3,}--", line) and not line.lstrip().startswith("-")]  # fmt: skip
    assert joined == []


def test_top_level_help_lists_subcommands_and_unknown_command_fails(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    with pytest.raises(SystemExit) as exit_info:
        main(["trian"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def _leaf_keys(node, prefix: str = "") -> list[str]:
    """Every leaf key of a config tree, from OmegaConf's view of the dataclasses."""
    from omegaconf import DictConfig

    keys = []
    for key in node.keys():
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            keys += _leaf_keys(child, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


@pytest.mark.parametrize(
    "name, config_class",
    [("sft", "video_r1.recipes.sft:SFTConfig"), ("grpo", "video_r1.recipes.grpo:GRPOConfig")],
)
def test_recipe_help_lists_every_config_key_with_its_default(name, config_class, capsys):
    import importlib

    from omegaconf import OmegaConf

    module, cls = config_class.split(":")
    config = OmegaConf.structured(getattr(importlib.import_module(module), cls))
    with pytest.raises(SystemExit):
        main([name, "--help"])
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    listed = {line.split(" (", 1)[0] for line in lines}
    keys = _leaf_keys(config)
    assert {"optim.lr", "optim.max_grad_norm", "model.lora.r", "checkpoint.keep_last"} <= set(keys)
    assert [key for key in keys if key not in listed] == []
    # Defaults shown are the recipe's own: GRPO's optim is the published one (clip 5, SFT 1).
    clip = OmegaConf.select(config, "optim.max_grad_norm")
    assert any(line.startswith(f"optim.max_grad_norm ({clip}): ") for line in lines)


SFT_TINY = "configs/sft_tiny.yaml"


def _one_error_line(capsys, code: int) -> str:
    """The test of every mistake: one `error: ...` line on stderr, no traceback, exit != 0."""
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["sft", "--config", "nope.yaml"], "error: nope.yaml: config file not found"),
        (["sft", "--config", SFT_TINY, "optim.lrr=1"], "did you mean 'optim.lr'?"),
        (["sft", "--config", SFT_TINY, "optim.lr=fast"], "key 'optim.lr': Value 'fast'"),
        (["sft", "--config", SFT_TINY, "optim"], "override 'optim' is not key=value"),
        (["sft", "--config", SFT_TINY, "logging.trackers=[wandb]"], "wandb not installed"),
    ],
)
def test_config_mistakes_end_in_one_error_line(argv, says, capsys) -> None:
    if "wandb" in says and importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here")
    assert says in _one_error_line(capsys, main(argv))


def test_debug_shows_the_traceback(capsys) -> None:
    from video_r1.train.config import ConfigError

    with pytest.raises(ConfigError, match="did you mean"):
        main(["sft", "--config", SFT_TINY, "optim.lrr=1", "--debug"])


def test_tiny_model_into_an_existing_folder_is_one_error_line(tmp_path, capsys) -> None:
    line = _one_error_line(capsys, main(["tiny-model", str(tmp_path)]))
    assert line == f"error: {tmp_path}: already exists; remove it or choose another folder"
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_gives_its_error_line_a_line_of_its_own(monkeypatch, capsys) -> None:
    # A SIGTERM mid-checkpoint cut a progress bar short; the error was glued to its end, where
    # a reader (or a scheduler's log scan) looking for lines starting "error:" missed it.
    import video_r1.recipes.sft as sft

    def cut_short(args) -> int:
        sys.stderr.write("Writing model shards:   0%|")
        raise KeyboardInterrupt("sft stopped by SIGTERM; no checkpoint yet")

    monkeypatch.setattr(sft, "run", cut_short)
    assert main(["sft", "--config", SFT_TINY]) == 130
    assert capsys.readouterr().err.splitlines()[-2:] == [
        "Writing model shards:   0%|",
        "error: sft stopped by SIGTERM; no checkpoint yet",
    ]
