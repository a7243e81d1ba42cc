"""The grouped layout's split attention (video_r1/rollout/grouped_attention.py): prompt
queries causal within their row's prompt, each completion's queries against the prompt and its
own earlier tokens, equals dense attention under the layout's block mask (outputs at every
real position and the gradients of queries, keys and values), by both completion paths: the
cascade's log-sum-exp merge (CPU's fused kernels) and masked sdpa over copied prompt keys."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from video_r1.rollout.grouped import block_mask
from video_r1.rollout.grouped_attention import GroupedAttention, grouped_attention_forward


class _Attention(torch.nn.Module):
    """What transformers' attention functions read of the layer: GQA with 2 query heads per
    KV head, causal."""

    num_key_value_groups = 2
    is_causal = True
    layer_idx = 3


def _layout(prompt_real: list[int], prompt_len: int, counts: list[int], lengths: list[int]):
    """Segments [U, L] (-1 padding, 0 prompt, k: completion k of the row), prompt mask [U, Lp]
    and each completion's (row, start, length), rows left-padded, completions packed after."""
    total = prompt_len + max(
        sum(lengths[sum(counts[:u]) : sum(counts[: u + 1])]) for u in range(len(counts))
    )
    segment = torch.full((len(counts), total), -1)
    mask = torch.zeros(len(counts), prompt_len, dtype=torch.long)
    rows, starts, k = [], [], 0
    for u, (real, count) in enumerate(zip(prompt_real, counts, strict=True)):
        segment[u, prompt_len - real : prompt_len] = 0
        mask[u, prompt_len - real :] = 1
        start = prompt_len
        for j in range(count):
            segment[u, start : start + lengths[k]] = j + 1
            rows.append(u)
            starts.append(start)
            start += lengths[k]
            k += 1
    return segment, mask, rows, starts, total


@pytest.mark.parametrize("last", [False, True], ids=["layer", "last-layer"])
@pytest.mark.parametrize("merged", [True, False], ids=["merged", "masked"])
def test_split_attention_equals_dense_attention_under_the_block_mask(merged, last):
    """In the text model's last layer (`last_layer`) the prompt's queries before its last
    token are skipped (their outputs 0): the caller reads logits from the last prompt token
    on."""
    torch.manual_seed(0)
    # row 0: 7 real prompt tokens of 9 (left padding), 3 completions; row 1: 9 real, 2
    lengths = [4, 1, 3, 5, 2]
    segment, prompt_mask, rows, starts, total = _layout([7, 9], 9, [3, 2], lengths)
    layout = GroupedAttention.build(
        prompt_mask, rows, starts, lengths, total, merged=merged, last_layer=3 if last else None
    )
    assert (layout.mask is None) == merged
    heads, kv_heads, dim = 4, 2, 8
    q = torch.randn(2, heads, total, dim, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, kv_heads, total, dim, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, kv_heads, total, dim, dtype=torch.float64, requires_grad=True)
    module = _Attention()

    split, _ = grouped_attention_forward(module, q, k, v, None, grouped_attention=layout)
    dense = F.scaled_dot_product_attention(
        q, k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1),
        attn_mask=block_mask(segment),
    ).transpose(1, 2)  # fmt: skip
    assert split.shape == dense.shape == (2, total, heads, dim)
    real = segment >= 0
    if last:  # the last prompt token and the completions
        read = real & (torch.arange(total) >= 8)
        assert (split[:, :8] == 0).all()
    else:
        read = real
    assert torch.allclose(split[read], dense[read], atol=1e-12, rtol=0)
    assert (split[~real] == 0).all()  # padding slots: nothing computed, nothing read
    assert len(layout.calls) == 1

    weights = torch.randn(split.shape, dtype=torch.float64) * read[:, :, None, None]
    grads_split = torch.autograd.grad((split * weights).sum(), (q, k, v))
    grads_dense = torch.autograd.grad((dense * weights).sum(), (q, k, v))
    for got, want in zip(grads_split, grads_dense, strict=True):
        assert torch.allclose(got, want, atol=1e-12, rtol=0)


def test_without_a_layout_it_is_sdpa():
    torch.manual_seed(1)
    q, k, v = torch.randn(1, 4, 6, 8), torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8)
    out, _ = grouped_attention_forward(_Attention(), q, k, v, None)
    want = F.scaled_dot_product_attention(
        q, k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1), is_causal=True
    ).transpose(1, 2)
    assert torch.allclose(out, want, atol=1e-6)


def test_a_layout_of_another_length_is_refused():
    lengths = [2, 2]
    segment, prompt_mask, rows, starts, total = _layout([3], 3, [2], lengths)
    layout = GroupedAttention.build(prompt_mask, rows, starts, lengths, total)
    q, k = torch.randn(1, 4, total + 1, 8), torch.randn(1, 2, total + 1, 8)
    with pytest.raises(ValueError, match="3 prompt \\+ 4 completion slots, queries of 8"):
        grouped_attention_forward(_Attention(), q, k, k, None, grouped_attention=layout)
