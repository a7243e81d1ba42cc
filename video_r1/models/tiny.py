"""Tiny randomly initialised Qwen-VL checkpoints (tests, demos): real code paths, small sizes.

The vision patch geometry is the real one (Qwen2/2.5-VL: patch 14, merge 2, temporal patch 2;
Qwen3-VL: patch 16, merge 2, temporal patch 2), so images and videos take the same
processor and model paths as the released checkpoints; only widths, depths and the
vocabulary are small.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from video_r1.compat import ensure_torchvision_importable

ARCHES: tuple[str, ...] = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")
_PIXELS = {  # (image min, image max, video min, video max) of the released preprocessor configs
    "qwen2-vl": (56 * 56, 28 * 28 * 1280, 128 * 28 * 28, 28 * 28 * 768),
    "qwen2.5-vl": (56 * 56, 28 * 28 * 1280, 128 * 28 * 28, 28 * 28 * 768),
    "qwen3-vl": (65536, 16777216, 4096, 25165824),
}


def _mrope_section(head_dim: int, arch: str) -> list[int]:
    """Split head_dim / 2 rotary frequencies over (t, h, w) in the real checkpoints' ratios.

    Example:
        head_dim 32: qwen2.5-vl [16, 24, 24] / 4 -> [4, 6, 6]; qwen3-vl [24, 20, 20] / 4 -> [6, 5, 5]
    """
    half = head_dim // 2
    ratios = (24, 20, 20) if arch == "qwen3-vl" else (16, 24, 24)
    section = [half * r // 64 for r in ratios]
    section[0] += half - sum(section)
    return section


def _text_config(arch: str, vocab: int, hidden: int, layers: int, heads: int) -> dict[str, Any]:
    head_dim = hidden // heads
    rope: dict[str, Any] = {"rope_type": "default", "mrope_section": _mrope_section(head_dim, arch)}
    config: dict[str, Any] = {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": hidden * 3,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": max(1, heads // 2),  # grouped-query attention, as the real ones
        "max_position_embeddings": 32768,
        "rope_parameters": rope,
    }
    if arch == "qwen3-vl":
        rope.update(mrope_interleaved=True, rope_theta=5_000_000.0)
        config["head_dim"] = head_dim
    else:
        rope["rope_theta"] = 1_000_000.0
    return config


def _vision_config(arch: str, depth: int, width: int, heads: int, out: int) -> dict[str, Any]:
    if arch == "qwen2-vl":
        return {
            "depth": depth,
            "embed_dim": width,
            "hidden_size": out,
            "num_heads": heads,
            "mlp_ratio": 4,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        }
    common = {
        "depth": depth,
        "hidden_size": width,
        "intermediate_size": width * 2,
        "num_heads": heads,
        "out_hidden_size": out,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    if arch == "qwen2.5-vl":
        # the last block attends globally, the others in windows (real: every 8th of 32)
        return {
            **common,
            "patch_size": 14,
            "window_size": 112,
            "fullatt_block_indexes": [depth - 1],
            "tokens_per_second": 2,
        }
    deepstack = sorted({depth * (i + 1) // 4 for i in range(3)} & set(range(depth)))
    return {
        **common,
        "patch_size": 16,
        "num_position_embeddings": 2304,
        "deepstack_visual_indexes": deepstack,
    }


def _processor(arch: str, tokenizer: Any) -> Any:
    ensure_torchvision_importable()  # the image/video processors import torchvision
    from transformers import (
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    img_min, img_max, vid_min, vid_max = _PIXELS[arch]
    if arch == "qwen3-vl":
        half = [0.5, 0.5, 0.5]
        image = Qwen2VLImageProcessor(
            size={"shortest_edge": img_min, "longest_edge": img_max},
            patch_size=16,
            merge_size=2,
            temporal_patch_size=2,
            image_mean=half,
            image_std=half,
        )
        video = Qwen3VLVideoProcessor(
            size={"shortest_edge": vid_min, "longest_edge": vid_max},
            patch_size=16,
            merge_size=2,
            temporal_patch_size=2,
            image_mean=half,
            image_std=half,
        )
        return Qwen3VLProcessor(image, tokenizer, video, chat_template=tokenizer.chat_template)
    image = Qwen2VLImageProcessor(
        min_pixels=img_min, max_pixels=img_max, patch_size=14, merge_size=2, temporal_patch_size=2
    )
    video = Qwen2VLVideoProcessor(
        min_pixels=vid_min, max_pixels=vid_max, patch_size=14, merge_size=2, temporal_patch_size=2
    )
    cls = Qwen2_5_VLProcessor if arch == "qwen2.5-vl" else Qwen2VLProcessor
    return cls(image, tokenizer, video, chat_template=tokenizer.chat_template)


def build_tiny_model(
    out_dir: str | os.PathLike,
    arch: str = "qwen2.5-vl",
    *,
    prompt_texts: Sequence[str],
    hidden_size: int = 128,
    layers: int = 2,
    heads: int = 4,
    vision_depth: int = 2,
    vision_hidden: int = 64,
    vision_heads: int = 4,
    vocab_size: int = 2000,
    seed: int = 0,
) -> Path:
    """Write a tiny random `arch` checkpoint (model, processor, tokenizer) to out_dir.

    prompt_texts: texts the tokenizer's BPE learns first, the prompts it will see
    (`video_r1.prompts.tokenizer_texts()`); passed in, as models come before prompts.

    Loadable offline with `from_pretrained` / `AutoProcessor.from_pretrained`.
    """
    ensure_torchvision_importable()  # transformers' Qwen-VL model classes import torchvision
    if arch not in ARCHES:
        raise ValueError(f"unknown arch {arch!r}; expected one of {ARCHES}")
    if hidden_size % heads or (hidden_size // heads) % 2:
        raise ValueError(f"hidden_size {hidden_size} must split into {heads} heads of even size")
    if vision_hidden % vision_heads:
        raise ValueError(f"vision_hidden {vision_hidden} not divisible by {vision_heads} heads")
    import torch
    from transformers import GenerationConfig

    from video_r1.models.chat_templates import QWEN2_VL_TEMPLATE, QWEN3_VL_TEMPLATE
    from video_r1.models.tokenizer import QWEN3_ADDED_TOKENS, QWEN_ADDED_TOKENS, train_tokenizer

    qwen3 = arch == "qwen3-vl"
    tokenizer = train_tokenizer(
        prompt_texts=prompt_texts,
        vocab_size=vocab_size,
        added=QWEN_ADDED_TOKENS + (QWEN3_ADDED_TOKENS if qwen3 else ()),
        chat_template=QWEN3_VL_TEMPLATE if qwen3 else QWEN2_VL_TEMPLATE,
    )
    # Like the real checkpoints, the embedding has spare rows past the tokenizer's ids.
    vocab = -(-len(tokenizer) // 64) * 64
    ids = {
        t: tokenizer.convert_tokens_to_ids(t)
        for t in (
            "<|endoftext|>",
            "<|im_end|>",
            "<|image_pad|>",
            "<|video_pad|>",
            "<|vision_start|>",
            "<|vision_end|>",
        )
    }
    config = _model_config(
        arch,
        vocab,
        hidden_size,
        layers,
        heads,
        _vision_config(arch, vision_depth, vision_hidden, vision_heads, hidden_size),
        ids,
    )
    torch.manual_seed(seed)
    model = _model_class(arch)(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|endoftext|>"],
    )
    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    model.save_pretrained(tmp)
    _processor(arch, tokenizer).save_pretrained(tmp)
    if out.exists():
        raise FileExistsError(f"{out}: already exists; remove it or choose another folder")
    os.replace(tmp, out)  # a crash leaves no half-written checkpoint under the final name
    return out


def _model_config(
    arch: str,
    vocab: int,
    hidden: int,
    layers: int,
    heads: int,
    vision: dict[str, Any],
    ids: dict[str, int],
) -> Any:
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig, Qwen3VLConfig

    cls = {"qwen2-vl": Qwen2VLConfig, "qwen2.5-vl": Qwen2_5_VLConfig, "qwen3-vl": Qwen3VLConfig}
    text = _text_config(arch, vocab, hidden, layers, heads)
    text.update(bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"])
    return cls[arch](
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )


def _model_class(arch: str) -> Any:
    from transformers import (
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLForConditionalGeneration,
        Qwen3VLForConditionalGeneration,
    )

    return {
        "qwen2-vl": Qwen2VLForConditionalGeneration,
        "qwen2.5-vl": Qwen2_5_VLForConditionalGeneration,
        "qwen3-vl": Qwen3VLForConditionalGeneration,
    }[arch]
