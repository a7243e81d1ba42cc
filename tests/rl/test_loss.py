import math

import pytest
import torch

from video_r1.rl import kl_penalty, micro_batch_normalisers, policy_loss


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
                              tokens_per_micro_batch=55.0)  # fmt: skip
        (loss / 2).backward()
    for lp in logprobs:
        assert torch.allclose(lp.grad, torch.full_like(lp, -1.0 / 110))


@pytest.mark.parametrize("loss_type", ["sequence", "dr_grpo"])
def test_micro_batch_normalisers_average_only_the_real_micro_batches(loss_type):
    """grad_accum 2, one filler: accumulation averages the 2 slots, so each real micro-batch
    loss is doubled (2 / 1) and the step's gradient is the real micro-batch's, not half of it;
    the token loss divides by the real tokens per slot instead (12 tokens / 2 slots = 6)."""
    advantages, mask = torch.tensor([1.0, -1.0]), torch.ones(2, 6)
    real_lp = torch.zeros(2, 6, requires_grad=True)
    loss, _ = policy_loss(real_lp, advantages, mask, beta=0.0, loss_type=loss_type, max_length=6)
    (loss / 1).backward()  # the mean over the one real micro-batch
    tokens, scale = micro_batch_normalisers(loss_type, real=1.0, tokens=12.0, slots=2)
    assert (tokens, scale) == (None, 2.0)
    filled_lp = torch.zeros(2, 6, requires_grad=True)
    loss, _ = policy_loss(filled_lp, advantages, mask, beta=0.0, loss_type=loss_type, max_length=6)
    (scale * loss / 2).backward()  # accumulation divides by the 2 slots; the filler adds 0
    torch.testing.assert_close(filled_lp.grad, real_lp.grad)
    assert micro_batch_normalisers("token", real=1.0, tokens=12.0, slots=2) == (6.0, 1.0)
    assert micro_batch_normalisers("sequence", real=0.0, tokens=0.0, slots=2) == (None, 1.0)
