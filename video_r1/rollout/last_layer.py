"""A prompt pass computes its last decoder layer only where something reads it.

A prompt pass (`prefill_prompts`: generation's prefill, and the prompt part of every log-prob
pass) keeps two things of the prompt: every layer's keys and values (the completion attends
to them) and the logits of the last prompt token (they predict the first completion token).
The last decoder layer's keys and values come from its input, so of that layer only the
last position needs the rest: the attention of its query, and the MLP. Elsewhere the
layer's output feeds nothing but the final norm, whose other positions nobody reads
(`logits_to_keep=1`). Inside `last_layer_at_last_position`:

- the attention of the last layer runs for the last query only (the model's own attention
  function on that query, its mask row sliced out), padded with zeros to the full length for
  the output projection;
- its MLP runs on the last position only (a forward pre-hook slices the input, a forward
  hook pads the output with zeros back to the full length).

Keys, values and the last position are what the full layer computes, up to float rounding
(the last query's attention may take another kernel path; tests/test_rollout_last_layer.py on
the three architectures), and so are the gradients: the positions left out receive none in
the full pass either. The other
positions of the last layer's output then hold the layer's input plus zeros, which nothing
reads. Saved per prompt pass: the last layer's attention and MLP at every prompt position but
one, i.e. 1/L of the prompt's transformer work, forward and backward (L = 28 for
Qwen2.5-VL-7B; half for the 2-layer model of `benchmarks/grpo_step.py`).

Applies to transformers' sdpa attention, the default here; with another implementation
(eager, or flash attention, whose kernels this project cannot run here) the pass runs whole.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F

from video_r1.rollout.grouped_attention import GROUPED_ATTENTION

# transformers' registered attention it was tested with ("eager" is each model's own function)
SUPPORTED = ("sdpa", GROUPED_ATTENTION)
PREFIX = "video_r1_last_position_"
# the layer index the current pass computes at its last position only (None: outside)
_LAYER: ContextVar[int | None] = ContextVar("last_layer_at_last_position", default=None)


def _last_position_attention(original: str):
    """The attention function `original`, computing the last query only at the active layer."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    def attend(module, query, key, value, attention_mask, *args, **kwargs):
        attend_all = ALL_ATTENTION_FUNCTIONS[original]
        length = query.shape[2]  # query [N, H, Lq, D]
        if module.layer_idx != _LAYER.get() or length == 1:
            return attend_all(module, query, key, value, attention_mask, *args, **kwargs)
        if attention_mask is not None and attention_mask.dim() == 4:  # [N, 1, Lq, Lk]
            attention_mask = attention_mask[:, :, -1:]
        out, weights = attend_all(
            module, query[:, :, -1:], key, value, attention_mask, *args, **kwargs
        )  # [N, 1, H, D]: the last query sees every key, as in the causal pass
        return F.pad(out, (0, 0, 0, 0, length - 1, 0)), weights

    return attend


@functools.cache
def _register(original: str) -> str:
    """Register the last-position variant of `original` (attention and mask); its name.

    The name keeps `original` in it: transformers tells implementations apart by substrings.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    name = PREFIX + original
    AttentionInterface.register(name, _last_position_attention(original))
    AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[original])
    return name


@contextmanager
def last_layer_at_last_position(text_model: torch.nn.Module) -> Iterator[None]:
    """Within the block, a forward of `text_model` (a Qwen-VL language model) computes its
    last layer's attention and MLP at the last position only.

    Only for passes that read the cache and the last position's logits (`logits_to_keep=1`):
    the last layer's output at other positions is not the layer's. Does nothing for an
    attention implementation outside SUPPORTED or a layer of another shape.
    """
    config = text_model.config
    layer = text_model.layers[-1]
    original = config._attn_implementation
    shaped = hasattr(layer, "mlp") and hasattr(getattr(layer, "self_attn", None), "layer_idx")
    if original not in SUPPORTED or not shaped or _LAYER.get() is not None:
        yield
        return
    name = _register(original)

    lengths: list[int] = []  # of the current call's sequences

    def only_last(module, args):  # the MLP's input [N, L, hidden] -> its last position
        if not args:  # called with keywords: not the decoder layer's call, left whole
            lengths.clear()
            return None
        lengths[:] = [args[0].shape[1]]
        return (args[0][:, -1:], *args[1:])

    def padded(module, args, output):  # its output back to [N, L, hidden], zeros before
        if not lengths:
            return None
        return F.pad(output, (0, 0, lengths[0] - output.shape[1], 0))

    handles = [layer.mlp.register_forward_pre_hook(only_last),
               layer.mlp.register_forward_hook(padded)]  # fmt: skip
    token = _LAYER.set(layer.self_attn.layer_idx)
    config._attn_implementation = name
    try:
        yield
    finally:
        config._attn_implementation = original
        _LAYER.reset(token)
        for handle in handles:
            handle.remove()
