"""benchmarks/grpo_step.py's helpers. The FLOP counter: attention with fewer key/value heads
than query heads (Qwen2.5-VL's grouped-query attention) counts as the query heads' work; torch
before 2.13 rejected those shapes, so the GPU run's MFU step failed. The model it times:
`--gradient-checkpointing` trains with activation checkpointing, as the recipe's default does."""

import importlib.util
from pathlib import Path

import pytest
import torch
from torch.utils import flop_counter as fc

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "grpo_step.py"


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location("grpo_step_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def counter(benchmark):
    return benchmark.flop_counter()


@pytest.mark.parametrize("kind", ["efficient", "flash", "cudnn"])
def test_grouped_query_attention_counts_as_every_query_head(counter, kind) -> None:
    b, hq, hkv, sq, sk, d = 2, 16, 2, 50, 70, 64
    q, k, v = torch.randn(b, hq, sq, d), torch.randn(b, hkv, sk, d), torch.randn(b, hkv, sk, d)
    aten = torch.ops.aten
    forward = counter.flop_registry[getattr(aten, f"_scaled_dot_product_{kind}_attention")]
    # scores q @ k^T and out scores @ v: two products of 2 * b * hq * sq * sk * d
    assert forward(q, k, v, out_val=None) == 4 * b * hq * sq * sk * d

    backward = counter.flop_registry[
        getattr(aten, f"_scaled_dot_product_{kind}_attention_backward")
    ]
    grad_out = torch.randn(b, hq, sq, d)
    expanded = (b, hq, sk, d)  # each key/value head repeated for its query heads
    expected = fc.sdpa_backward_flop_count((b, hq, sq, d), (b, hq, sq, d), expanded, expanded)
    assert backward(grad_out, q, k, v, out_val=None) == expected > 0


def test_the_counter_counts_a_backward_pass(counter) -> None:
    """The counter still counts what torch counts: a linear layer's forward and backward."""
    layer = torch.nn.Linear(32, 16)
    x = torch.randn(8, 32)
    with counter:
        layer(x).sum().backward()
    # forward x @ W^T, backward grad @ W (input grad skipped: x needs none) and grad^T @ x
    assert counter.get_total_flops() == 2 * (2 * 8 * 32 * 16)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_gradient_checkpointing_reaches_the_timed_policy(benchmark, tiny_qwen25, checkpointing):
    """With the flag the policy trains as `prepare_model` leaves it (checkpointed, in training
    mode, so the recipe's log-prob passes skip prefix sharing); without it, as before."""
    ctx = benchmark.recipe_context(str(tiny_qwen25), "tiny", "float32", "cpu", prompts=1,
                                   new_tokens=2, checkpointing=checkpointing)  # fmt: skip
    assert ctx.policy.is_gradient_checkpointing is checkpointing
    assert ctx.policy.training is checkpointing  # from_pretrained leaves eval mode otherwise
    assert not ctx.reference.training
    # and the recipe's config says so (the benchmark's first run of the split attention timed
    # the per-rollout path twice because it did not, when the layout was decided from it)
    assert ctx.cfg.model.gradient_checkpointing is checkpointing


def test_the_eager_decode_mode_turns_the_cuda_graphs_off(benchmark, tiny_qwen25):
    """`--modes eager-decode` times the recipe with rl.cuda_graph_decode=false (the share of
    generation the CUDA graphs take away, on a GPU); the optimised mode keeps the default."""
    for graphs in (True, False):
        ctx = benchmark.recipe_context(str(tiny_qwen25), "tiny", "float32", "cpu", prompts=1,
                                       new_tokens=2, graphs=graphs)  # fmt: skip
        assert ctx.cfg.rl.cuda_graph_decode is graphs


def test_the_mfu_lines_say_why_a_count_failed(benchmark):
    """A child whose FLOP count raised reports why (its stderr is not shown): the 3B run with 4
    prompts on an H100 printed timings and no MFU line, and nothing said why."""
    medians = {"optimised": {"policy": 1.0, "backward": 2.0, "optimizer": 1.0}}
    lines = benchmark.mfu_lines(medians, {"optimised": 0.0}, {"optimised": "OutOfMemoryError()"},
                                989.4)  # fmt: skip
    assert lines == ["update (optimised): FLOPs not counted, no MFU: OutOfMemoryError()"]
    (line,) = benchmark.mfu_lines(medians, {"optimised": 2e15}, {}, 1000.0)
    # 2,000 TFLOP over 4 s: 500 TFLOP/s, half the peak
    assert line.startswith("update (optimised): 2000.0 TFLOP counted in 4.000 s")
    assert line.endswith("500 TFLOP/s, MFU 50.0% of 1000 TFLOP/s")
    assert benchmark.mfu_lines(medians, {"optimised": 2e15}, {}, None) == []  # no peak, no MFU


def test_the_per_rollout_mode_turns_the_grouped_update_off(benchmark, tiny_qwen25):
    """`--modes per-rollout` times the recipe with rl.grouped_update=false (under
    --gradient-checkpointing one full sequence per rollout); the optimised mode keeps the
    grouped default."""
    for grouped in (True, False):
        ctx = benchmark.recipe_context(str(tiny_qwen25), "tiny", "float32", "cpu", prompts=1,
                                       new_tokens=2, grouped=grouped)  # fmt: skip
        assert ctx.cfg.rl.grouped_update is grouped


def test_the_update_lines_compare_policy_backward_and_optimizer(benchmark):
    medians = {
        "optimised": {"policy": 0.1, "backward": 0.2, "optimizer": 0.1, "generate": 9.0},
        "per-rollout": {"policy": 0.4, "backward": 0.8, "optimizer": 0.1, "generate": 1.0},
    }
    lines = benchmark.update_lines(medians, {"optimised": 1.5, "per-rollout": 2.25})
    assert lines[0] == "update speed-up (per-rollout / optimised): 3.25x"  # 1.3 s / 0.4 s
    assert lines[2] == "update peak memory: per-rollout 2.25G, optimised 1.50G"
    assert benchmark.update_lines({"optimised": medians["optimised"]}, {}) == []


@pytest.mark.slow
def test_a_smoke_run_prints_the_update_speed_up(video1):
    """One step of each mode, 2 new tokens, with activation checkpointing: the table, then the
    update's speed-up and both modes' peak memory during the update."""
    import re
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, str(BENCHMARK), "--modes", "optimised,per-rollout", "--steps", "1",
         "--rounds", "1", "--new-tokens", "2", "--gradient-checkpointing", "--video", str(video1)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    speed_up = [i for i, line in enumerate(lines) if line.startswith("update speed-up")]
    assert len(speed_up) == 1, proc.stdout
    assert re.fullmatch(
        r"update speed-up \(per-rollout / optimised\): \d+\.\d\dx", lines[speed_up[0]]
    )
    assert any(line.startswith("total") for line in lines[: speed_up[0]])  # after the table
    peak = re.search(r"update peak memory: per-rollout (\d+\.\d\d)G, optimised (\d+\.\d\d)G",
                     proc.stdout)  # fmt: skip
    assert peak and float(peak[1]) > 0 and float(peak[2]) > 0
