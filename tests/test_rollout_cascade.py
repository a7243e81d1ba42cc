"""Shared-prefix ("cascade") attention equals attention over each rollout's whole sequence."""

import gc
import weakref

import pytest
import torch
from transformers import PretrainedConfig
from transformers.cache_utils import DynamicCache

from video_r1.rollout import cascade
from video_r1.rollout.cascade import (
    ATTENTION_NAME,
    SharedPrefixCache,
    SharedPrefixLayer,
    shared_prefix_attention,
    shared_prefix_attention_forward,
)

KV_HEADS, GROUPS, DIM, PREFIX = 2, 3, 8, 7
ROWS = torch.tensor([2, 0, 1, 0, 2, 0])  # rollouts of 3 prompt rows, in any order
PADDING = [0, 2, 5]  # left padding of each row's prefix


class _Layer(torch.nn.Module):  # what the attention function reads from its module
    layer_idx = 0


def _tensors(dtype, suffix_len, query_len):
    generator = torch.Generator().manual_seed(0)

    def draw(*shape):
        return torch.randn(*shape, generator=generator).to(dtype).requires_grad_()

    prefix_keys, prefix_values = draw(3, KV_HEADS, PREFIX, DIM), draw(3, KV_HEADS, PREFIX, DIM)
    keys, values = draw(6, KV_HEADS, suffix_len, DIM), draw(6, KV_HEADS, suffix_len, DIM)
    query = draw(6, KV_HEADS * GROUPS, query_len, DIM)
    prefix_mask = torch.ones(3, PREFIX, dtype=torch.long)
    for row, pad in enumerate(PADDING):
        prefix_mask[row, :pad] = 0
    return prefix_keys, prefix_values, keys, values, query, prefix_mask


def _reference(prefix_keys, prefix_values, keys, values, query, prefix_mask):
    """Every rollout's prefix copied in front of its suffix, one SDPA call with a full mask."""
    suffix_len, query_len = keys.shape[2], query.shape[2]
    all_keys = torch.cat([prefix_keys[ROWS], keys], dim=2).repeat_interleave(GROUPS, dim=1)
    all_values = torch.cat([prefix_values[ROWS], values], dim=2).repeat_interleave(GROUPS, dim=1)
    positions = torch.arange(suffix_len)
    causal = positions[None, :] <= positions[suffix_len - query_len :, None]  # [Lq, Ls]
    allowed = torch.cat(
        [prefix_mask[ROWS].bool()[:, None, :].expand(-1, query_len, -1), causal.expand(6, -1, -1)],
        dim=2,
    )[:, None]  # [N, 1, Lq, Lp + Ls]
    return torch.nn.functional.scaled_dot_product_attention(
        query, all_keys, all_values, attn_mask=allowed
    ).transpose(1, 2)


def _cascade(prefix_keys, prefix_values, keys, values, query, prefix_mask):
    prefix = DynamicCache()
    prefix.update(prefix_keys, prefix_values, 0)
    cache = SharedPrefixCache(prefix, prefix_mask, ROWS)
    config = PretrainedConfig()
    config._attn_implementation = "sdpa"
    with shared_prefix_attention(config, cache):
        assert config._attn_implementation == ATTENTION_NAME
        out, _ = shared_prefix_attention_forward(_Layer(), query, keys, values, None)
    assert config._attn_implementation == "sdpa"
    return out


