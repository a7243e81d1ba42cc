"""Frame orders for T-GRPO: a fresh time shuffle of a clip's frames, never a no-op."""

from __future__ import annotations

import torch


def time_shuffle(num_frames: int, generator: torch.Generator, temporal_patch: int = 2) -> list[int]:
    """A random permutation of frame indices that changes the order of temporal patches.

    Qwen-VL pairs consecutive frames into temporal patches of `temporal_patch`; a permutation
    that keeps every pair in place (possibly swapped inside the pair) is nearly the identity for
    the model, so one is redrawn. With fewer than 2 temporal patches no such shuffle exists and
    any non-identity permutation (or the identity for 1 frame) is returned.

    Example:
        >>> order = time_shuffle(16, torch.Generator().manual_seed(0))
        >>> sorted(order) == list(range(16)) and order != list(range(16))
        True
    """
    if num_frames < 1:
        raise ValueError(f"cannot shuffle {num_frames} frames")
    if num_frames == 1:
        return [0]
    patches = num_frames // temporal_patch
    while True:
        order = torch.randperm(num_frames, generator=generator).tolist()
        if patches < 2:
            if order != list(range(num_frames)):
                return order
            continue
        same_patches = all(
            sorted(order[k * temporal_patch : (k + 1) * temporal_patch])
            == list(range(k * temporal_patch, (k + 1) * temporal_patch))
            for k in range(patches)
        )
        if not same_patches:
            return order
