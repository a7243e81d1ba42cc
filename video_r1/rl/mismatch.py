"""The rollout engine / trainer mismatch: how far the engine's log-probs of the sampled tokens
are from the trainer's, and the truncated importance-sampling weight that corrects for it.

A separate generation engine (vLLM) computes the same policy with other kernels (and maybe
another precision), so the tokens were drawn from a slightly different distribution than the
one the trainer's logits give. Both sides' log-probs here are of the distribution that sampled
(suppressed ids, temperature, top-k, top-p, renormalised; the trainer's from
`rollout.logprobs.sampled_log_softmax`): the gap and the weight hold the engine's drift only,
as the native engine, which samples the trainer's own truncated distribution, has none.
Truncated importance sampling (Yao et al., 2025, "Your efficient RL framework secretly brings
you off-policy RL training"; TRL's `vllm_importance_sampling_cap`, verl's `tis_imp_ratio_cap`)
weighs each token's policy-gradient term by min(pi_trainer / pi_engine, C).
"""

from __future__ import annotations

import torch


def truncated_is_weights(
    trainer_logprobs: torch.Tensor, engine_logprobs: torch.Tensor, cap: float
) -> torch.Tensor:
    """Per-token weights min(exp(trainer - engine), cap), detached ([N, L] like the inputs).

    Example:
        >>> truncated_is_weights(torch.tensor([[-1.0, -1.0]]), torch.tensor([[-1.0, -2.0]]), 2.0)
        tensor([[1., 2.]])
    """
    ratio = torch.exp(trainer_logprobs.detach().float() - engine_logprobs.float())
    return torch.clamp(ratio, max=cap)


def mismatch_sums(
    trainer_logprobs: torch.Tensor,
    engine_logprobs: torch.Tensor,
    mask: torch.Tensor,
    weights: torch.Tensor | None = None,
    cap: float = 0.0,
) -> dict[str, float]:
    """Sums over the completion tokens (mask 1) of |trainer - engine| and of the IS weights,
    the token count, the largest |difference| and how many weights hit the cap.

    Example:
        >>> mismatch_sums(torch.tensor([[-1.0, -1.0, 0.0]]), torch.tensor([[-1.5, -0.75, 0.0]]),
        ...               torch.tensor([[1, 1, 0]]))
        {'abs_diff': 0.75, 'abs_diff_max': 0.5, 'tokens': 2.0}
    """
    mask = mask.bool()
    diff = (trainer_logprobs.detach().float() - engine_logprobs.float()).abs()[mask]
    sums = {
        "abs_diff": float(diff.sum()),
        "abs_diff_max": float(diff.max()) if diff.numel() else 0.0,
        "tokens": float(mask.sum()),
    }
    if weights is not None:
        sums["is_weight"] = float(weights[mask].sum())
        sums["is_capped"] = float((weights[mask] >= cap).sum())
    return sums
