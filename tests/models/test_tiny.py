"""The tiny-model builder and its CLI: offline loading, tokenizer, chat template, geometry."""

from __future__ import annotations

import json

import pytest

from video_r1.models import cli
from video_r1.models.tokenizer import QWEN_SPECIAL_TOKENS


def main(argv: list[str]) -> int:
    """The `video-r1 tiny-model` subcommand alone (other stages' CLIs may not exist yet)."""
    import argparse

    parser = argparse.ArgumentParser(prog="video-r1")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_arguments(sub.add_parser("tiny-model", description=cli.__doc__))
    return cli.run(parser.parse_args(argv))


def test_cli_builds_a_loadable_larger_model(tmp_path):
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

    out = tmp_path / "tiny"
    argv = [
        "tiny-model",
        str(out),
        "--arch",
        "qwen2-vl",
        "--hidden-size",
        "64",
        "--layers",
        "3",
        "--vision-depth",
        "1",
        "--seed",
        "3",
    ]
    assert main(argv) == 0
    config = AutoConfig.from_pretrained(out)
    assert config.model_type == "qwen2_vl"
    assert (config.text_config.hidden_size, config.text_config.num_hidden_layers) == (64, 3)
    assert config.vision_config.depth == 1 and config.vision_config.patch_size == 14
    model = AutoModelForImageTextToText.from_pretrained(out)
    processor = AutoProcessor.from_pretrained(out)
    assert type(processor).__name__ == "Qwen2VLProcessor"
    assert model.config.video_token_id == processor.video_token_id
    with pytest.raises(FileExistsError, match="already exists"):
        main(argv)
    with pytest.raises(SystemExit):
        main(["tiny-model", str(tmp_path / "x"), "--arch", "llava"])


def test_tokenizer_is_small_and_qwen_like(tiny_model_dir):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    tok = processor.tokenizer
    assert 1000 < len(tok) < 2100
    ids = tok.convert_tokens_to_ids(list(QWEN_SPECIAL_TOKENS))
    first = ids[0]
    assert ids == list(range(first, first + len(QWEN_SPECIAL_TOKENS)))  # Qwen's relative order
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    text = "<think>The red circle moves left.</think>\n<answer>A</answer>"
    encoded = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(encoded) == text and len(encoded) < len(text) / 2
    generation = json.loads((tiny_model_dir / "generation_config.json").read_text())
    assert generation["eos_token_id"] == tok.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])


def test_chat_template_renders_like_the_real_checkpoint(tiny_model_dir):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Hi"}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    user = "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Hi<|im_end|>\n"
    if "qwen3" in tiny_model_dir.name:  # Qwen3-VL-Instruct: no default system turn
        assert text == user + "<|im_start|>assistant\n"
    else:
        system = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        assert text == system + user + "<|im_start|>assistant\n"


def test_real_patch_geometry(tiny_model_dir):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_model_dir)
    vision = config.vision_config
    expected_patch = 16 if config.model_type == "qwen3_vl" else 14
    assert (vision.patch_size, vision.spatial_merge_size, vision.temporal_patch_size) == (
        expected_patch,
        2,
        2,
    )
    assert config.text_config.hidden_size == 128 and config.text_config.num_hidden_layers == 2
