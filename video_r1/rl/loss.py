"""The GRPO policy loss with a k3 KL penalty, optional PPO-style clipping, three normalisations
(each over the whole step under gradient accumulation and DDP: `micro_batch_normaliser`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

LossType = Literal["sequence", "token", "dr_grpo"]
LOSS_TYPES: tuple[str, ...] = ("sequence", "token", "dr_grpo")
ImportanceLevel = Literal["token", "sequence", "sequence_token"]
IMPORTANCE_LEVELS: tuple[str, ...] = ("token", "sequence", "sequence_token")


@dataclass(frozen=True)
class LossStats:
    """Detached scalars for logging."""

    policy_loss: float  # the loss without the KL term
    kl: float  # mean per-token KL to the reference policy (0 when beta = 0)
    clip_fraction: float  # fraction of completion tokens whose ratio was clipped
    ratio_mean: float  # mean importance ratio over completion tokens (1.0 on-policy)


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy || reference), as published.

    x = clamp(ref - logp, -10, 10); kl = exp(x) - x - 1 (>= 0, 0 where they agree).

    Example:
        >>> kl_penalty(torch.tensor([-1.0]), torch.tensor([-2.0]))  # x = -1: e^-1 + 1 - 1
        tensor([0.3679])
    """
    x = torch.clamp(ref_logprobs - logprobs, -10.0, 10.0)
    return torch.exp(x) - x - 1.0


def importance_log_ratio(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    mask: torch.Tensor,
    level: ImportanceLevel = "token",
) -> torch.Tensor:
    """Log importance ratio of the policy against the one that sampled, per token or per
    sequence (GSPO, arXiv 2507.18071; TRL's `importance_sampling_level`).

    token: logp - old_logp, [N, L] (GRPO / PPO).
    sequence: the length-normalised sequence log-ratio s_i = mean over completion tokens of
        (logp - old_logp), [N, 1]: one ratio per rollout, clipped as a whole (GSPO).
    sequence_token: s_i's value on every token, with each token's own gradient,
        sg[s_i] + logp - sg[logp], [N, L] (GSPO-token; equals GSPO when the advantage is the
        same on every token of a rollout, as here).

    Example (2 rollouts; the second's tokens moved by +0.2 and -0.1 against 0):
        >>> lp = torch.tensor([[0.0, 0.0], [0.2, -0.1]]); old = torch.zeros(2, 2)
        >>> importance_log_ratio(lp, old, torch.ones(2, 2), "sequence")  # (0.2 - 0.1) / 2
        tensor([[0.0000],
                [0.0500]])
    """
    log_ratio = logprobs - old_logprobs  # [N, L]
    if level == "token":
        return log_ratio
    mask = mask.to(logprobs.dtype)
    sequence = (log_ratio * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp(min=1.0)
    if level == "sequence":
        return sequence  # [N, 1]
    if level == "sequence_token":
        return sequence.detach() + logprobs - logprobs.detach()  # [N, L]
    raise ValueError(f"importance_sampling_level must be one of {IMPORTANCE_LEVELS}, got {level!r}")


def loss_denominator(
    loss_type: LossType, tokens: float, rollouts: float, max_length: int | None = None
) -> float:
    """What one batch of `rollouts` rollouts with `tokens` completion tokens divides its
    summed loss by (`_summed`): its tokens (token), its rollouts (sequence: the sum of
    per-rollout token means), or rollouts x max_length (dr_grpo). 1 when there is nothing.

    Example:
        >>> [loss_denominator(t, 30.0, 4.0, 16) for t in ("token", "sequence", "dr_grpo")]
        [30.0, 4.0, 64.0]
    """
    if loss_type == "token":  # DAPO: every token of the step weighs the same
        value = tokens
    elif loss_type == "sequence":  # published GRPO: mean over tokens, then over completions
        value = rollouts
    elif loss_type == "dr_grpo":  # Dr. GRPO: a constant denominator, no length bias
        if max_length is None:
            raise ValueError("loss_type 'dr_grpo' needs max_length (the max completion length)")
        value = rollouts * max_length
    else:
        raise ValueError(f"unknown loss_type {loss_type!r}; use 'sequence', 'token' or 'dr_grpo'")
    return float(value) if value > 0 else 1.0


def _summed(per_token: torch.Tensor, mask: torch.Tensor, loss_type: LossType) -> torch.Tensor:
    """The batch's loss before its denominator: per-rollout token means summed (sequence),
    or every completion token's loss summed (token, dr_grpo)."""
    if loss_type == "sequence":
        return ((per_token * mask).sum(1) / mask.sum(1).clamp(min=1.0)).sum()
    return (per_token * mask).sum()


def _checked_normaliser(
    normaliser: float | None, mask: torch.Tensor, loss_type: LossType, max_length: int | None
) -> float:
    """The given normaliser (> 0, for a known loss type), or the batch's own denominator."""
    if normaliser is None:
        return loss_denominator(loss_type, float(mask.sum()), mask.shape[0], max_length)
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}; use one of {LOSS_TYPES}")
    if normaliser <= 0:
        raise ValueError(f"normaliser must be > 0, got {normaliser}")
    return normaliser


