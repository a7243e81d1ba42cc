"""DAPO's overlong handling as pure functions: the soft length penalty and the truncation mask.

DAPO (arXiv 2503.14476, "Overlong Reward Shaping"): a completion longer than
L_max - L_cache tokens loses reward linearly, down to -1 at L_max, the generation limit;
verl multiplies it by a penalty factor. Masking truncated completions out of the loss is
DAPO's "overlong filtering", TRL's `mask_truncated_completions`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def overlong_penalty(
    lengths: Sequence[int], max_length: int, buffer_tokens: int, factor: float
) -> list[float]:
    """The soft overlong penalty of each completion (0 or negative), to add to its reward.

    lengths: completion tokens, the first EOS included (a truncated rollout has max_length).
    0 when length <= max_length - buffer_tokens; then linearly down to -factor at max_length:
    factor x ((max_length - buffer_tokens) - length) / buffer_tokens; -factor beyond.
    buffer_tokens 0 or factor 0: no penalty.

    Example (max 768, buffer 128: the window is 641..768 tokens):
        >>> overlong_penalty([640, 641, 704, 768], 768, 128, factor=1.0)  # 0, -1/128, -64/128, -1
        [0.0, -0.0078125, -0.5, -1.0]
    """
    if buffer_tokens <= 0 or factor == 0.0:
        return [0.0] * len(lengths)
    start = max_length - buffer_tokens  # the last length without penalty
    out = []
    for n in lengths:
        over = min(max(n - start, 0), buffer_tokens)  # tokens into the window, capped at its end
        out.append(-factor * over / buffer_tokens if over else 0.0)  # no -0.0
    return out


def mask_truncated(mask: torch.Tensor, truncated: torch.Tensor) -> torch.Tensor:
    """The completion mask with truncated rollouts' rows zeroed: they add nothing to the loss
    (their reward still counted in their group's advantages, as in TRL).

    mask: [n, Lc]; truncated: [n] bool. Returns [n, Lc] of mask's dtype.

    Example:
        >>> mask_truncated(torch.ones(2, 3), torch.tensor([False, True]))
        tensor([[1., 1., 1.],
                [0., 0., 0.]])
    """
    keep = (~truncated.bool()).to(mask.dtype).to(mask.device)  # [n]
    return mask * keep.unsqueeze(1)
