"""The KV cache a vLLM engine gets on a CPU when none is asked for (rollout/vllm_memory.py):
room for one generate call's sequences, at most a quarter of the free memory, and a refusal
naming the settings when not even one sequence fits."""

from __future__ import annotations

import pytest

from video_r1.rollout.vllm_engine import VLLMSettings
from video_r1.rollout.vllm_memory import cpu_kv_cache_gb, kv_bytes_per_token, kv_cache_size_gb

GIB = 2**30


def test_bytes_per_token_of_the_tiny_model(tiny_qwen25):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_qwen25)  # 2 layers, 2 KV heads of 32 dims
    assert kv_bytes_per_token(config, "float32") == 2 * 2 * 2 * 32 * 4
    assert kv_bytes_per_token(config, "bfloat16") == 2 * 2 * 2 * 32 * 2
    assert kv_bytes_per_token(config, "auto") == 2 * 2 * 2 * 32 * 4  # the checkpoint's float32


def test_room_for_the_sequences_of_one_call_within_a_quarter_of_the_memory():
    qwen7b = 2 * 28 * 4 * 128 * 2  # bf16 Qwen2.5-VL-7B: 56 KiB per token
    free = int(23.5 * GIB)  # the 24 GiB machine where vLLM took 19.5 GiB
    assert cpu_kv_cache_gb(qwen7b, 8192, 4, free) == pytest.approx(8192 * 4 * qwen7b / GIB)
    assert cpu_kv_cache_gb(qwen7b, 8192, 64, free) == pytest.approx(23.5 / 4)  # capped
    assert cpu_kv_cache_gb(1024, 4096, 0, free) == pytest.approx(4096 * 1024 / GIB)  # >= 1
    with pytest.raises(ValueError, match=r"max_model_len 128,000 tokens needs a 6\.8 GiB") as err:
        cpu_kv_cache_gb(qwen7b, 128_000, 4, free)  # the checkpoint's length: not even one
    assert "--vllm-max-model-len" in str(err.value) and "rl.vllm_kv_cache_gb" in str(err.value)


def test_the_size_a_setting_gets(tiny_qwen25):
    eval_batch = VLLMSettings(max_model_len=4096, kv_cache_sequences=2)
    assert kv_cache_size_gb(tiny_qwen25, eval_batch, on_cpu=True) == 2 * 4096 * 1024 / GIB
    assert kv_cache_size_gb(tiny_qwen25, eval_batch, on_cpu=False) == 0.0  # vLLM's GPU rule
    given = VLLMSettings(kv_cache_gb=0.05)
    assert kv_cache_size_gb(tiny_qwen25, given, on_cpu=True) == 0.05