@pytest.mark.parametrize("backend", ["fused", "explicit"])
@pytest.mark.parametrize("suffix_len,query_len", [(5, 5), (5, 1), (1, 1)])
def test_merged_attention_and_its_gradients_equal_attention_over_whole_sequences(
    suffix_len, query_len, backend, monkeypatch
):
    """Log-prob passes (all suffix tokens queried), decode steps (the last one) and the first
    decode step (a suffix of one token): outputs and gradients of every input equal SDPA over
    [prefix copy; suffix] with the row's left padding masked, with the fused CPU kernel and
    its log-sum-exp backward, and with the explicit score matrix (the non-CPU path)."""
    if backend == "explicit":
        monkeypatch.setattr(cascade, "has_fused_kernels", lambda device: False)
    tensors = _tensors(torch.float32, suffix_len, query_len)
    results = []
    for attend in (_reference, _cascade):
        out = attend(*tensors)
        weights = torch.linspace(-1, 1, out.numel()).view(out.shape)
        grads = torch.autograd.grad((out * weights).sum(), tensors[:5])
        results.append((out.detach(), grads))
    (out_ref, grads_ref), (out, grads) = results
    assert out.shape == (6, query_len, KV_HEADS * GROUPS, DIM)
    assert torch.allclose(out, out_ref, atol=1e-5)
    for name, grad, grad_ref in zip(("pk", "pv", "k", "v", "q"), grads, grads_ref, strict=True):
        assert torch.allclose(grad, grad_ref, atol=1e-5), name


def test_merged_attention_in_bf16_is_as_close_to_float32_as_sdpa():
    """bf16 inputs: the merge (float32 softmax and log-sum-exp) errs no more than bf16 SDPA."""
    exact = _reference(*_tensors(torch.float32, 5, 5)).detach()
    bf16 = _tensors(torch.bfloat16, 5, 5)
    with torch.no_grad():
        out, out_sdpa = _cascade(*bf16), _reference(*bf16)
    assert out.dtype == torch.bfloat16
    error, error_sdpa = (out.float() - exact).abs().max(), (out_sdpa.float() - exact).abs().max()
    assert error <= 1.5 * error_sdpa + 1e-3, (error, error_sdpa)


def test_generation_writes_the_suffix_in_place():
    """Without grad the first update allocates `capacity` suffix slots and decode steps write
    into them (no per-step concatenation); with grad the tensors are kept as given."""
    prefix = [(torch.zeros(2, KV_HEADS, PREFIX, DIM),) * 2]
    layer = SharedPrefixLayer(prefix, capacity=4)
    step = [torch.full((3, KV_HEADS, 1, DIM), float(i)) for i in range(3)]
    with torch.no_grad():
        keys, _ = layer.update(step[0], step[0])
        storage = layer.keys.data_ptr()
        layer.update(step[1], step[1])
        keys, values = layer.update(step[2], step[2])
    assert layer.keys.shape[2] == 4 and layer.keys.data_ptr() == storage
    assert keys[:, 0, :, 0].tolist() == [[0.0, 1.0, 2.0]] * 3
    assert torch.equal(keys, values) and layer.get_seq_length() == PREFIX + 3
    assert layer.get_mask_sizes(1) == (PREFIX + 4, 0)

    training = SharedPrefixLayer(prefix, capacity=4)
    fed = torch.ones(3, KV_HEADS, 2, DIM, requires_grad=True)
    keys, _ = training.update(fed, fed)
    assert training.keys is fed and torch.equal(keys, fed) and keys.requires_grad


def test_attention_outside_the_context_is_refused():
    query = torch.zeros(1, 2, 1, DIM)
    with pytest.raises(RuntimeError, match="only inside shared_prefix_attention"):
        shared_prefix_attention_forward(_Layer(), query, query, query, None)


def _video_and_image_rows(model_dir, make_clip):
    """(processor, model inputs) of a video row and a shorter, left-padded image row."""
    from video_r1.data.records import Record
    from video_r1.models import load_processor
    from video_r1.prompts import build_messages, encode_prompts

    processor = load_processor(model_dir)
    clip = make_clip(14)
    records = [
        Record(problem_id=i, problem="Which colour is it?", data_type=kind,
               problem_type="free-form", solution="<answer>red</answer>", path="x",
               media_path=clip.path)
        for i, kind in enumerate(("video", "image"))
    ]  # fmt: skip
    inputs = encode_prompts(
        processor, [build_messages(r) for r in records], [clip, clip.frames[0]]
    ).model_inputs
    return processor, inputs


