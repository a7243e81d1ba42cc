"""The KV cache of a vLLM engine on a CPU when no size is given.

vLLM's CPU backend otherwise takes gpu_memory_utilization of the machine's memory, less what the
process holds (19.5 of 23.5 GiB on a 24 GiB machine at eval's 0.9): the trainer, the data
loader and the rest of the machine then swap or die. video-r1 sizes it from what the run
generates at once instead: `sequences` sequences of max_model_len tokens (eval: --batch-size;
annotate: --batch-size x --samples; GRPO: one generate call's rollouts), at most a quarter of
the memory available at start. When one sequence of max_model_len tokens does not fit in that
quarter the engine is refused with the settings to change (vLLM would refuse later, naming its
own flags). On a GPU vLLM's own rule (the memory share) stays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CPU_KV_SHARE = 0.25  # of the memory available when the engine starts
_BYTES = {"float32": 4, "float": 4, "bfloat16": 2, "float16": 2, "half": 2}
_FLAGS = "eval/annotate: --vllm-kv-cache-gb, --vllm-max-model-len; grpo: rl.vllm_kv_cache_gb, "
_FLAGS += "rl.vllm_max_model_len"


class VLLMMemoryError(ValueError):
    """The KV cache for one sequence of max_model_len tokens does not fit; names the settings."""


def kv_bytes_per_token(config: Any, dtype: str) -> int:
    """Bytes of keys and values one token takes across the language model's layers.

    Example: 2 layers, 2 KV heads of 32 dims, float32 -> 2 * 2 * 2 * 32 * 4 = 1024
    """
    text = getattr(config, "text_config", None) or config
    heads = int(text.num_attention_heads)
    kv_heads = int(getattr(text, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(text, "head_dim", None) or text.hidden_size // heads)
    if dtype == "auto":
        dtype = str(getattr(config, "dtype", None) or "bfloat16").removeprefix("torch.")
    return 2 * int(text.num_hidden_layers) * kv_heads * head_dim * _BYTES.get(dtype, 2)


def cpu_kv_cache_gb(
    per_token: int, max_model_len: int, sequences: int, available_bytes: int
) -> float:
    """GiB for `sequences` sequences of `max_model_len` tokens, at most CPU_KV_SHARE of
    `available_bytes`; VLLMMemoryError when not even one sequence fits there.

    Example: cpu_kv_cache_gb(1024, 4096, 8, 16 * 2**30) -> 0.03125 (32 MiB)
    """
    one = per_token * max_model_len
    cap = CPU_KV_SHARE * available_bytes
    if one > cap:
        raise VLLMMemoryError(
            f"vLLM on CPU: one sequence of max_model_len {max_model_len:,} tokens needs a "
            f"{one / 2**30:.1f} GiB KV cache, more than a quarter of the memory available "
            f"({available_bytes / 2**30:.1f} GiB); set a shorter max_model_len or the KV cache "
            f"size ({_FLAGS})"
        )
    return min(one * max(1, sequences), cap) / 2**30


def kv_cache_size_gb(model_path: str | Path, settings: Any, on_cpu: bool) -> float:
    """The KV cache size of a VLLMSettings: its own; 0 (vLLM's rule) on a GPU; on a CPU
    cpu_kv_cache_gb for the checkpoint at `model_path` on this machine (max_model_len 0: the
    checkpoint's)."""
    if settings.kv_cache_gb or not on_cpu:
        return float(settings.kv_cache_gb)
    import psutil
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(model_path))
    text = getattr(config, "text_config", None) or config
    length = settings.max_model_len or int(text.max_position_embeddings)
    available = int(psutil.virtual_memory().available)
    per_token = kv_bytes_per_token(config, settings.dtype)
    return cpu_kv_cache_gb(per_token, length, settings.kv_cache_sequences, available)
