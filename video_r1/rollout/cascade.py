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

The text model uses this attention only inside `shared_prefix_attention(text_config, cache)`:
its attention implementation is switched to ours for the call (the vision tower
keeps its own), and the 2D attention mask is ignored (no mask function is registered, so
transformers passes None): the prefix's left padding comes from the cache, and within the
suffix attention is causal. Assumed: suffix tokens are never padding before a rollout's first
EOS (true of generation and of the log-prob pass, whose completion mask only zeroes tokens
after the first EOS); tokens after it see the masked ones, which the loss ignores.

Kernels: on CPU both parts run torch's fused flash kernel (it returns the log-sum-exp) and
its fused backward (`_CpuMergedAttention`); no score matrix is kept. Elsewhere the parts
materialise their score matrix (`_explicit_attention`, autograd), [m, Hkv, c * (Hq / Hkv) *
Lq, Lp] for a group of m rows of c rollouts: tiny at decode (Lq = 1); in a log-prob pass at
real size (Qwen2.5-VL-3B: 2 KV heads, 16 query heads; c = 8, Lq = 256, Lp = 1.1k) ~144 MB
float32 per layer kept for backward, about twice what math SDPA on the expanded cache holds
and more than a fused kernel's none (at Lq = 768, 7B, three times that per layer). And in
generation the two explicit parts and their merge are dozens of small kernels per layer, which a
GPU's decode step, bound by kernel launches, pays for: on an H200 (Qwen2.5-VL-3B size, 4
prompts, 48 rollouts) a decode step took 66 ms this way against 28 ms on the copied cache
(docs/speed.md). So off CPU nothing attends this way: generation and `completion_logprobs`
keep the copied cache and the model's own (fused) attention. The split on CUDA with fused
kernels, `_scaled_dot_product_efficient_attention` (it returns the log-sum-exp) or
FlashAttention's `return_softmax_lse`, is the follow-up (not built: it needs a GPU to measure).
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
    """One decoder layer's cache: the prompt rows' prefix K/V (read-only), as one
    (keys, values) pair [m, Hkv, Lp, D] per row group of `SharedPrefixCache.groups` (gathered
    once here, not at every step), and the rollouts' own K/V [N, Hkv, Ls, D] (`keys` /
    `values`, grown by `update`)."""

    is_sliding = False

    def __init__(self, prefix: list[tuple[torch.Tensor, torch.Tensor]], capacity: int):
        super().__init__()
        self.prefix = prefix
        self.prefix_len = prefix[0][0].shape[-2]
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
        return self.prefix_len + self.length

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.get_seq_length() + query_length, 0

    def get_max_length(self) -> int:
        return -1


class PrefixRows:
    """Which rollouts share which prompt row, as the merged attention reads it.

    prefix_mask: [U, Lp] 1 on real tokens, 0 on left padding; rows: [N] prompt row (0..U-1) of
    each rollout. groups: the rows grouped by rollout count, [(row ids [m], their rollouts
    [m, c]), ...]; prefix_bias: each group's [m, 1, 1, Lp] additive mask (0 / -inf on
    padding); restore: grouped order -> rollout order."""

    def __init__(self, prefix_mask: torch.Tensor, rows: torch.Tensor):
        device = prefix_mask.device
        self.groups = [(r.to(device), n.to(device)) for r, n in _row_groups(rows)]
        bias = torch.zeros(prefix_mask.shape, dtype=torch.float32, device=device)
        bias = bias.masked_fill(prefix_mask == 0, float("-inf"))[:, None, None]  # [U, 1, 1, Lp]
        self.prefix_bias = [bias[r] for r, _ in self.groups]
        order = torch.cat([rollouts.flatten() for _, rollouts in self.groups])
        self.restore = torch.argsort(order)
        self._suffix_bias: tuple[tuple[int, int, int], torch.Tensor] | None = None

    def suffix_bias(self, query_len: int, suffix_len: int, groups: int) -> torch.Tensor:
        """Causal mask [groups * Lq, Ls] (0 / -inf) of the last Lq of Ls suffix tokens, for
        queries stacked as (query head within its KV group, position); made once per call
        and shared by all layers."""
        key = (query_len, suffix_len, groups)
        if self._suffix_bias is None or self._suffix_bias[0] != key:
            device = self.restore.device
            positions = torch.arange(suffix_len, device=device)
            future = positions[None, :] > positions[suffix_len - query_len :, None]  # [Lq, Ls]
            bias = torch.zeros(future.shape, dtype=torch.float32, device=device)
            self._suffix_bias = (key, bias.masked_fill(future, float("-inf")).repeat(groups, 1))
        return self._suffix_bias[1]


