"""The generation engine: one interface behind the rollout stage, for RL, eval and annotate.

An engine turns a call's prompt rows into `Rollouts`: `rollouts_per_row[r]` completions of
row r, in row order (the order `generate_rollouts` returns). Two engines:

- `NativeEngine`: video-r1's own decoder (`generate_rollouts`, via `sample_rollouts` for
  rl.paired_sampling's two seeded calls), on the model being trained or evaluated.
- `VLLMEngine` (`vllm_engine.py`): vLLM in this process, fed the same prompt text and the same
  frames and pixels (video-r1's media stage), its weights pushed from the policy when they
  changed. It also returns the sampled tokens' log-probs (`Rollouts.logprobs`).

The request carries both forms of the prompts: the encoded batch (model inputs and vision
features, which the trainer needs anyway) and each row's text and media (what vLLM takes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from video_r1.rollout.generate import Rollouts
from video_r1.rollout.paired import sample_rollouts
from video_r1.rollout.vision import EncodedPrompts

ENGINES = ("native", "vllm")


@dataclass(frozen=True)
class RolloutRequest:
    """One generate call.

    encoded: the P prompt rows, encoded (native engine; the trainer's log-prob passes).
    texts / media: each row's prompt text (chat template applied) and its media (a `Clip`, a
        uint8 [3, H, W] image, or None), the same the encoding was made from (vLLM engine).
    rollouts_per_row: [P] completions to sample from each row.
    generation_config: the decoding settings (`TokenSampler.from_config` reads them).
    eos_ids: the stop tokens (checked against the config's).
    num_ordered_rows / key: rows 0..num_ordered_rows-1 are ordered frames, the rest shuffled;
        a `SamplingKey` seeds each group's sampling (rl.paired_sampling), None draws from the
        process's global random stream.
    synced_gpus: keep every process decoding until all are done (ZeRO-3 without gathering).
    """

    encoded: EncodedPrompts
    texts: Sequence[str]
    media: Sequence[Any]
    rollouts_per_row: Sequence[int]
    generation_config: Any
    eos_ids: Sequence[int]
    num_ordered_rows: int = 0
    key: Any = None  # paired.SamplingKey
    synced_gpus: bool = False


class GenerationEngine(Protocol):
    """What the rollout stage asks of an engine."""

    name: str

    def sync_weights(self, model: torch.nn.Module, version: int) -> bool:
        """Make the engine generate with `model`'s current weights (`version` counts updates:
        an unchanged version costs nothing). True if weights were pushed."""
        ...

    def generate(self, request: RolloutRequest) -> Rollouts:
        """Every rollout of the request in one call."""
        ...


class NativeEngine:
    """video-r1's decoder on `model` itself: nothing to push, shares the trained weights."""

    name = "native"

    def __init__(
        self, model: torch.nn.Module, cascade: bool = True, static_cache: bool | None = None
    ) -> None:
        self.model, self.cascade, self.static_cache = model, cascade, static_cache

    def sync_weights(self, model: torch.nn.Module, version: int) -> bool:
        return False

    def generate(self, request: RolloutRequest) -> Rollouts:
        return sample_rollouts(
            self.model, request.encoded, request.rollouts_per_row, request.num_ordered_rows,
            request.generation_config, request.eos_ids, request.key,
            synced_gpus=request.synced_gpus, cascade=self.cascade,
            static_cache=self.static_cache,
        )  # fmt: skip


def check_engine(name: str) -> str:
    """The engine name, or ValueError naming the choices.

    Example:
        >>> check_engine("vllm")
        'vllm'
    """
    if name not in ENGINES:
        raise ValueError(f"unknown generation engine {name!r}; use one of {ENGINES}")
    return name
