"""Shared-prefix ("cascade") attention: each prompt row's K/V kept once, not once per rollout.

The expanded path (`prefill_prompts` with `batch_select_indices`) gives every rollout its own
copy of its row's ~1.1k-token prompt cache, so each decode step (and each log-prob pass)
reads N copies of it and `DynamicCache.update` re-concatenates them. Here a rollout's
attention is the exact log-sum-exp merge of
(a) its queries against its row's prefix, computed once per row: the queries of all the
    row's rollouts (and of all query heads sharing a KV head) are stacked along the query
    axis, so the prefix K/V is read once per row and never copied per rollout; and
(b) causal attention within the rollout's own tokens (the suffix), which in generation lives
    in a buffer preallocated to its final length and written in place.
With lse_a, lse_b the log-sum-exp of each part's scores and o_a, o_b their softmax outputs,
softmax over the concatenated keys is exactly
o = exp(lse_a - lse) o_a + exp(lse_b - lse) o_b, with lse = logaddexp(lse_a, lse_b).

The text model uses this attention only inside `shared_prefix_attention(model, cache)`: its
text config's attention implementation is switched to ours for the call (the vision tower
keeps its own), and the 2D attention mask is ignored (no mask function is registered, so
transformers passes None): the prefix's left padding comes from the cache, and within the
suffix attention is causal. Assumed: suffix tokens are never padding before a rollout's first
EOS (true of generation and of the log-prob pass, whose completion mask only zeroes tokens
after the first EOS); tokens after it see the masked ones, which the loss ignores.

Cost: both parts materialise their score matrix, [U, Hkv, c * (Hq / Hkv) * Lq, Lp] for a
row group of c rollouts. At decode (Lq = 1) that is tiny. In a log-prob pass at real size
(Qwen2.5-VL-3B: 2 KV heads, 16 query heads; c = 8, Lq = 256, Lp = 1.1k; bf16) it is ~72 MB
per layer kept for backward (~2.6 GB over 36 layers), about what the expanded path's math
SDPA holds; a fused kernel returning a differentiable log-sum-exp (FlashAttention's
`return_softmax_lse`, FlexAttention) would avoid it on GPU and is the follow-up.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from transformers.cache_utils import Cache, CacheLayerMixin

ATTENTION_NAME = "video_r1_shared_prefix"
_ACTIVE: ContextVar[SharedPrefixCache | None] = ContextVar("shared_prefix_cache", default=None)


class SharedPrefixLayer(CacheLayerMixin):
    """One decoder layer's cache: the prompt rows' prefix K/V [U, Hkv, Lp, D] (read-only) and
    the rollouts' own K/V [N, Hkv, Ls, D] (`keys` / `values`, grown by `update`)."""

    is_sliding = False

    def __init__(self, prefix_keys: torch.Tensor, prefix_values: torch.Tensor, capacity: int):
        super().__init__()
        self.prefix_keys, self.prefix_values = prefix_keys, prefix_values
        self.capacity = capacity  # suffix tokens to preallocate for (0: no buffer)
        self.length = 0  # suffix tokens written
        self.is_initialized = True

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        pass

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        """Append the rollouts' new K/V [N, Hkv, q, D]; returns the suffix so far [N, Hkv, Ls, D].

        Without grad (generation) the first call allocates the whole suffix and later calls
        write into it: no per-step concatenation. With grad the tensors are kept as given
        (a log-prob pass feeds all its tokens in one call)."""
        end = self.length + key_states.shape[-2]
        if self.keys is None:
            if self.capacity > end and not torch.is_grad_enabled():
                shape = (*key_states.shape[:2], self.capacity, key_states.shape[-1])
                self.keys = key_states.new_empty(shape)
                self.values = value_states.new_empty(shape)
                self.keys[:, :, :end], self.values[:, :, :end] = key_states, value_states
            else:
                self.keys, self.values = key_states, value_states
        elif end <= self.keys.shape[-2] and not torch.is_grad_enabled():
            self.keys[:, :, self.length : end] = key_states
            self.values[:, :, self.length : end] = value_states
        else:
            keys, values = self.keys[:, :, : self.length], self.values[:, :, : self.length]
            self.keys = torch.cat([keys, key_states], dim=-2)
            self.values = torch.cat([values, value_states], dim=-2)
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def get_seq_length(self) -> int:
        return self.prefix_keys.shape[-2] + self.length

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.get_seq_length() + query_length, 0

    def get_max_length(self) -> int:
        return -1


class SharedPrefixCache(Cache):
    """The prompt rows' cache kept once, plus each rollout's own tokens.

    prefix: the prompt rows' cache ([U, Hkv, Lp, D] per layer); prefix_mask: [U, Lp] 1 on
    real tokens, 0 on left padding; rows: [N] prompt row (0..U-1) of each rollout;
    capacity: suffix tokens to preallocate in generation (0: grow as fed).
    """

    def __init__(
        self, prefix: Cache, prefix_mask: torch.Tensor, rows: torch.Tensor, capacity: int = 0
    ):
        layers = [SharedPrefixLayer(layer.keys, layer.values, capacity) for layer in prefix.layers]
        super().__init__(layers=layers)
        bias = torch.zeros(prefix_mask.shape, dtype=torch.float32, device=prefix_mask.device)
        self.prefix_bias = bias.masked_fill(prefix_mask == 0, float("-inf"))[:, None, None]
        self.groups = _row_groups(rows)
        order = torch.cat([rollouts.flatten() for _, rollouts in self.groups])
        self.restore = torch.argsort(order)  # grouped order -> rollout order

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        raise NotImplementedError("a shared-prefix cache cannot be re-indexed (beam search)")

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        raise NotImplementedError("a shared-prefix cache cannot be re-indexed (beam search)")