class SharedPrefixCache(Cache):
    """The prompt rows' cache kept once, plus each rollout's own tokens.

    prefix: the prompt rows' cache ([U, Hkv, Lp, D] per layer); prefix_mask: [U, Lp] 1 on
    real tokens, 0 on left padding; rows: [N] prompt row (0..U-1) of each rollout;
    capacity: suffix tokens to preallocate in generation (0: grow as fed).
    """

    def __init__(
        self, prefix: Cache, prefix_mask: torch.Tensor, rows: torch.Tensor, capacity: int = 0
    ):
        rows_layout = PrefixRows(prefix_mask, rows)
        self.groups, self.prefix_bias = rows_layout.groups, rows_layout.prefix_bias
        self.restore, self.suffix_bias = rows_layout.restore, rows_layout.suffix_bias
        layers = [
            SharedPrefixLayer([(layer.keys[r], layer.values[r]) for r, _ in self.groups], capacity)
            for layer in prefix.layers
        ]
        super().__init__(layers=layers)

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


def _explicit_attention(queries, keys, values, bias, scale):
    """Softmax attention output [..., Q, D] and log-sum-exp [..., Q] of one part, in float32
    with the score matrix materialised (differentiable through both).

    bias: additive float32 mask broadcastable to the scores [..., Q, K] (0 or -inf), or None.
    bf16 inputs are upcast: bf16 scores and partial outputs rounded before the merge would
    err about twice as much as SDPA (which accumulates in float32)."""
    queries, keys, values = (_at_least_float32(t) for t in (queries, keys, values))
    scores = torch.matmul(queries, keys.transpose(-1, -2)) * scale
    if bias is not None:
        scores = scores + bias
    lse = torch.logsumexp(scores, dim=-1)  # [..., Q]
    probs = torch.exp(scores - lse.unsqueeze(-1))
    return torch.matmul(probs, values), lse


def _cpu_flash_attention(queries, keys, values, bias, scale):
    """torch's fused CPU flash attention, which also returns the log-sum-exp (float32)."""
    out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        queries, keys, values, 0.0, False, scale=scale,
        attn_mask=None if bias is None else bias.to(queries.dtype),
    )  # fmt: skip
    return _at_least_float32(out), lse


def _at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """bf16 / fp16 upcast for the merge; float64 (tests' exact comparisons) kept."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


def _stack_rows(tensor: torch.Tensor, rollouts: torch.Tensor) -> torch.Tensor:
    """[N, Hkv, X, ...] -> [m, Hkv, c*X, ...]: each row's c rollouts along the query axis."""
    m, c = rollouts.shape
    picked = tensor[rollouts.flatten()]
    picked = picked.view(m, c, *picked.shape[1:]).transpose(1, 2)  # [m, Hkv, c, X, ...]
    return picked.reshape(m, picked.shape[1], c * picked.shape[3], *picked.shape[4:])


def _unstack_rows(tensor: torch.Tensor, count: int) -> torch.Tensor:
    """[m, Hkv, c*X, ...] -> [m*c, Hkv, X, ...], the inverse of `_stack_rows`."""
    m, heads = tensor.shape[:2]
    return tensor.view(m, heads, count, -1, *tensor.shape[3:]).transpose(1, 2).flatten(0, 1)


def _merged_attention(cache, prefix, queries, keys, values, suffix_bias, scale, attend):
    """Queries [N, Hkv, g*Lq, D] against their row's prefix (read once per row group; prefix:
    flat [keys, values, keys, ...] of the groups) and their own suffix, merged: (output
    [N, Hkv, g*Lq, D], log-sum-exp [N, Hkv, g*Lq]), float32.
    attend(queries, keys, values, bias, scale) -> (output, log-sum-exp)."""
    outs, lses = [], []
    for i, ((_, rollouts), bias) in enumerate(zip(cache.groups, cache.prefix_bias, strict=True)):
        stacked = _stack_rows(queries, rollouts)
        out, lse = attend(stacked, prefix[2 * i], prefix[2 * i + 1], bias, scale)
        outs.append(_unstack_rows(out, rollouts.shape[1]))
        lses.append(_unstack_rows(lse, rollouts.shape[1]))
    out_prefix, lse_prefix = torch.cat(outs)[cache.restore], torch.cat(lses)[cache.restore]
    out_suffix, lse_suffix = attend(queries, keys, values, suffix_bias, scale)
    lse = torch.logaddexp(lse_prefix, lse_suffix)
    out = out_prefix * torch.exp(lse_prefix - lse).unsqueeze(-1)
    return out + out_suffix * torch.exp(lse_suffix - lse).unsqueeze(-1), lse


