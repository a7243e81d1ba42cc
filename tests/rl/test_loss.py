import math

import pytest
import torch

from video_r1.rl import kl_penalty, micro_batch_normaliser, policy_loss
from video_r1.rl.loss import loss_denominator


def test_kl_penalty_hand_values():
    lp = torch.tensor([-1.0, -2.0, -3.0, 0.0])
    ref = torch.tensor([-2.0, -2.0, -1.0, -50.0])
    # x = ref - lp clamped to [-10, 10]: -1, 0, 2, -10
    expected = [math.exp(-1) + 1 - 1, 0.0, math.exp(2) - 2 - 1, math.exp(-10) + 10 - 1]
    assert torch.allclose(kl_penalty(lp, ref), torch.tensor(expected), atol=1e-6)


def _inputs():
    logprobs = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -0.7, -9.0]], requires_grad=True)
    ref = torch.tensor([[-1.5, -2.0, -0.5], [-0.3, -0.2, -9.0]])
    adv = torch.tensor([1.0, -2.0])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])  # row 1: 2 completion tokens
    return logprobs, ref, adv, mask


def test_sequence_normalisation_value_and_gradient():
    logprobs, ref, adv, mask = _inputs()
    loss, stats = policy_loss(logprobs, adv, mask, ref_logprobs=ref, beta=0.04)
    kl = kl_penalty(logprobs.detach(), ref)
    # on-policy ratio = 1: per-token = -A + beta * kl; mean over each row's tokens, then rows
    row0 = (-1.0 * 3 + 0.04 * kl[0].sum()) / 3
    row1 = (2.0 * 2 + 0.04 * (kl[1, 0] + kl[1, 1])) / 2
    assert torch.allclose(loss, (row0 + row1) / 2, atol=1e-6)
    loss.backward()
    # d/dlp of -A * exp(lp - lp.detach()) is -A; d kl/dlp = 1 - exp(ref - lp)
    dkl = 1 - torch.exp(ref - logprobs.detach())
    expected = torch.stack(
        [(-1.0 + 0.04 * dkl[0]) / 3 / 2, (2.0 + 0.04 * dkl[1]) / 2 / 2 * mask[1]]
    )
    assert torch.allclose(logprobs.grad, expected, atol=1e-6)
    assert stats.clip_fraction == 0.0 and stats.ratio_mean == pytest.approx(1.0)
    assert stats.kl == pytest.approx(float((kl * mask).sum() / 5), abs=1e-6)
    assert stats.policy_loss == pytest.approx((-1.0 + 2.0) / 2)


def test_token_and_dr_grpo_normalisations():
    logprobs, _, adv, mask = _inputs()
    token, _ = policy_loss(logprobs, adv, mask, beta=0.0, loss_type="token")
    # 3 tokens of -1 and 2 tokens of +2 over 5 tokens
    assert token.item() == pytest.approx((-3.0 + 4.0) / 5)
    dr, _ = policy_loss(logprobs, adv, mask, beta=0.0, loss_type="dr_grpo", max_length=4)
    assert dr.item() == pytest.approx((-3.0 + 4.0) / (2 * 4))
    with pytest.raises(ValueError, match="max_length"):
        policy_loss(logprobs, adv, mask, beta=0.0, loss_type="dr_grpo")


def test_clipping_off_policy():
    logprobs = torch.log(torch.tensor([[0.5, 0.5]])).requires_grad_()
    old = torch.log(torch.tensor([[0.25, 0.5]]))  # ratios 2.0 and 1.0
    loss, stats = policy_loss(
        logprobs, torch.tensor([1.0]), torch.ones(1, 2), old_logprobs=old, beta=0.0, epsilon=0.2
    )
    # token 0: min(2 * 1, 1.2 * 1) = 1.2 (clipped, no gradient); token 1: 1.0
    assert loss.item() == pytest.approx(-(1.2 + 1.0) / 2)
    assert stats.clip_fraction == pytest.approx(0.5)
    loss.backward()
    assert logprobs.grad[0, 0].item() == 0.0
    assert logprobs.grad[0, 1].item() == pytest.approx(-0.5)


def test_beta_needs_reference():
    logprobs, _, adv, mask = _inputs()
    with pytest.raises(ValueError, match="ref_logprobs"):
        policy_loss(logprobs, adv, mask, beta=0.04)


def test_token_loss_weighs_every_token_of_the_step_the_same():
    """Two micro-batches of 10 and 100 tokens, accumulated (each loss / 2): with the step's
    tokens per micro-batch (110 / 2) as denominator, every token's gradient is the one of a
    single token mean over all 110, -A / 110; each micro-batch's own count gave -A / 20 and
    -A / 200."""
    masks = [torch.ones(1, 10), torch.ones(1, 100)]
    logprobs = [torch.zeros(1, 10, requires_grad=True), torch.zeros(1, 100, requires_grad=True)]
    for lp, mask in zip(logprobs, masks, strict=True):
        loss, _ = policy_loss(lp, torch.tensor([1.0]), mask, beta=0.0, loss_type="token",
                              normaliser=55.0)  # fmt: skip
        (loss / 2).backward()
    for lp in logprobs:
        assert torch.allclose(lp.grad, torch.full_like(lp, -1.0 / 110))


