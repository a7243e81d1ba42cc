"""The update loop (`grpo_step.update`, tiny model) gives every rollout the weight it has in one
micro-batch holding the whole step, however the step's groups are packed into micro-batches
(tests/rl/test_loss.py shows the same for the pure loss, DDP included)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _sft_data import write_cot_records

from video_r1.media.record_media import load_record_media
from video_r1.recipes.grpo import PhaseTimer, setup_step
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.recipes.grpo_dynamic import Piece, micro_of_pieces
from video_r1.recipes.grpo_step import PromptBatch, generate_and_score, update
from video_r1.train.config import load_config
from video_r1.train.run import start_run

REPO = Path(__file__).parents[2]
LENGTH = f"{Path(__file__).with_name('_rewards.py')}:text_length"  # varies in every group
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def step(tiny_qwen25, tmp_path_factory):
    """A real GRPO context (2 prompts per micro-batch, grad_accum 2) and 3 scored groups of
    one generate call, the groups a dynamic-sampling step that ended short trains on."""
    root = tmp_path_factory.mktemp("packing")
    data = write_cot_records(root / "data", n=4)
    cfg = load_config(GRPOConfig, REPO / "configs" / "grpo_tiny.yaml", [
        f"model.path={tiny_qwen25}", f"data.train_file={data}", f"data.media_root={data.parent}",
        f"checkpoint.output_dir={root / 'run'}", "logging.progress_bar=false",
        "rl.max_completion_length=12", "optim.per_device_batch_size=2", "optim.grad_accum=2",
        "optim.max_grad_norm=0", f"rl.reward_funcs=[accuracy,format,{LENGTH}]",
    ])  # fmt: skip
    run = start_run(cfg, "grpo")
    ctx, _ = setup_step(cfg, run)
    records = run.records[:3]
    media = [load_record_media(r, cfg.media, ctx.cache) for r in records]
    timer = PhaseTimer()
    chunk, members, groups = generate_and_score(
        ctx, [PromptBatch(records, media)], torch.Generator().manual_seed(0), timer, None
    )
    pieces = [Piece(chunk, j, members[j], groups[j], records[j], media[j]) for j in range(3)]
    return ctx, pieces, timer


def _gradient(ctx, experience, timer) -> torch.Tensor:
    """The gradient the pass's optimizer step sees (recorded before it steps); the weights are
    put back afterwards, so every packing starts from the same policy."""
    seen = []
    optimizer = ctx.optimizer.optimizer  # accelerate's wrapper steps this one

    def record(opt, args, kwargs):
        params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
        seen.append(torch.cat([p.grad.detach().reshape(-1).clone() for p in params]))

    before = {k: v.detach().clone() for k, v in ctx.policy.state_dict().items()}
    handle = optimizer.register_step_pre_hook(record)
    try:
        update(ctx, experience, timer)
    finally:
        handle.remove()
        ctx.policy.load_state_dict(before)
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize("loss_type", ["token", "sequence", "dr_grpo"])
def test_a_half_empty_micro_batch_trains_as_one_holding_the_step(step, loss_type):
    ctx, pieces, timer = step
    ctx.cfg.rl.loss_type = loss_type
    # one micro-batch holding the step's 3 groups, then a zero-weight filler (grad_accum 2)
    whole = [micro_of_pieces(ctx, pieces, 1.0, timer),
             micro_of_pieces(ctx, pieces[:1], 0.0, timer)]  # fmt: skip
    # the same groups as a short dynamic-sampling step packs them: [[0, 1], [2]]
    split = [micro_of_pieces(ctx, pieces[:2], 1.0, timer),
             micro_of_pieces(ctx, pieces[2:], 1.0, timer)]  # fmt: skip
    expected = _gradient(ctx, whole, timer)
    assert expected.abs().sum() > 0
    # each micro-batch normalised on its own: groups 0 and 1 weighed 0.75, group 2 1.5
    torch.testing.assert_close(_gradient(ctx, split, timer), expected, rtol=1e-4, atol=1e-7)
