"""The precision a vLLM engine runs at on a CPU: bf16 only where vLLM's CPU build has bf16
kernels, else float32, said in one line (`VLLMEngine` applies `cpu_dtype`; docs/design.md,
"vLLM engine").
"""

from __future__ import annotations

import platform
from collections.abc import Collection


def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags (/proc/cpuinfo's `flags`, or `Features` on Arm; empty where
    there is no such file)."""
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_has_bf16_kernels(flags: Collection[str], machine: str) -> bool:
    """Whether vLLM's CPU build computes bf16 natively here. On x86 it loads its bf16 kernels
    (`vllm._C`) only where torch sees AVX512-BF16 (AMX CPUs have it too); its AVX2 and AVX512
    builds have no native bf16 (a tiny model did run in bf16 on an AVX2 CPU, through
    conversions). Elsewhere vLLM lists bf16 as native (Arm with the bf16 feature; POWER,
    RISC-V).

    Example:
        >>> cpu_has_bf16_kernels({"avx2", "avx512f", "avx512_bf16"}, "x86_64")
        True
        >>> cpu_has_bf16_kernels({"avx2"}, "x86_64")
        False
    """
    if machine.lower() in ("x86_64", "amd64", "i386", "i686"):
        return "avx512_bf16" in flags or "amx_bf16" in flags
    if machine.lower() in ("aarch64", "arm64"):
        return "bf16" in flags
    return True


def cpu_dtype(dtype: str, flags: Collection[str] | None = None, machine: str | None = None) -> str:
    """The dtype a CPU engine runs at: `dtype`, but float32 for bfloat16 where vLLM has no bf16
    kernels (`cpu_has_bf16_kernels` of this CPU, or of `flags` / `machine`), said in one line.

    Example:
        >>> cpu_dtype("bfloat16", {"avx2"}, "x86_64")
        # vLLM: this CPU has no bf16 kernels (AVX512-BF16): the engine runs in float32
        'float32'
    """
    if dtype not in ("bfloat16", "bf16"):
        return dtype
    flags = cpu_flags() if flags is None else flags
    if cpu_has_bf16_kernels(flags, platform.machine() if machine is None else machine):
        return dtype
    print("# vLLM: this CPU has no bf16 kernels (AVX512-BF16): the engine runs in float32",
          flush=True)  # fmt: skip
    return "float32"