class _CpuMergedAttention(torch.autograd.Function):
    """`_merged_attention` with torch's fused CPU flash kernels, forward and backward.

    The backward is split-KV attention's ("flash decoding"): softmax over the union of the
    prefix and suffix keys has probabilities exp(s - lse) with the merged lse, so each
    part's gradients are the standard attention backward of that part run with the merged
    output and log-sum-exp. No score matrix is kept for backward, and the partial
    log-sum-exps need no gradient of their own (torch's kernel gives them none)."""

    @staticmethod
    def forward(ctx, queries, keys, values, cache, suffix_bias, scale, *prefix):
        out, lse = _merged_attention(
            cache, prefix, queries, keys, values, suffix_bias, scale, _cpu_flash_attention
        )
        out = out.to(queries.dtype)
        ctx.save_for_backward(queries, keys, values, out, lse, *prefix)
        # not the cache itself: it holds later layers' keys, whose graph leads back to this
        # node, a cycle through autograd that Python's collector cannot free
        ctx.groups, ctx.prefix_bias = cache.groups, cache.prefix_bias
        ctx.suffix_bias, ctx.scale = suffix_bias, scale
        return out

    @staticmethod
    def backward(ctx, grad_out):
        queries, keys, values, out, lse, *prefix = ctx.saved_tensors
        scale, grad_out = ctx.scale, grad_out.contiguous()
        backward = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward
        grad_queries, grad_keys, grad_values = backward(
            grad_out, queries, keys, values, out, lse, 0.0, False, scale=scale,
            attn_mask=None if ctx.suffix_bias is None else ctx.suffix_bias.to(queries.dtype),
        )  # fmt: skip
        grad_prefix = []
        for i, ((_, rollouts), bias) in enumerate(zip(ctx.groups, ctx.prefix_bias, strict=True)):
            stacked = [_stack_rows(t, rollouts) for t in (grad_out, queries, out, lse)]
            grad_stacked, grad_pk, grad_pv = backward(
                stacked[0], stacked[1], prefix[2 * i], prefix[2 * i + 1], stacked[2],
                stacked[3].contiguous(), 0.0, False, scale=scale, attn_mask=bias.to(queries.dtype),
            )  # fmt: skip
            grad_unstacked = _unstack_rows(grad_stacked, rollouts.shape[1])
            grad_queries = grad_queries.index_add(0, rollouts.flatten(), grad_unstacked)
            grad_prefix += [grad_pk, grad_pv]
        return grad_queries, grad_keys, grad_values, None, None, None, *grad_prefix


def has_fused_kernels(device: torch.device) -> bool:
    """Whether shared-prefix attention runs on fused kernels on `device` (torch's CPU flash
    kernel and its backward). Elsewhere the score matrix is explicit: too large for a
    log-prob pass at real size, and too many small kernels for a GPU's decode step (2.4x
    slower generation on an H200), so generation and `completion_logprobs` keep the copied
    cache there."""
    return device.type == "cpu"


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
    prefix = [t for pair in cache.layers[module.layer_idx].prefix for t in pair]
    return merged_attention(query, key, value, cache, prefix, scaling), None


def merged_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, rows: PrefixRows,
    prefix: list[torch.Tensor], scaling: float | None,
) -> torch.Tensor:  # fmt: skip
    """Each rollout's queries [N, Hq, Lq, D] against its row's prefix (`prefix`: flat
    [keys, values, ...] [m, Hkv, Lp, D] of `rows.groups`) and causally its own suffix (key,
    value [N, Hkv, Ls, D], the queries its last Lq): [N, Lq, Hq, D], as transformers'
    attention functions return it. Differentiable in all inputs."""
    n, q_heads, q_len, dim = query.shape
    kv_heads, suffix_len = key.shape[1], key.shape[2]
    scale = dim**-0.5 if scaling is None else scaling
    # one dtype for the kernels: under autocast the lower precision, as SDPA runs there
    device = query.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else query.dtype
    prefix = [t.to(dtype) for t in prefix]
    key, value = key.to(dtype), value.to(dtype)
    # query heads h*g .. h*g+g-1 share KV head h: folding them into the query axis needs no
    # repeated keys
    queries = query.to(dtype).reshape(n, kv_heads, (q_heads // kv_heads) * q_len, dim)
    # a decode step's one query sees the whole suffix: no mask
    bias = rows.suffix_bias(q_len, suffix_len, q_heads // kv_heads) if q_len > 1 else None
    if has_fused_kernels(query.device):
        out = _CpuMergedAttention.apply(queries, key, value, rows, bias, scale, *prefix)
    else:  # no fused kernel returning the log-sum-exp used here yet: see the module docstring
        out, _ = _merged_attention(rows, prefix, queries, key, value, bias, scale,
                                   _explicit_attention)  # fmt: skip
    out = out.to(dtype).view(n, q_heads, q_len, dim)
    return out.transpose(1, 2).contiguous()


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
