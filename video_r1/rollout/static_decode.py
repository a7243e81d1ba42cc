"""Decode steps of one fixed shape, replayed on a GPU as a single CUDA graph each.

Why: a decode step on a GPU is bound by kernel launches and Python, not by arithmetic. At
Qwen2.5-VL-3B size on an H100 (12 rollouts, 1.1k prompt tokens) the eager step took 31-37 ms,
while reading the 7.5 GB of bf16 weights takes about 2.5 ms: the rest is hundreds of small
kernels, each launched from Python, in each of 36 layers. Replayed as a graph it took about
10 ms (generation 3.5x faster; 5.9x with activation checkpointing, whose Python wrapper the
eager step also pays; docs/speed.md).

How: every tensor the step reads or writes keeps one address for the whole generation call.
- The rollouts' K/V live in buffers preallocated to their final length, prompt + max new
  tokens ([N, Hkv, Lp + Lc, D] per layer, the prompt rows' cache copied in once), and each
  step writes its token's K/V in place at a position held in a device tensor.
- The attention mask is a boolean [N, 1, 1, Lp + Lc]: each row's real prompt tokens, then
  the completion positions written so far; the new token's column is switched on before
  its step. Keys not yet written are masked, and zero, so they add exactly nothing.
- The token ids and text positions are copied into fixed tensors.
The text model's forward and the LM head then run the same kernels on the same addresses at
every step: captured once, after one eager step that warms the libraries up, and replayed
(one launch) for every later step. Sampling stays outside the graph (`TokenSampler`).

Precision: every step runs under the autocast the prefill ran under (`AutocastState`). With
float32 weights and accelerate's `mixed_precision: bf16`, the prefill goes through the
prepared model's forward, which accelerate wraps in `torch.autocast`; the steps here call the
text model and head directly, outside that wrapper, and would compute float32 K/V for a cache
of bf16 ones.

Where: on CUDA, not under ZeRO-3 (each forward gathers the parameters in hooks), and not for
text models with sliding-window layers (one full-attention mask serves every layer here).
On CPU the same fixed-shape step runs eagerly when asked for (the tests compare it with
the other paths: the same tokens and log-probs on every architecture).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers.cache_utils import Cache, CacheLayerMixin

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AutocastState:
    """Whether autocast was on for `device_type`, and at which dtype."""

    device_type: str
    enabled: bool
    dtype: torch.dtype

    @classmethod
    def current(cls, device_type: str) -> AutocastState:
        return cls(
            device_type, torch.is_autocast_enabled(device_type),
            torch.get_autocast_dtype(device_type),
        )  # fmt: skip

    def context(self) -> torch.autocast:
        """This state as a context. Without autocast's cache of cast weights: a CUDA graph
        must not replay casts cached (and freed) outside its capture (torch.cuda.graphs)."""
        return torch.autocast(
            self.device_type, dtype=self.dtype, enabled=self.enabled, cache_enabled=False
        )


class AutocastProbe:
    """The autocast state a module's forward last ran under (`seen`, None before any call)."""

    def __init__(self, device_type: str):
        self.device_type = device_type
        self.seen: AutocastState | None = None

    @contextmanager
    def watching(self, module: torch.nn.Module) -> Iterator[AutocastProbe]:
        """Record the state at each call of `module` inside this context: a wrapper around
        an outer forward (accelerate's autocast) sets it out of the caller's sight."""

        def record(*_) -> None:
            self.seen = AutocastState.current(self.device_type)

        handle = module.register_forward_pre_hook(record)
        try:
            yield self
        finally:
            handle.remove()


class StaticRolloutLayer(CacheLayerMixin):
    """One decoder layer's K/V of every rollout, [N, Hkv, Lp + Lc, D], written in place at
    `position` ([1] long, shared by all layers of the cache)."""

    is_sliding = False
    is_compileable = True

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, position: torch.Tensor):
        super().__init__()
        self.keys, self.values, self.position = keys, values, position
        self.is_initialized = True

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        pass

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        """Write one token's K/V [N, Hkv, 1, D] at `position`; returns the whole buffers."""
        if key_states.shape[-2] != 1:
            raise ValueError("a static rollout cache takes one token per step")
        # to the buffer's dtype: transformers < 5.20 keeps the prefill's rotated keys in
        # float32 under bf16 autocast while a step's keys come out in bf16; the eager cache's
        # torch.cat promotes the same way (a no-op where both already agree)
        self.keys.index_copy_(2, self.position, key_states.to(self.keys.dtype))
        self.values.index_copy_(2, self.position, value_states.to(self.values.dtype))
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.keys.shape[-2]

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.keys.shape[-2], 0

    def get_max_length(self) -> int:
        return self.keys.shape[-2]


