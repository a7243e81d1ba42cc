"""A "parrot" checkpoint: a tiny Qwen-VL whose weights are set so that it always answers
PARROT_OUTPUT, a well-formed completion, so evaluation and annotation see real, scoreable
answers. No training: it is a bigram model built by hand.

The tokenizer gets <think>, </think>, <answer>, </answer> as added (non-special) tokens, so
the completion's tokens are all distinct. Every decoder layer's output projections are zeroed,
so the last hidden state is the normalised embedding of the current token, and lm_head rows
are set so that each completion token predicts the next one, starting from the "\\n" that ends
the generation prompt and ending with <|im_end|>. The checkpoint is saved with
save_pretrained and loads and generates through the normal code paths.
"""

from __future__ import annotations

from pathlib import Path

import torch

PARROT_TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
PARROT_OUTPUT = "<think>ok</think><answer>A</answer>"


def _decoder(model):
    base = model.model
    return getattr(base, "language_model", base)


def build_parrot(base: Path, out: Path) -> Path:
    """Copy the tiny checkpoint `base` to `out` as a parrot of PARROT_OUTPUT."""
    from video_r1.models import load_model, load_processor

    model = load_model(base, dtype="float32")
    processor = load_processor(base)
    tokenizer = processor.tokenizer
    tokenizer.add_tokens(PARROT_TAGS)
    vocab = int(model.get_output_embeddings().weight.shape[0])
    if len(tokenizer) > vocab:
        raise RuntimeError(f"tokenizer grew to {len(tokenizer)} > embedding rows {vocab}")
    chain = [tokenizer.convert_tokens_to_ids("Ċ")]  # the "\n" ending "<|im_start|>assistant\n"
    chain += tokenizer(PARROT_OUTPUT, add_special_tokens=False)["input_ids"]
    chain.append(tokenizer.convert_tokens_to_ids("<|im_end|>"))
    if len(set(chain)) != len(chain):
        raise RuntimeError(f"parrot tokens repeat: {tokenizer.convert_ids_to_tokens(chain)}")
    decoder = _decoder(model)
    with torch.no_grad():
        for layer in decoder.layers:
            layer.self_attn.o_proj.weight.zero_()
            if layer.self_attn.o_proj.bias is not None:
                layer.self_attn.o_proj.bias.zero_()
            layer.mlp.down_proj.weight.zero_()
        hidden = decoder.norm(decoder.embed_tokens.weight[chain[:-1]])  # [n, H]
        head = model.get_output_embeddings().weight  # [V, H]
        head.zero_()
        for h, nxt in zip(hidden, chain[1:], strict=True):
            head[nxt] += 20 * h / h.norm()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
