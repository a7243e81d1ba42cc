"""The update's figures of benchmarks/grpo_step.py: its peak memory, its FLOPs (grouped-query
attention included), and the lines that report the speed-up of the grouped update and MFU."""

from __future__ import annotations

import resource
from pathlib import Path


class UpdatePeak:
    """Entered around each step's update: the highest memory any update reached (GiB), on
    CUDA allocated by torch, on CPU the process's resident set (its high-water mark reset
    before the update through /proc/self/clear_refs, so generation's peak does not count;
    where that fails, the process's peak so far)."""

    def __init__(self, device: str):
        self.cuda, self.gib = device.startswith("cuda"), 0.0

    def __enter__(self) -> UpdatePeak:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            except OSError:
                pass
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() / 2**30
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
            status = Path("/proc/self/status")
            for line in status.read_text().splitlines() if status.exists() else []:
                if line.startswith("VmHWM:"):  # kB
                    peak = int(line.split()[1]) / 2**20
        self.gib = max(self.gib, peak)


def update_lines(medians: dict, update_peaks: dict) -> list[str]:
    """With the optimised and per-rollout modes: the update's speed-up (policy + backward +
    optimizer medians) and each mode's peak memory during the update."""
    if not {"optimised", "per-rollout"} <= medians.keys():
        return []
    update = {m: sum(medians[m][k] for k in ("policy", "backward", "optimizer"))
              for m in ("per-rollout", "optimised")}  # fmt: skip
    ratio = update["per-rollout"] / update["optimised"] if update["optimised"] else float("nan")
    return [
        f"update speed-up (per-rollout / optimised): {ratio:.2f}x",
        f"update (policy + backward + optimizer) per-rollout {update['per-rollout']:.3f} s, "
        f"optimised {update['optimised']:.3f} s",
        f"update peak memory: per-rollout {update_peaks['per-rollout']:.2f}G, "
        f"optimised {update_peaks['optimised']:.2f}G",
    ]


def flop_counter():
    """torch's FlopCounterMode, its attention formulas extended to grouped-query attention
    (key/value with fewer heads than the query: torch before 2.13 rejects those shapes)."""
    import torch
    from torch.utils import flop_counter as fc

    def heads(query, key, value):
        n = query[1]  # [batch, heads, length, dim]: each key/value head serves n // heads
        return query, (*key[:1], n, *key[2:]), (*value[:1], n, *value[2:])

    def forward(query, key, value, *args, out_shape=None, **kwargs):
        return fc.sdpa_flop_count(*heads(query, key, value))

    def backward(grad_out, query, key, value, *args, out_shape=None, **kwargs):
        return fc.sdpa_backward_flop_count(grad_out, *heads(query, key, value))

    aten = torch.ops.aten
    kinds = ("efficient", "flash", "cudnn")
    mapping = {getattr(aten, f"_scaled_dot_product_{k}_attention"): forward for k in kinds}
    mapping |= {
        getattr(aten, f"_scaled_dot_product_{k}_attention_backward"): backward for k in kinds
    }
    return fc.FlopCounterMode(display=False, custom_mapping=mapping)


def mfu_lines(medians: dict, flops: dict, errors: dict, peak: float | None) -> list[str]:
    """One line per mode with counted FLOPs: the update's rate and MFU over the median policy +
    backward + optimizer time; one per mode whose count failed, with the child's reason (the
    child's stderr is not shown, so without this line the MFU would just be missing)."""
    lines = []
    for mode, error in errors.items():
        lines.append(f"update ({mode}): FLOPs not counted, no MFU: {error}")
    for mode in (m for m in flops if flops[m] and peak):
        update_s = sum(medians[mode][k] for k in ("policy", "backward", "optimizer"))
        rate = flops[mode] / update_s / 1e12
        lines.append(f"update ({mode}): {flops[mode] / 1e12:.1f} TFLOP counted in {update_s:.3f} s "
                     f"(policy + backward + optimizer medians): {rate:.0f} TFLOP/s, "
                     f"MFU {rate / peak:.1%} of {peak:g} TFLOP/s")  # fmt: skip
    return lines