class StaticRolloutCache(Cache):
    """Every rollout's cache at its final length, the prompt part copied from the prompt rows.

    prompt_cache: the prompt rows' cache ([U, Hkv, Lp, D] per layer); select: [N] prompt
    row of each rollout; capacity: completion tokens to make room for; autocast: the state
    the prompt was computed under, which every decode step reuses (None: the caller's state
    now).
    """

    def __init__(self, prompt_cache: Cache, select: torch.Tensor, capacity: int,
                 autocast: AutocastState | None = None):  # fmt: skip
        first = prompt_cache.layers[0].keys
        self.autocast = autocast or AutocastState.current(first.device.type)
        self.prompt_len = first.shape[-2]
        self.position = torch.zeros(1, dtype=torch.long, device=first.device)
        layers = []
        for layer in prompt_cache.layers:
            buffers = []
            for part in (layer.keys, layer.values):
                n_heads, dim = part.shape[1], part.shape[3]
                # zeros, not empty: a masked key's score is dropped, but 0 x NaN in the
                # value product would not be
                buffer = part.new_zeros(len(select), n_heads, self.prompt_len + capacity, dim)
                buffer[:, :, : self.prompt_len] = part.index_select(0, select)
                buffers.append(buffer)
            layers.append(StaticRolloutLayer(*buffers, self.position))
        super().__init__(layers=layers)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        raise NotImplementedError("a static rollout cache cannot be re-indexed (beam search)")

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        raise NotImplementedError("a static rollout cache cannot be re-indexed (beam search)")


def supports_static_decode(text_config) -> bool:
    """Whether one full-attention mask serves every layer (no sliding-window layers)."""
    return all(kind == "full_attention" for kind in getattr(text_config, "layer_types", None)
               or ["full_attention"])  # fmt: skip


class StaticDecoder:
    """`decoder(token [N], step) -> logits [N, V]` for rollouts on a `StaticRolloutCache`.

    language_model: the text model (its forward takes ids, a 4D mask, positions and the
    cache); head: the LM head; prompt_mask: [N, Lp] (left-padded); first_position: [N, 1]
    text position of each rollout's first completion token; graphs: capture the step as a
    CUDA graph after the first (eager) one. The logits returned are overwritten by the next
    call: use them before calling again.
    """

    def __init__(self, language_model: torch.nn.Module, head: torch.nn.Module,
                 cache: StaticRolloutCache, prompt_mask: torch.Tensor,
                 first_position: torch.Tensor, cache_keyword: str, graphs: bool):  # fmt: skip
        n, prompt_len = prompt_mask.shape
        if prompt_len != cache.prompt_len:
            raise ValueError(
                f"prompt mask of {prompt_len} tokens for a cache of {cache.prompt_len}"
            )
        capacity = cache.layers[0].keys.shape[-2]
        self.language_model, self.head, self.cache = language_model, head, cache
        self.cache_kwargs = {cache_keyword: cache}
        self.prompt_len = prompt_len
        self.first_position = first_position
        device = prompt_mask.device
        self.input_ids = torch.zeros(n, 1, dtype=torch.long, device=device)
        self.positions = first_position.clone()
        self.mask = torch.zeros(n, 1, 1, capacity, dtype=torch.bool, device=device)
        self.mask[:, 0, 0, :prompt_len] = prompt_mask.bool()
        self.graphs = graphs
        self.graph: torch.cuda.CUDAGraph | None = None
        self.logits: torch.Tensor | None = None

    def _forward(self) -> torch.Tensor:
        # the prefill's precision: its K/V and each step's share the cache's buffers
        with self.cache.autocast.context():
            return self._forward_at_precision()

    def _forward_at_precision(self) -> torch.Tensor:
        hidden = self.language_model(
            input_ids=self.input_ids, attention_mask=self.mask, position_ids=self.positions,
            use_cache=True, **self.cache_kwargs,
        ).last_hidden_state  # fmt: skip
        return self.head(hidden[:, -1])

    def __call__(self, token: torch.Tensor, step: int) -> torch.Tensor:
        """Logits of the next token after `token`, the completion's token number `step`."""
        position = self.prompt_len + step
        if position >= self.mask.shape[-1]:
            raise ValueError(f"decode step {step} is past the cache's {self.mask.shape[-1]} tokens")
        self.input_ids.copy_(token[:, None])
        torch.add(self.first_position, step, out=self.positions)
        self.mask[:, :, :, position] = True
        self.cache.position.fill_(position)
        if not self.graphs:
            return self._forward()
        if self.graph is None and self.logits is None:  # the first step: eager, a warm-up
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                self.logits = self._forward()
            torch.cuda.current_stream().wait_stream(stream)
            return self.logits
        if self.graph is None:
            self.graph = self._capture()
            if self.graph is None:
                return self._forward()
        self.graph.replay()
        return self.logits

    def _capture(self) -> torch.cuda.CUDAGraph | None:
        """The step as a CUDA graph (recorded, not run), or None with a warning if this
        model's forward cannot be captured (the remaining steps then run eagerly)."""
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.logits = self._forward()
        except Exception as e:  # noqa: BLE001 - any failure to record leaves eager decoding
            self.graphs = False
            logger.warning("decoding without CUDA graphs: capturing the step failed (%s)", e)
            return None
        return graph
