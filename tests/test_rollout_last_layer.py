"""A prompt pass computes its last decoder layer at the last position only, and that changes
nothing it keeps: every layer's keys and values, the last logits, and their gradients."""

from contextlib import nullcontext

import torch
from test_rollout import _varied_batch  # rows of three prompt lengths and an image
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from video_r1.models import generation_config
from video_r1.rollout import completion_logprobs, encode_vision, generate_rollouts, rows_inputs
from video_r1.rollout.generate import inner_module, returned_cache
from video_r1.rollout.last_layer import last_layer_at_last_position
from video_r1.rollout.vision import base_model


def _prompt_pass(model, inputs, last_only: bool):
    """Cache keys/values of every layer, the last logits, and the gradients of a random
    weighting of all of them, for a prompt pass of every row (vision features with grad)."""
    text = base_model(model).language_model
    model.zero_grad()
    encoded = encode_vision(model, inputs)
    kwargs = rows_inputs(encoded, list(range(encoded.inputs["input_ids"].shape[0])))
    with last_layer_at_last_position(text) if last_only else nullcontext():
        out = inner_module(model)(**kwargs, use_cache=True, logits_to_keep=1)
    kept = [out.logits] + [
        t for layer in returned_cache(out).layers for t in (layer.keys, layer.values)
    ]
    generator = torch.Generator().manual_seed(0)
    loss = sum((t * torch.randn(t.shape, generator=generator)).sum() for t in kept)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return [t.detach() for t in kept], grads


def test_last_layer_at_last_position_keeps_the_cache_logits_and_gradients(
    tiny_model_dir, make_clip
):
    """Rows of three prompt lengths (left padding) and an image row, on every architecture:
    the same keys, values and last logits as the whole pass, and the same gradients of every
    parameter (the vision tower's too: the features carry a graph here)."""
    model, _, batch = _varied_batch(tiny_model_dir, make_clip)
    assert (batch.model_inputs["attention_mask"] == 0).any()  # left padding is exercised
    whole, whole_grads = _prompt_pass(model, batch.model_inputs, last_only=False)
    last, last_grads = _prompt_pass(model, batch.model_inputs, last_only=True)
    for got, want in zip(last, whole, strict=True):
        assert got.shape == want.shape
        assert torch.allclose(got, want, atol=1e-5)
    assert last_grads.keys() == whole_grads.keys()
    assert any("visual" in name for name in last_grads)
    for name, grad in last_grads.items():  # float rounding of other kernel shapes only
        want = whole_grads[name]
        assert (grad - want).abs().max() <= 1e-5 * want.abs().max() + 1e-6, name


def test_the_last_layer_runs_at_one_position_and_the_model_is_restored(
    tiny_qwen25, make_clip, monkeypatch
):
    """Inside the context the last layer's attention sees one query per row and its MLP one
    position; the other layers see the whole prompt; afterwards nothing of it is left."""
    model, _, batch = _varied_batch(tiny_qwen25, make_clip)
    text = base_model(model).language_model
    queries: dict[int, int] = {}
    sdpa = ALL_ATTENTION_FUNCTIONS["sdpa"]

    def spy(module, query, *args, **kwargs):
        queries[module.layer_idx] = query.shape[2]
        return sdpa(module, query, *args, **kwargs)

    monkeypatch.setitem(ALL_ATTENTION_FUNCTIONS._global_mapping, "sdpa", spy)
    mlp_rows: dict[int, int] = {}
    for i, layer in enumerate(text.layers):
        layer.mlp.down_proj.register_forward_hook(
            lambda m, args, out, i=i: mlp_rows.__setitem__(i, args[0].shape[1])
        )
    length = batch.model_inputs["input_ids"].shape[1]
    last = len(text.layers) - 1
    with torch.no_grad():
        encoded = encode_vision(model, batch.model_inputs)
        kwargs = rows_inputs(encoded, [0, 1, 2])
        with last_layer_at_last_position(text):
            out = model(**kwargs, use_cache=True, logits_to_keep=1)
        assert queries == {i: (1 if i == last else length) for i in range(last + 1)}
        assert mlp_rows == {i: (1 if i == last else length) for i in range(last + 1)}
        assert out.logits.shape[:2] == (3, 1)
        assert text.config._attn_implementation == "sdpa"
        assert not text.layers[-1].mlp._forward_hooks and not text.layers[-1].mlp._forward_pre_hooks
        model(**kwargs, use_cache=True, logits_to_keep=1)  # outside: the whole layer again
    assert queries[last] == length and mlp_rows[last] == length


def test_another_attention_runs_the_whole_layer(tiny_qwen25, make_clip):
    """An attention implementation it was not tested with (eager; flash attention) is left
    as it is: the pass runs whole, with the same logits."""
    model, _, batch = _varied_batch(tiny_qwen25, make_clip)
    text = base_model(model).language_model
    rows: list[int] = []
    text.layers[-1].mlp.down_proj.register_forward_hook(
        lambda m, args, out: rows.append(args[0].shape[1])
    )
    with torch.no_grad():
        kwargs = rows_inputs(encode_vision(model, batch.model_inputs), [0, 1, 2])
        sdpa = model(**kwargs, logits_to_keep=1).logits
        for attention in ("eager", "flash_attention_2"):
            text.config._attn_implementation = attention
            with last_layer_at_last_position(text):
                assert text.config._attn_implementation == attention
                assert not text.layers[-1].mlp._forward_pre_hooks
                if attention == "eager":  # flash attention is not installed here: not run
                    eager = model(**kwargs, logits_to_keep=1).logits
        text.config._attn_implementation = "sdpa"
    length = kwargs["input_ids"].shape[1]
    assert rows == [length, length]
    assert torch.allclose(eager, sdpa, atol=1e-5)


def test_generation_and_log_prob_passes_use_it(tiny_qwen25, make_clip):
    """The prompt pass of generation and of a log-prob pass runs the last layer's MLP at one
    position per row; the completion tokens all go through it."""
    model, processor, batch = _varied_batch(tiny_qwen25, make_clip)
    text = base_model(model).language_model
    rows: list[int] = []
    text.layers[-1].mlp.down_proj.register_forward_hook(
        lambda m, args, out: rows.append(args[0].shape[1])
    )
    config = generation_config(model, processor, max_new_tokens=4, do_sample=False)
    config.min_new_tokens = 4
    with torch.no_grad():
        encoded = encode_vision(model, batch.model_inputs)
        rollouts = generate_rollouts(model, encoded, [2, 1, 1], config)
        assert rows == [1] * 4  # the prompt pass, then 3 decode steps of one token
        rows.clear()
        completion_logprobs(model, encoded, rollouts)
    assert rows == [1, 3]  # the prompt pass, then tokens 0..2 predicting tokens 1..3
