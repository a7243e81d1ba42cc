"""The CPU engine's precision: bf16 where vLLM's CPU build has bf16 kernels, float32 (said in
one line) where it has none, decided from the CPU's flags (no engine started here; the
engine itself is in tests/test_rollout_vllm.py)."""

from __future__ import annotations

import pytest

from video_r1.rollout.vllm_dtype import cpu_dtype, cpu_flags, cpu_has_bf16_kernels

AVX2 = {"fpu", "sse4_2", "avx", "avx2", "fma"}  # a desktop / cloud x86 without AVX-512
SAPPHIRE_RAPIDS = AVX2 | {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}


@pytest.mark.parametrize(
    "flags, machine, native",
    [
        (AVX2, "x86_64", False),
        (AVX2 | {"avx512f", "avx512bw"}, "x86_64", False),  # AVX-512 without its bf16 part
        (AVX2 | {"avx512f", "avx512_bf16"}, "x86_64", True),
        (SAPPHIRE_RAPIDS, "x86_64", True),
        ({"fp", "asimd", "bf16"}, "aarch64", True),
        ({"fp", "asimd"}, "aarch64", False),
    ],
)
def test_bf16_kernels_follow_the_cpu_flags(flags, machine, native):
    assert cpu_has_bf16_kernels(flags, machine) is native


def test_bf16_on_a_cpu_with_bf16_kernels_stays_bf16(capsys):
    assert cpu_dtype("bfloat16", SAPPHIRE_RAPIDS, "x86_64") == "bfloat16"
    assert capsys.readouterr().out == ""


def test_bf16_on_a_cpu_without_falls_back_to_float32_in_one_line(capsys):
    assert cpu_dtype("bfloat16", AVX2, "x86_64") == "float32"
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "float32" in lines[0] and "bf16" in lines[0]


@pytest.mark.parametrize("dtype", ["float32", "float16", "auto"])
def test_other_dtypes_pass_through(dtype, capsys):
    assert cpu_dtype(dtype, AVX2, "x86_64") == dtype
    assert capsys.readouterr().out == ""


def test_this_machines_flags_are_read():
    from pathlib import Path

    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo here")
    flags = cpu_flags()
    if any(line.split(":")[0].strip() in ("flags", "Features")
           for line in cpuinfo.read_text().splitlines()):  # fmt: skip
        assert flags and all(" " not in flag for flag in flags)
