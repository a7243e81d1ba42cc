"""GSPO's sequence-level importance ratio (rl.importance_sampling_level) against the token
ratio, by hand, on two rollouts."""

import pytest
import torch

from video_r1.rl.loss import importance_log_ratio, policy_loss

# rollout 1: two tokens whose log-ratios are +0.4 and +0.2, advantage +1;
# rollout 2: one token at -0.1 and a padding token (log-ratio +5, masked), advantage -1.
OLD = torch.zeros(2, 2)
NEW = torch.tensor([[0.4, 0.2], [-0.1, 5.0]])
MASK = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
ADV = torch.tensor([1.0, -1.0])
CLIP = {"epsilon": 0.2, "epsilon_high": 0.28, "beta": 0.0}  # DAPO's clip-higher: [0.8, 1.28]


def _loss(level: str, loss_type: str = "sequence"):
    logprobs = NEW.clone().requires_grad_(True)
    loss, stats = policy_loss(logprobs, ADV, MASK, old_logprobs=OLD, loss_type=loss_type,
                              importance_sampling_level=level, **CLIP)  # fmt: skip
    loss.backward()
    return float(loss.detach()), stats, logprobs.grad


def test_sequence_ratio_is_the_mean_token_log_ratio_over_real_tokens():
    # s1 = exp((0.4 + 0.2) / 2) = exp(0.3) = 1.34986; s2 = exp(-0.1 / 1) = 0.90484 (pad ignored)
    s = importance_log_ratio(NEW, OLD, MASK, "sequence").exp()
    assert s.shape == (2, 1)
    assert s.flatten().tolist() == pytest.approx([1.3498588, 0.9048374])


def test_sequence_ratio_clips_per_rollout_token_ratio_per_token():
    loss, stats, grad = _loss("sequence")
    # rollout 1: min(1.34986 x 1, clip(1.34986, 0.8, 1.28) x 1) = 1.28 -> -1.28 on every token;
    # rollout 2: min(0.90484 x -1, 0.90484 x -1) = -0.90484 -> +0.90484.
    # sequence loss: the mean over tokens of a constant, then over rollouts:
    assert loss == pytest.approx((-1.28 + 0.9048374) / 2)  # -0.187581
    # rollout 1 is clipped as a whole: no gradient on either token; rollout 2's one token:
    # d(-s2 x A)/d logp = -A x s2 x (1 / |y| = 1), / 2 rollouts = 0.452419
    assert grad.flatten().tolist() == pytest.approx([0.0, 0.0, 0.4524187, 0.0])
    assert stats.clip_fraction == pytest.approx(2 / 3)  # rollout 1's two tokens of the 3
    assert stats.ratio_mean == pytest.approx((2 * 1.3498588 + 0.9048374) / 3)  # 1.201518

    loss, stats, grad = _loss("token")
    # token 1: min(exp(0.4) = 1.49182, 1.28) = 1.28; token 2: exp(0.2) = 1.22140 (inside);
    # rollout 1 -> -(1.28 + 1.22140) / 2 = -1.25070; rollout 2 as before: +0.90484
    assert loss == pytest.approx((-(1.28 + 1.2214028) / 2 + 0.9048374) / 2)  # -0.172932
    # only the clipped token loses its gradient: -A x exp(0.2) / 2 tokens / 2 rollouts
    assert grad.flatten().tolist() == pytest.approx([0.0, -0.3053507, 0.4524187, 0.0])
    assert stats.clip_fraction == pytest.approx(1 / 3)


def test_sequence_token_level_has_the_sequence_value_and_gradient_here():
    # GSPO-token: sg[s_i] x exp(logp - sg[logp]) on each token: the same value, and with one
    # advantage per rollout the same gradient as GSPO under the sequence mean
    loss_seq, _, grad_seq = _loss("sequence")
    loss_tok, _, grad_tok = _loss("sequence_token")
    assert loss_tok == pytest.approx(loss_seq)
    assert torch.allclose(grad_tok, grad_seq)


@pytest.mark.parametrize("loss_type", ["sequence", "token", "dr_grpo"])
def test_on_policy_sequence_ratio_equals_token_ratio(loss_type):
    # one update per batch (old = logp.detach()): both ratios are 1, and the gradients agree:
    # d s_i / d logp_t = 1 / |y_i| and the loss spreads -s_i A_i over the |y_i| tokens, so
    # each token gets -A_i d logp_t, the token ratio's gradient (KL term alike)
    torch.manual_seed(0)
    base = torch.randn(3, 4)
    mask = torch.tensor([[1.0, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    adv = torch.tensor([1.0, -0.5, 2.0])
    results = []
    for level in ("token", "sequence"):
        logprobs = base.clone().requires_grad_(True)
        ref = torch.zeros(3, 4)
        loss, _ = policy_loss(logprobs, adv, mask, ref_logprobs=ref, beta=0.04,
                              loss_type=loss_type, max_length=4,
                              importance_sampling_level=level)  # fmt: skip
        loss.backward()
        results.append((float(loss.detach()), logprobs.grad))
    assert results[0][0] == pytest.approx(results[1][0])
    assert torch.allclose(results[0][1], results[1][1], atol=1e-6)
