"""DAPO dynamic sampling, overlong shaping and GSPO ratios in the GRPO recipe (tiny model).

The reward `learnable_if_even` scores odd problem ids 0 on every rollout (an unlearnable
prompt: its group has no reward variance) and even ones by text length (varies). Records
alternate video / image and are not shuffled, so odd ids are the images: T-GRPO's shuffled
rollouts ride along with every kept (video) group.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _sft_data import write_cot_records

from video_r1.recipes.grpo import train
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.train.config import load_config
from video_r1.utils.io import read_jsonl

REPO = Path(__file__).parents[2]
REWARDS = Path(__file__).with_name("_rewards.py")
HALF = (
    f"rl.reward_funcs=[{REWARDS}:learnable_if_even]",
    f"rl.accuracy_reward={REWARDS}:learnable_if_even",
)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rl_data(tmp_path_factory) -> Path:
    return write_cot_records(tmp_path_factory.mktemp("dynamic_data"), n=8)


def _cfg(model: Path, data: Path, out: Path, *overrides: str) -> GRPOConfig:
    return load_config(
        GRPOConfig,
        REPO / "configs" / "grpo_tiny.yaml",
        [
            f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
            f"checkpoint.output_dir={out}", "logging.progress_bar=false", "data.shuffle=false",
            "rl.max_completion_length=12", "optim.per_device_batch_size=2",
            "rl.dynamic_sampling=true", "rl.debug_rollouts=100", *HALF, *overrides,
        ],
    )  # fmt: skip


def test_dynamic_sampling_drops_unlearnable_groups_and_refills(tiny_qwen25, rl_data, tmp_path):
    out = tmp_path / "run"
    train(_cfg(tiny_qwen25, rl_data, out, "optim.max_steps=2"))
    rows = read_jsonl(out / "metrics.jsonl")
    for row in rows:
        # the step's 2 prompts: round 1 draws ids (0, 1) and keeps 0; round 2 draws (2, 3)
        # and keeps 2 (steps 2: 4-7). 4 drawn, 2 kept, 2 trained, every one with signal
        assert row["train/groups/zero_variance_count"] == 0, row["step"]
        assert row["train/dynamic/rounds"] == 2
        assert (row["train/dynamic/groups_drawn"], row["train/dynamic/groups_kept"]) == (4, 2)
        assert row["train/dynamic/groups_trained"] == 2
        assert row["train/dynamic/kept_fraction"] == pytest.approx(0.5)
        assert row["train/temporal/p"] > 0  # kept video groups keep their temporal rule
    # 8 records, 2 per step: the stream read a whole epoch in 2 steps (4 without refills)
    assert [r["train/dynamic/data_epoch"] for r in rows] == [0.5, 1.0]
    order = read_jsonl(out / "data_order" / "rank0.jsonl")
    assert [r["problem_ids"] for r in order] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    debug = read_jsonl(out / "rollouts.jsonl")
    trained = {(r["step"], r["problem_id"]) for r in debug}
    assert trained == {(1, 0), (1, 2), (2, 4), (2, 6)}  # odd ids never reach the loss
    assert {r["order"] for r in debug} == {"ordered", "shuffled"}


def test_too_few_kept_after_the_last_round_trains_on_what_was_kept(
    tiny_qwen25, rl_data, tmp_path, capsys
):
    out = tmp_path / "run"
    train(_cfg(tiny_qwen25, rl_data, out, "optim.max_steps=1",
               "rl.dynamic_sampling_max_rounds=1"))  # fmt: skip
    row = read_jsonl(out / "metrics.jsonl")[0]
    assert (row["train/dynamic/rounds"], row["train/dynamic/groups_trained"]) == (1, 1)
    assert row["train/groups/zero_variance_count"] == 0  # the filler has weight 0
    assert "dynamic sampling kept 1 of 2 prompt groups after 1 round (" in capsys.readouterr().err


@pytest.mark.parametrize("variant", ["published", "group_weight"])
def test_the_filter_keeps_what_the_temporal_variant_trains_on(
    tiny_qwen25, rl_data, tmp_path, variant
):
    """Base totals of 1 on every rollout (parity + its complement): a group's totals differ by
    the published bonus alone. published trains on it (kept when some group passed with mixed
    parity); group_weight multiplies GRPO's advantages, all 0 here: every group dropped."""
    terms = (f"rl.reward_funcs=[{REWARDS}:text_parity,{REWARDS}:text_parity_complement]",
             f"rl.accuracy_reward={REWARDS}:text_parity")  # fmt: skip
    out = tmp_path / variant
    train(_cfg(tiny_qwen25, rl_data, out, *terms, f"rl.temporal_variant={variant}",
               "optim.max_steps=1", "rl.dynamic_sampling_max_rounds=2"))  # fmt: skip
    row = read_jsonl(out / "metrics.jsonl")[0]
    if variant == "published":
        assert row["train/dynamic/groups_kept"] > 0
    else:  # two rounds of 2 prompts, nothing kept: the step trains a zero-weight filler
        assert (row["train/dynamic/groups_drawn"], row["train/dynamic/groups_kept"]) == (4, 0)
        assert row["train/dynamic/groups_trained"] == 0