def _row_groups(rows: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Prompt rows grouped by rollout count: [(row ids [m], their rollouts [m, c]), ...].

    Example:
        >>> _row_groups(torch.tensor([0, 0, 1, 2, 2]))
        [(tensor([0, 2]), tensor([[0, 1],
                [3, 4]])), (tensor([1]), tensor([[2]]))]
    """
    by_count: dict[int, list[tuple[int, list[int]]]] = {}
    for row in sorted(set(rows.tolist())):
        members = (rows == row).nonzero().flatten().tolist()
        by_count.setdefault(len(members), []).append((row, members))
    return [
        (torch.tensor([r for r, _ in group]), torch.tensor([m for _, m in group]))
        for _, group in sorted(by_count.items(), reverse=True)
    ]


def _softmax_parts(
    queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, bias: torch.Tensor, scale
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax attention output [..., Q, D] and log-sum-exp [..., Q] of one part, float32.

    bias: additive float32 mask broadcastable to the scores [..., Q, K] (0 or -inf). bf16
    inputs are upcast: bf16 scores and partial outputs rounded before the merge would err
    about twice as much as SDPA (which accumulates in float32)."""
    scores = torch.matmul(queries.float(), keys.float().transpose(-1, -2)) * scale + bias
    lse = torch.logsumexp(scores, dim=-1)  # [..., Q]
    probs = torch.exp(scores - lse.unsqueeze(-1))
    return torch.matmul(probs, values.float()), lse


def _prefix_part(cache: SharedPrefixCache, layer: SharedPrefixLayer, queries, scale):
    """Queries [N, Hkv, g*Lq, D] against their row's prefix, read once per row."""
    n, kv_heads, per_head, dim = queries.shape
    outs, lses = [], []
    for row_ids, rollouts in cache.groups:
        m, c = rollouts.shape
        stacked = queries[rollouts.flatten()].view(m, c, kv_heads, per_head, dim)
        stacked = stacked.transpose(1, 2).reshape(m, kv_heads, c * per_head, dim)
        out, lse = _softmax_parts(
            stacked,
            layer.prefix_keys[row_ids],
            layer.prefix_values[row_ids],
            cache.prefix_bias[row_ids],
            scale,
        )  # [m, Hkv, c*g*Lq, D], [m, Hkv, c*g*Lq]
        outs.append(out.view(m, kv_heads, c, per_head, dim).transpose(1, 2).flatten(0, 1))
        lses.append(lse.view(m, kv_heads, c, per_head).transpose(1, 2).flatten(0, 1))
    return torch.cat(outs)[cache.restore], torch.cat(lses)[cache.restore]


def shared_prefix_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """The attention function registered as `ATTENTION_NAME`: query [N, Hq, Lq, D], key and
    value the rollouts' suffix [N, Hkv, Ls, D] (from `SharedPrefixLayer.update`); returns
    [N, Lq, Hq, D] as transformers' attention functions do."""
    cache = _ACTIVE.get()
    if cache is None:
        raise RuntimeError(f"{ATTENTION_NAME} attention runs only inside shared_prefix_attention")
    n, q_heads, q_len, dim = query.shape
    kv_heads, suffix_len = key.shape[1], key.shape[2]
    scale = dim**-0.5 if scaling is None else scaling
    # query heads h*g .. h*g+g-1 share KV head h: folding them into the query axis needs no
    # repeated keys
    queries = query.reshape(n, kv_heads, (q_heads // kv_heads) * q_len, dim)
    out_prefix, lse_prefix = _prefix_part(cache, cache.layers[module.layer_idx], queries, scale)
    positions = torch.arange(suffix_len, device=query.device)
    future = positions[None, :] > positions[suffix_len - q_len :, None]  # [Lq, Ls]
    bias = torch.zeros(future.shape, dtype=torch.float32, device=query.device)
    bias = bias.masked_fill(future, float("-inf")).repeat(q_heads // kv_heads, 1)
    out_suffix, lse_suffix = _softmax_parts(queries, key, value, bias, scale)
    lse = torch.logaddexp(lse_prefix, lse_suffix).unsqueeze(-1)
    out = out_prefix * torch.exp(lse_prefix.unsqueeze(-1) - lse) + out_suffix * torch.exp(
        lse_suffix.unsqueeze(-1) - lse
    )  # [N, Hkv, g*Lq, D]
    out = out.to(query.dtype).view(n, q_heads, q_len, dim)
    return out.transpose(1, 2).contiguous(), None


@functools.cache
def _register_attention() -> None:
    # imported here: transformers' modeling utils import torchvision, which needs
    # video_r1.compat's shim first (done by model loading, before any shared-prefix call)
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION_NAME, shared_prefix_attention_forward)


@contextmanager
def shared_prefix_attention(text_config, cache: SharedPrefixCache) -> Iterator[None]:
    """Within the block, the text decoder (whose config is `text_config`) attends through
    `cache`; the previous attention implementation is restored on exit."""
    if any(t != "full_attention" for t in getattr(text_config, "layer_types", None) or []):
        raise ValueError("shared-prefix attention supports full-attention layers only")
    _register_attention()
    previous = text_config._attn_implementation
    token = _ACTIVE.set(cache)
    text_config._attn_implementation = ATTENTION_NAME
    try:
        yield
    finally:
        text_config._attn_implementation = previous
        _ACTIVE.reset(token)
