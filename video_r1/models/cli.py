"""Build a tiny random Qwen-VL checkpoint (model, processor, tokenizer) for tests and demos.

The model keeps the real vision patch geometry (Qwen2/2.5-VL patch 14, Qwen3-VL patch 16;
merge 2; temporal patch 2) and the real chat template, with a ~2k-token byte-level BPE
vocabulary learned from the prompt templates and a synthetic benchmark's words. It loads
offline with `from_pretrained` / `AutoProcessor.from_pretrained`.

Example:
    video-r1 tiny-model runs/tiny --arch qwen2.5-vl --hidden-size 256 --layers 4
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="folder to create (must not exist)")
    parser.add_argument(
        "--arch",
        choices=("qwen2-vl", "qwen2.5-vl", "qwen3-vl"),
        default="qwen2.5-vl",
        help="architecture to mimic (default: qwen2.5-vl, the one Video-R1 trains)",
    )
    parser.add_argument("--hidden-size", type=int, default=128, help="text hidden size")
    parser.add_argument("--layers", type=int, default=2, help="text decoder layers")
    parser.add_argument("--heads", type=int, default=4, help="text attention heads")
    parser.add_argument("--vision-depth", type=int, default=2, help="vision transformer blocks")
    parser.add_argument("--vision-hidden", type=int, default=64, help="vision hidden size")
    parser.add_argument("--vocab-size", type=int, default=2000, help="BPE vocabulary to learn")
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from video_r1.models.tiny import build_tiny_model
    from video_r1.prompts import tokenizer_texts  # an entry point: it may join the stages

    if Path(args.out).exists():  # before minutes of building, not after
        raise FileExistsError(f"{args.out}: already exists; remove it or choose another folder")

    out = build_tiny_model(
        args.out,
        args.arch,
        prompt_texts=tokenizer_texts(),
        hidden_size=args.hidden_size,
        layers=args.layers,
        heads=args.heads,
        vision_depth=args.vision_depth,
        vision_hidden=args.vision_hidden,
        vocab_size=args.vocab_size,
        seed=args.seed,
    )
    print(f"wrote tiny {args.arch} model to {out}")
    return 0