def test_dynamic_sampling_resume_equals_the_uninterrupted_run(
    tiny_qwen25, rl_data, tmp_path, monkeypatch
):
    """Killed in step 3, after its refills were drawn and logged; resumed from step 2's
    checkpoint, the run draws step 3's refills again from the saved stream position."""
    import video_r1.recipes.grpo_log as grpo_log

    common = ("optim.max_steps=4", "checkpoint.save_every=2", "checkpoint.keep_last=3",
              "optim.lr=1e-3")  # fmt: skip
    straight = train(_cfg(tiny_qwen25, rl_data, tmp_path / "straight", *common))
    log_step = grpo_log.log_step

    def killed_in_step_3(run, logger, step, *args, **kwargs):
        if step == 2:
            raise RuntimeError("killed")
        return log_step(run, logger, step, *args, **kwargs)

    monkeypatch.setattr(grpo_log, "log_step", killed_in_step_3)
    with pytest.raises(RuntimeError, match="killed"):
        train(_cfg(tiny_qwen25, rl_data, tmp_path / "split", *common))
    monkeypatch.setattr(grpo_log, "log_step", log_step)
    resumed = train(_cfg(tiny_qwen25, rl_data, tmp_path / "split", *common), resume="latest")
    a = read_jsonl(tmp_path / "straight" / "metrics.jsonl")
    b = read_jsonl(tmp_path / "split" / "metrics.jsonl")
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    for ra, rb in zip(a, b, strict=True):
        for key in ("train/loss", "train/reward/total", "train/dynamic/groups_drawn",
                    "train/dynamic/rounds", "train/completion/length_mean"):  # fmt: skip
            assert ra[key] == pytest.approx(rb[key], abs=1e-6), (ra["step"], key)
    order_a = read_jsonl(tmp_path / "straight" / "data_order" / "rank0.jsonl")
    order_b = read_jsonl(tmp_path / "split" / "data_order" / "rank0.jsonl")
    assert [r["problem_ids"] for r in order_a] == [r["problem_ids"] for r in order_b]
    # steps 3-4 read epoch 1 from where the refills of steps 1-2 left the stream
    assert order_b[2]["problem_ids"][:2] == [0, 1]
    sa, sb = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.allclose(sa[k], sb[k], atol=1e-6) for k in sa)


def test_overlong_penalty_and_masking_of_truncated_rollouts(tiny_qwen25, rl_data, tmp_path):
    """Rollouts forced to the 12-token limit (no EOS before it) are all truncated: with a
    4-token window each loses 0.5 x 4 / 4 = 0.5, and masked out they leave no gradient."""
    out = tmp_path / "run"
    train(_cfg(tiny_qwen25, rl_data, out, "optim.max_steps=1", "rl.dynamic_sampling=false",
               "rl.min_completion_length=12", "rl.overlong_buffer_tokens=4",
               "rl.overlong_penalty=0.5", "rl.mask_truncated_completions=true"))  # fmt: skip
    row = read_jsonl(out / "metrics.jsonl")[0]
    assert row["train/completion/truncated"] == 1.0
    assert row["train/reward/overlong_penalty"] == pytest.approx(-0.5)
    assert row["train/grad_norm"] == 0.0 and row["train/loss"] == 0.0


@pytest.mark.parametrize("loss_type", ["sequence", "token", "dr_grpo"])
def test_sequence_ratios_with_several_updates_per_batch(tiny_qwen25, rl_data, tmp_path, loss_type):
    """GSPO's ratio is 1 on the first pass and moves on the second, under every loss type."""
    out = tmp_path / "run"
    train(_cfg(tiny_qwen25, rl_data, out, "optim.max_steps=1", "rl.dynamic_sampling=false",
               "rl.importance_sampling_level=sequence", "rl.num_iterations=2", "rl.epsilon=0.2",
               "rl.epsilon_high=0.28", f"rl.loss_type={loss_type}", "optim.lr=1e-3"))  # fmt: skip
    row = read_jsonl(out / "metrics.jsonl")[0]
    assert row["train/pass1/ratio_mean"] == pytest.approx(1.0, abs=1e-5)
    assert abs(row["train/pass2/ratio_mean"] - 1.0) > 1e-5
    assert 0.0 <= row["train/pass2/clip_fraction"] <= 1.0
    assert row["train/pass1/grad_norm"] > 0


def test_nothing_dropped_trains_exactly_as_without_dynamic_sampling(tiny_qwen25, rl_data, tmp_path):
    """A reward that varies in every group (text length): dynamic sampling keeps every group
    in one round, so the run is the plain run: same records, rollouts, losses and weights."""
    varied = (f"rl.reward_funcs=[accuracy,format,{REWARDS}:text_length]",
              "rl.accuracy_reward=accuracy", "optim.max_steps=2", "optim.lr=1e-3")  # fmt: skip
    plain = train(_cfg(tiny_qwen25, rl_data, tmp_path / "plain", *varied,
                       "rl.dynamic_sampling=false"))  # fmt: skip
    dynamic = train(_cfg(tiny_qwen25, rl_data, tmp_path / "dynamic", *varied))
    a = read_jsonl(tmp_path / "plain" / "metrics.jsonl")
    b = read_jsonl(tmp_path / "dynamic" / "metrics.jsonl")
    assert [r["train/dynamic/rounds"] for r in b] == [1, 1]
    assert [r["train/dynamic/kept_fraction"] for r in b] == [1.0, 1.0]
    for ra, rb in zip(a, b, strict=True):
        for key in ("train/loss", "train/reward/total", "train/grad_norm"):
            assert ra[key] == pytest.approx(rb[key], abs=1e-6), (ra["step"], key)
    sa, sb = plain.model.state_dict(), dynamic.model.state_dict()
    assert all(torch.allclose(sa[k], sb[k], atol=1e-6) for k in sa)