def test_bf16_model_logprobs_are_as_close_to_float32_as_the_expanded_path(tiny_qwen25, make_clip):
    """A bf16 model (a video row and a shorter, left-padded image row): generation runs and
    the shared-prefix log-probs err from the float32 model's no more than the expanded
    path's do."""
    from video_r1.models import generation_config, load_model
    from video_r1.rollout import completion_logprobs, encode_vision, generate_rollouts

    processor, inputs = _video_and_image_rows(tiny_qwen25, make_clip)
    exact = load_model(tiny_qwen25, dtype="float32")
    config = generation_config(exact, processor, max_new_tokens=6, do_sample=False)
    with torch.no_grad():
        rollouts = generate_rollouts(exact, encode_vision(exact, inputs), [3, 2], config)
        reference = completion_logprobs(exact, encode_vision(exact, inputs), rollouts)
        bf16 = load_model(tiny_qwen25, dtype="bfloat16")
        encoded = encode_vision(bf16, inputs)
        assert generate_rollouts(bf16, encoded, [3, 2], config).completion_ids.shape[0] == 5
        errors = [
            (completion_logprobs(bf16, encoded, rollouts, cascade=c) - reference).abs().max()
            for c in (True, False)
        ]
    assert errors[0] <= 1.5 * errors[1] + 1e-3, errors


def test_a_trained_log_prob_pass_frees_its_cache(tiny_qwen25, make_clip, monkeypatch):
    """After backward the shared-prefix cache (prefix, suffix, their graph) is freed: an
    autograd node that kept the cache would hold a cycle through later layers' keys that
    Python's collector cannot free (0.1 GB more per step at 4 prompts)."""
    from video_r1.models import generation_config, load_model
    from video_r1.rollout import completion_logprobs, encode_vision, generate_rollouts
    from video_r1.rollout import generate as generate_module

    made = []

    class Recorded(SharedPrefixCache):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(weakref.ref(self))

    monkeypatch.setattr(generate_module, "SharedPrefixCache", Recorded)
    processor, inputs = _video_and_image_rows(tiny_qwen25, make_clip)
    model = load_model(tiny_qwen25, dtype="float32")
    config = generation_config(model, processor, max_new_tokens=4, do_sample=False)
    with torch.no_grad():
        rollouts = generate_rollouts(model, encode_vision(model, inputs), [2, 1], config)
    # the cache with grad (rl.grouped_update=false; by default the update runs grouped.py)
    completion_logprobs(
        model, encode_vision(model, inputs), rollouts, grouped=False
    ).sum().backward()
    gc.collect()
    assert len(made) == 2 and [ref() for ref in made] == [None, None]


def test_without_fused_kernels_generation_and_log_prob_passes_copy_the_cache(
    tiny_qwen25, make_clip, monkeypatch
):
    """Off CPU (no fused kernel returning the log-sum-exp is wired) a log-prob pass would
    materialise score matrices of ~0.1-0.4 GB per layer at real size, and generation would
    run dozens of small kernels per layer (2.4x slower on an H200): both copy the cache instead;
    the completions and log-probs are the same."""
    from video_r1.models import generation_config, load_model
    from video_r1.rollout import completion_logprobs, encode_vision, generate_rollouts
    from video_r1.rollout import generate as generate_module

    made = []

    class Recorded(SharedPrefixCache):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(generate_module, "SharedPrefixCache", Recorded)
    processor, inputs = _video_and_image_rows(tiny_qwen25, make_clip)
    model = load_model(tiny_qwen25, dtype="float32")
    config = generation_config(model, processor, max_new_tokens=4, do_sample=False)
    with torch.no_grad():
        encoded = encode_vision(model, inputs)
        rollouts = generate_rollouts(model, encoded, [2, 1], config)
        shared = completion_logprobs(model, encoded, rollouts)
        assert len(made) == 2  # generation and the log-prob pass
        monkeypatch.setattr(generate_module, "has_fused_kernels", lambda device: False)
        copied = completion_logprobs(model, encoded, rollouts)
        again = generate_rollouts(model, encoded, [2, 1], config)
    assert len(made) == 2  # no shared-prefix cache for the pass or the generation
    assert torch.equal(again.completion_ids, rollouts.completion_ids)  # greedy: the same
    torch.testing.assert_close(copied, shared)