def micro_batch_normaliser(
    loss_type: LossType, tokens: float, rollouts: float, slots: int,
    max_length: int | None = None,
) -> float:  # fmt: skip
    """The denominator of each micro-batch's summed loss under gradient accumulation, so that
    every rollout weighs what it would in one micro-batch holding the whole step.

    tokens / rollouts: the step's completion tokens and trained rollouts, summed over every
    real micro-batch of every process (zero-weight fillers excluded); slots: micro-batches x
    processes. Accumulation divides each micro-batch's loss by grad_accum and DDP averages
    the processes' gradients, so the step's gradient is the mean over the slots, fillers
    included: dividing each micro-batch's sum by the whole step's denominator over `slots`
    makes that mean the whole step's loss, however the rollouts are packed. (Normalising
    each micro-batch on its own weighed the groups of a half-empty one twice.)

    Example (4 slots, 30 tokens in 6 rollouts, max completion length 16):
        >>> [micro_batch_normaliser(t, 30.0, 6.0, 4, 16) for t in ("token", "sequence", "dr_grpo")]
        [7.5, 1.5, 24.0]
    """
    return loss_denominator(loss_type, tokens, rollouts, max_length) / slots


def policy_loss(
    logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    old_logprobs: torch.Tensor | None = None,
    ref_logprobs: torch.Tensor | None = None,
    beta: float = 0.04,
    epsilon: float | None = None,
    epsilon_high: float | None = None,
    loss_type: LossType = "sequence",
    max_length: int | None = None,
    normaliser: float | None = None,
    importance_sampling_level: ImportanceLevel = "token",
    sampling_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, LossStats]:
    """GRPO loss over the completion tokens of N rollouts.

    logprobs: [N, L] policy log-probs of the sampled tokens (with grad).
    advantages: [N] one advantage per rollout.
    mask: [N, L] 1 on completion tokens up to and including the first EOS, else 0.
    old_logprobs: [N, L] log-probs of the policy that sampled (None = on-policy: logprobs.detach(),
        so the ratio is 1 with gradient d logp, exactly the published exp(logp - logp.detach())).
    ref_logprobs: [N, L] reference-policy log-probs; required when beta > 0.
    epsilon / epsilon_high: PPO clip range [1 - epsilon, 1 + epsilon_high] of the ratio
        (None = no clipping, as published; epsilon_high defaults to epsilon).
    Per token: -(min(ratio * A, clip(ratio) * A) - beta * kl), then normalised by `loss_type`.
    normaliser: what the summed loss is divided by. Under gradient accumulation and DDP,
        `micro_batch_normaliser` of the whole step, so that every rollout weighs what it would
        in one micro-batch holding the step (DAPO's token mean over the step, GRPO's mean over
        its completions, Dr. GRPO's constant); None: this batch's own (`loss_denominator`).
    importance_sampling_level: "token" (as published), "sequence" (GSPO: one clipped ratio
        per rollout, its loss spread over the rollout's tokens before `loss_type` normalises,
        as TRL does) or "sequence_token" (`importance_log_ratio`).
    sampling_weights: [N, L] detached per-token weights of the policy-gradient term (not the
        KL term): the truncated importance-sampling correction for rollouts drawn by another
        engine (`video_r1.rl.mismatch.truncated_is_weights`); None: 1.

    Example (on-policy, beta 0: the loss value is -mean(A) and its gradient is -A d logp):
        >>> lp = torch.zeros(2, 3, requires_grad=True)
        >>> loss, _ = policy_loss(lp, torch.tensor([1.0, -1.0]), torch.ones(2, 3), beta=0.0)
        >>> float(loss.detach())
        0.0
    """
    mask = mask.to(logprobs.dtype)
    if old_logprobs is None:
        old_logprobs = logprobs.detach()
    # [N, L], or [N, 1] per sequence (GSPO): it broadcasts over the tokens below
    log_ratio = importance_log_ratio(logprobs, old_logprobs, mask, importance_sampling_level)
    ratio = torch.exp(log_ratio)
    adv = advantages.to(logprobs.dtype).unsqueeze(1)  # [N, 1]
    objective = ratio * adv
    clipped_tokens = torch.zeros_like(mask)
    if epsilon is not None:
        high = epsilon if epsilon_high is None else epsilon_high
        clipped_ratio = torch.clamp(ratio, 1.0 - epsilon, 1.0 + high)
        clipped_objective = clipped_ratio * adv
        clipped_tokens = (clipped_objective < objective).to(mask.dtype)
        objective = torch.minimum(objective, clipped_objective)
    per_token = -objective
    if sampling_weights is not None:  # TRL and verl weigh the policy-gradient term only
        per_token = per_token * sampling_weights.to(per_token.dtype)
    normaliser = _checked_normaliser(normaliser, mask, loss_type, max_length)
    pg_loss = _summed(per_token, mask, loss_type) / normaliser
    kl_mean = torch.zeros((), dtype=logprobs.dtype)
    if beta != 0.0:
        if ref_logprobs is None:
            raise ValueError("beta > 0 needs ref_logprobs")
        kl = kl_penalty(logprobs, ref_logprobs)  # [N, L]
        per_token = per_token + beta * kl
        kl_mean = (kl * mask).sum() / mask.sum().clamp(min=1.0)
    loss = _summed(per_token, mask, loss_type) / normaliser
    denom = mask.sum().clamp(min=1.0)
    stats = LossStats(
        policy_loss=float(pg_loss.detach()),
        kl=float(kl_mean.detach()),
        clip_fraction=float((clipped_tokens * mask).sum() / denom),
        ratio_mean=float((ratio.detach() * mask).sum() / denom),
    )
    return loss, stats