def _step_rollouts() -> dict[str, torch.Tensor]:
    """Six rollouts (three groups of 2) of uneven lengths, off-policy, with a reference and
    sampling weights: every term of the loss acts."""
    g = torch.Generator().manual_seed(0)
    n, width = 6, 5
    logprobs = -torch.rand(n, width, generator=g, dtype=torch.float64)
    mask = torch.zeros(n, width, dtype=torch.float64)
    for i, length in enumerate([5, 2, 4, 1, 3, 5]):
        mask[i, :length] = 1.0
    return {
        "logprobs": logprobs, "mask": mask,
        "advantages": torch.randn(n, generator=g, dtype=torch.float64),
        "old_logprobs": logprobs + 0.2 * torch.randn(n, width, generator=g, dtype=torch.float64),
        "ref_logprobs": logprobs + 0.3 * torch.randn(n, width, generator=g, dtype=torch.float64),
        "sampling_weights": torch.rand(n, width, generator=g, dtype=torch.float64),
    }  # fmt: skip


def _loss(data, rows, **kwargs):
    rows = torch.tensor(rows)
    return policy_loss(
        data["logprobs"][rows], data["advantages"][rows], data["mask"][rows],
        old_logprobs=data["old_logprobs"][rows], ref_logprobs=data["ref_logprobs"][rows],
        sampling_weights=data["sampling_weights"][rows], beta=0.04, epsilon=0.2,
        epsilon_high=0.28, max_length=5, **kwargs,
    )[0]  # fmt: skip


def _accumulated_gradient(packing, loss_type, level):
    """The step's gradient as accumulation and DDP make it: per process, the mean of its
    micro-batch losses (accelerate divides each by grad_accum), then the mean over processes
    (DDP averages gradients). packing: per process, its micro-batches as rollout indices;
    [] is a zero-weight filler (a rollout trained with weight 0, as the recipe does)."""
    data = _step_rollouts()
    data["logprobs"].requires_grad_()
    trained = [i for process in packing for micro in process for i in micro]
    slots = sum(len(process) for process in packing)
    normaliser = micro_batch_normaliser(
        loss_type, float(data["mask"][trained].sum()), len(trained), slots, max_length=5
    )
    step = 0.0
    for process in packing:
        for micro in process:
            weight = 1.0 if micro else 0.0
            loss = _loss(data, micro or [0], loss_type=loss_type, normaliser=normaliser,
                         importance_sampling_level=level)  # fmt: skip
            step = step + weight * loss / len(process) / len(packing)
    step.backward()
    return data["logprobs"].grad


PACKINGS = {
    # the case: 3 groups kept, 2 prompts per micro-batch, grad_accum 2
    "half-empty last micro-batch": [[[0, 1, 2, 3], [4, 5]]],
    "a filler": [[[0, 1, 2, 3], [4, 5], []]],
    "uneven and out of order": [[[4, 5, 0, 1], [2, 3], [], []]],
    "DDP, one process short": [[[0, 1], [2, 3]], [[4, 5], []]],
    "DDP, uneven": [[[0, 1, 2, 3], []], [[4, 5], []]],
}


@pytest.mark.parametrize("level", ["token", "sequence", "sequence_token"])
@pytest.mark.parametrize("loss_type", ["token", "sequence", "dr_grpo"])
def test_accumulated_gradient_is_one_micro_batch_holding_the_step(loss_type, level):
    """Every rollout weighs what it would in one micro-batch holding the whole step, for any
    packing into micro-batches and processes. Each micro-batch normalised on its own weighed
    the groups of [[0, 1], [2]] 0.75, 0.75 and 1.5 under sequence and dr_grpo."""
    data = _step_rollouts()
    data["logprobs"].requires_grad_()
    _loss(data, list(range(6)), loss_type=loss_type, importance_sampling_level=level).backward()
    whole = data["logprobs"].grad
    assert whole.abs().sum() > 0
    for name, packing in PACKINGS.items():
        accumulated = _accumulated_gradient(packing, loss_type, level)
        torch.testing.assert_close(accumulated, whole, rtol=1e-12, atol=1e-12, msg=name)


def test_normalisers_per_loss_type():
    # one micro-batch holding the step divides by its own denominator: slots 1 is the same
    assert micro_batch_normaliser("sequence", 30.0, 6.0, slots=1) == loss_denominator(
        "sequence", 30.0, 6.0
    )
    assert [loss_denominator(t, 30.0, 6.0, 16) for t in ("token", "sequence", "dr_grpo")] == [
        30.0, 6.0, 96.0,
    ]  # fmt: skip
    # nothing trained anywhere (every micro-batch a filler): 1, so the zero losses stay finite
    assert micro_batch_normaliser("token", 0.0, 0.0, slots=2) == 0.5
    with pytest.raises(ValueError, match="max_length"):
        micro_batch_normaliser("dr_grpo", 30.0, 6.0, slots=2)
    with pytest.raises(ValueError, match="normaliser must be > 0"):
        policy_loss(torch.zeros(1, 2), torch.ones(1), torch.ones(1, 2), beta=0.0, normaliser=0.0)
