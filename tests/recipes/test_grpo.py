"""The GRPO / T-GRPO recipe on a tiny Qwen2.5-VL: metrics, mixed batches, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _sft_data import write_cot_records

from video_r1.recipes.grpo import train
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.train.config import ConfigError, load_config
from video_r1.utils.io import read_jsonl

REPO = Path(__file__).parents[2]
# a user reward by file path: varies across rollouts, so a random model gets non-zero advantages
USER_REWARD = (
    f"rl.reward_funcs=[accuracy,format,{Path(__file__).with_name('_rewards.py')}:text_length]"
)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rl_data(tmp_path_factory) -> Path:
    return write_cot_records(
        tmp_path_factory.mktemp("grpo_data"), n=8
    )  # videos and images alternate


def _cfg(model: Path, data: Path, out: Path, *overrides: str) -> GRPOConfig:
    return load_config(
        GRPOConfig,
        REPO / "configs" / "grpo_tiny.yaml",
        [
            f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
            f"checkpoint.output_dir={out}", "logging.progress_bar=false", "data.shuffle=false",
            "rl.max_completion_length=12", *overrides,
        ],
    )  # fmt: skip


def test_mixed_batch_tgrpo_logs_every_metric_and_trains_every_parameter(
    tiny_qwen25, rl_data, tmp_path
):
    from transformers import AutoModelForImageTextToText

    before = AutoModelForImageTextToText.from_pretrained(tiny_qwen25).state_dict()
    cfg = _cfg(tiny_qwen25, rl_data, tmp_path / "run", "optim.max_steps=2", "rl.debug_rollouts=20",
               "optim.per_device_batch_size=2", "optim.lr=1e-3", "optim.weight_decay=0.0",
               USER_REWARD)  # fmt: skip
    result = train(cfg)
    rows = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("train/reward/accuracy", "train/reward/format", "train/reward/total",
                "train/reward/total_std", "train/temporal/passed", "train/temporal/p",
                "train/temporal/p_shuffled", "train/completion/length_mean",
                "train/completion/length_max", "train/completion/truncated", "train/kl",
                "train/clip_fraction", "train/groups/all_correct", "train/groups/all_wrong",
                "train/time/generate", "train/time/rewards", "train/time/policy",
                "train/time/reference", "train/time/backward", "train/tokens_per_s"):  # fmt: skip
        assert key in rows[0], key
    assert rows[0]["train/reward/text_length"] > 0 and rows[0]["train/grad_norm"] > 0
    # 2 prompts per device, records alternate video / image: each micro-batch mixes both
    debug = read_jsonl(tmp_path / "run" / "rollouts.jsonl")
    step1 = [r for r in debug if r["step"] == 1]
    assert {r["problem_id"] for r in step1} == {0, 1}
    assert sum(r["order"] == "ordered" for r in step1) == 2 * cfg.rl.num_generations
    shuffled = [r for r in step1 if r["order"] == "shuffled"]
    assert len(shuffled) == cfg.rl.num_shuffled_generations
    assert {r["problem_id"] for r in shuffled} == {0}  # only the video record is shuffled
    after = result.model.state_dict()
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert unchanged == [], unchanged


def test_temporal_fields_only_with_video_groups(tiny_qwen25, tmp_path):
    from _sft_data import write_cot_records as write

    data = write(tmp_path / "data", n=4)
    images = [line for line in data.read_text().splitlines() if '"image"' in line]
    only_images = tmp_path / "data" / "images.jsonl"
    only_images.write_text("\n".join(images) + "\n")
    train(_cfg(tiny_qwen25, only_images, tmp_path / "run", "optim.max_steps=1"))
    row = read_jsonl(tmp_path / "run" / "metrics.jsonl")[0]
    assert "train/reward/accuracy" in row
    assert not any(k.startswith("train/temporal/") for k in row)


def test_no_signal_warnings_print_above_the_progress_bar(tiny_qwen25, rl_data, tmp_path, capsys):
    # the built-in rewards give a random model's rollouts all the same score: every step warns
    capsys.readouterr()
    train(_cfg(tiny_qwen25, rl_data, tmp_path / "run", "optim.max_steps=2",
               "logging.progress_bar=true"))  # fmt: skip
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("train:") and "2/2" in line for line in lines)  # the bar was drawn
    warnings = [line for line in lines if "no learning signal" in line]
    assert [w.split(":")[0] for w in warnings] == ["# step 1", "# step 2"]  # none glued to the bar


def test_resume_gives_the_same_curve_and_parameters(tiny_qwen25, rl_data, tmp_path):
    common = ("optim.max_steps=4", "checkpoint.save_every=2", "checkpoint.keep_last=3", USER_REWARD)
    straight = train(_cfg(tiny_qwen25, rl_data, tmp_path / "straight", *common))
    train(_cfg(tiny_qwen25, rl_data, tmp_path / "split", *common, "optim.max_steps=2"))
    # a run cut at step 2 must not change the schedule: the resumed one asks for 4 steps
    resumed = train(_cfg(tiny_qwen25, rl_data, tmp_path / "split", *common), resume="latest")
    a = read_jsonl(tmp_path / "straight" / "metrics.jsonl")
    b = read_jsonl(tmp_path / "split" / "metrics.jsonl")
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    for ra, rb in zip(a, b, strict=True):
        for key in ("train/loss", "train/reward/total", "train/kl", "train/completion/length_mean"):
            assert ra[key] == pytest.approx(rb[key], abs=1e-6), (ra["step"], key)
    assert a[-1]["train/grad_norm"] > 0  # the runs did learn something
    sa, sb = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.allclose(sa[k], sb[k], atol=1e-6) for k in sa)


def test_config_defaults_are_the_published_run_and_bad_combinations_fail():
    required = ["model.path=m", "data.train_file=t", "data.media_root=.", "checkpoint.output_dir=o"]
    cfg = load_config(GRPOConfig, None, required)
    assert (cfg.rl.num_generations, cfg.rl.num_shuffled_generations) == (8, 4)
    assert (cfg.rl.alpha, cfg.rl.mu, cfg.rl.beta, cfg.rl.temperature) == (0.3, 0.8, 0.04, 1.0)
    assert (cfg.rl.max_completion_length, cfg.rl.scale_rewards, cfg.rl.loss_type) == (
        768, "group", "sequence")  # fmt: skip
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.max_grad_norm) == (1e-6, 0.01, 5.0)
    with pytest.raises(ConfigError, match="num_generations"):
        load_config(GRPOConfig, None, [*required, "rl.num_generations=1"])
    with pytest.raises(ConfigError, match="reward_weights"):
        load_config(GRPOConfig, None, [*required, "rl.reward_weights=[1.0]"])
    with pytest.raises(ConfigError, match="accuracy_reward"):
        load_config(GRPOConfig, None, [*required, "rl.reward_funcs=[format]"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(GRPOConfig, None, [*required, "rl.alpah=0.2"])


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "configs").glob("grpo*.yaml")))
def test_shipped_grpo_configs_load(name):
    cfg = load_config(GRPOConfig, REPO / "configs" / name)
    assert cfg.rl.num_generations >= 2 and cfg.checkpoint.output_dir


def test_published_grpo_config_is_the_published_run():
    cfg = load_config(GRPOConfig, REPO / "configs" / "grpo.yaml")
    assert (cfg.rl.temporal, cfg.rl.num_generations, cfg.rl.num_shuffled_generations) == (
        True,
        8,
        4,
    )
    assert (cfg.rl.alpha, cfg.rl.mu, cfg.rl.beta, cfg.rl.len_control) == (0.3, 0.8, 0.04, True)
    assert (cfg.media.max_frames, cfg.media.video_max_pixels) == (16, 128 * 28 * 28)
    assert (cfg.optim.lr, cfg.optim.schedule, cfg.optim.per_device_batch_size) == (
        1e-6,
        "cosine",
        1,
    )


def test_several_updates_per_batch_with_clipping_and_dr_grpo_settings(
    tiny_qwen25, rl_data, tmp_path
):
    """num_iterations > 1 reuses one batch of rollouts for several clipped updates."""
    train(_cfg(tiny_qwen25, rl_data, tmp_path / "run", "optim.max_steps=1", "rl.num_iterations=2",
               "rl.epsilon=0.1", "rl.scale_rewards=none", "rl.loss_type=dr_grpo",
               "optim.lr=1e-2", USER_REWARD))  # fmt: skip
    row = read_jsonl(tmp_path / "run" / "metrics.jsonl")[0]
    assert 0.0 <= row["train/clip_fraction"] <= 1.0
    assert row["train/grad_norm"] > 0


def test_token_loss_divides_every_micro_batch_by_the_steps_tokens(
    tiny_qwen25, rl_data, tmp_path, monkeypatch
):
    """loss_type=token with gradient accumulation: each micro-batch's loss is divided by the
    step's completion tokens per micro-batch, not its own count (tests/rl/test_loss.py shows
    that this makes every token of the step weigh the same)."""
    from video_r1.recipes import grpo_step

    seen = []

    def recording_loss(logprobs, advantages, mask, **kwargs):
        seen.append((float(mask.sum()), kwargs["normaliser"]))
        return grpo_step_policy_loss(logprobs, advantages, mask, **kwargs)

    grpo_step_policy_loss = grpo_step.policy_loss
    monkeypatch.setattr(grpo_step, "policy_loss", recording_loss)
    train(_cfg(tiny_qwen25, rl_data, tmp_path / "run", "optim.max_steps=1", "optim.grad_accum=2",
               "rl.loss_type=token", "rl.min_completion_length=1", USER_REWARD))  # fmt: skip
    assert len(seen) == 2  # two micro-batches, one pass
    tokens = [count for count, _ in seen]
    assert all(denominator == pytest.approx(sum(tokens) / 2) for _, denominator in seen)


def test_bad_record_is_skipped_logged_and_never_replaced(tiny_qwen25, tmp_path):
    """One prompt per device (as published) and a broken video: the step that meets it trains
    on nothing (a zero-weight rerun of the last good batch keeps collectives in step)."""
    data = write_cot_records(tmp_path / "data", n=6, bad_paths=(2,))
    out = tmp_path / "run"
    train(_cfg(tiny_qwen25, data, out, "optim.per_device_batch_size=1", "optim.max_steps=4",
               "data.max_bad_fraction=0.5", "rl.debug_rollouts=100", USER_REWARD))  # fmt: skip
    bad = read_jsonl(out / "bad_samples.jsonl")
    assert [b["problem_id"] for b in bad] == [2] and "v2.mp4" in bad[0]["reason"] + str(bad[0])
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert rows[2]["train/reward/total"] == 0.0 and rows[2]["train/bad_samples"] == 1
    trained = {r["problem_id"] for r in read_jsonl(out / "rollouts.jsonl")}
    assert trained == {0, 1, 3}  # record 2 was never replaced by another one


def test_two_iterations_clip_against_the_generating_policy_one_step_per_pass(
    tiny_qwen25, rl_data, tmp_path
):
    """rl.num_iterations=2 with a high lr: pass 1 is on-policy (ratio 1, nothing clipped); the
    optimizer steps after it, so pass 2 sees a changed policy: ratio != 1 and clipping acts.
    With grad_accum 2 each pass still ends in exactly one optimizer and one schedule step, and
    rollout_batch_size 1 generates the two micro-batches in two calls."""
    steps, iterations = 2, 2
    result = train(_cfg(tiny_qwen25, rl_data, tmp_path / "run", f"optim.max_steps={steps}",
                        f"rl.num_iterations={iterations}", "rl.epsilon=0.05", "optim.lr=1e-2",
                        "optim.grad_accum=2", "optim.per_device_batch_size=1",
                        "rl.rollout_batch_size=1", "optim.weight_decay=0.0",
                        USER_REWARD))  # fmt: skip
    rows = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    for row in rows:
        assert row["train/pass1/ratio_mean"] == pytest.approx(1.0, abs=1e-4)
        assert row["train/pass1/clip_fraction"] == 0.0
        assert abs(row["train/pass2/ratio_mean"] - 1.0) > 1e-3  # the policy moved in between
        assert row["train/pass2/clip_fraction"] > 0.0
        assert row["train/clip_fraction"] > 0.0  # the Done-when line: it visibly clips
        assert row["train/pass1/grad_norm"] > 0 and row["train/pass2/grad_norm"] > 0
    assert (result.optimizer_steps, result.scheduler_steps) == (steps * iterations,) * 2


def test_lora_dropout_leaves_the_first_pass_on_policy(tiny_qwen25, rl_data, tmp_path, monkeypatch):
    """LoRA with a large dropout, two passes per batch: the rollouts, the old log-probs and
    every update pass come from the network without dropout (experience in eval mode, the
    update in train mode with dropout off: rl.update_dropout=false), so pass 1 differentiates
    the very policy that generated: ratio 1, nothing clipped, at every step (a dropout mask
    in either pass made pass 1 clip before any optimizer step). From step 2 on lora_B != 0,
    where a mask would act."""
    from video_r1.rollout import engine  # the native engine calls its sampler by this name

    modes = []  # (model in train mode, any dropout module active) at each generate call

    def recording_sampler(policy, *args, **kwargs):
        dropouts = [m for m in policy.modules() if isinstance(m, torch.nn.Dropout)]
        modes.append((policy.training, any(m.training for m in dropouts)))
        return sample_rollouts(policy, *args, **kwargs)

    sample_rollouts = engine.sample_rollouts
    monkeypatch.setattr(engine, "sample_rollouts", recording_sampler)
    train(_cfg(tiny_qwen25, rl_data, tmp_path / "run", "optim.max_steps=3",
               "rl.num_iterations=2", "rl.epsilon=0.05", "optim.lr=1e-2",
               "optim.weight_decay=0.0", "model.lora.enabled=true", "model.lora.dropout=0.3",
               USER_REWARD))  # fmt: skip
    rows = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    for row in rows:
        assert row["train/pass1/ratio_mean"] == pytest.approx(1.0, abs=1e-6)
        assert row["train/pass1/clip_fraction"] == 0.0
    assert any(abs(r["train/pass2/ratio_mean"] - 1.0) > 1e-4 for r in rows)  # the policy moved
    assert modes == [(False, False)] * 3  # every rollout from the network without dropout
