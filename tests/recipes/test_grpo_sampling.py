"""Common random numbers (rl.paired_sampling): a GRPO and a T-GRPO run of one seed draw the
same ordered rollouts, and the published bonus then changes nothing when only a 0/1 accuracy
varies (the cancellation of docs/experiment_temporal.md, end to end)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _sft_data import write_cot_records

from video_r1.recipes.grpo import train
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.train.config import load_config
from video_r1.utils.io import read_jsonl

REPO = Path(__file__).parents[2]
# a 0/1 accuracy that varies inside groups of a random model; no format term, no length bonus:
# the rewards are two-valued, the case where group std scaling cancels the published bonus
PARITY = f"{Path(__file__).with_name('_rewards.py')}:text_parity"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rl_data(tmp_path_factory) -> Path:
    return write_cot_records(tmp_path_factory.mktemp("paired_data"), n=8)  # video, image, ...


def _run(model: Path, data: Path, out: Path, temporal: bool, paired: bool) -> list[dict]:
    cfg = load_config(
        GRPOConfig,
        REPO / "configs" / "grpo_tiny.yaml",
        [
            f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
            f"checkpoint.output_dir={out}", "logging.progress_bar=false", "data.shuffle=false",
            "rl.max_completion_length=12", "optim.max_steps=2", "optim.per_device_batch_size=2",
            "optim.lr=1e-3", "rl.debug_rollouts=1000", f"rl.reward_funcs=[{PARITY}]",
            "rl.num_generations=8",  # a group without signal (all 0 or all 1): 2 in 256
            f"rl.accuracy_reward={PARITY}", "rl.mu=0.0", f"rl.temporal={str(temporal).lower()}",
            f"rl.paired_sampling={str(paired).lower()}",
        ],
    )  # fmt: skip
    train(cfg)
    return read_jsonl(out / "rollouts.jsonl")


def _ordered(rows: list[dict], step: int) -> list[tuple]:
    return [(r["problem_id"], r["completion"]) for r in rows
            if r["step"] == step and r["order"] == "ordered"]  # fmt: skip


def test_paired_runs_share_ordered_rollouts_and_the_published_bonus_cancels(
    tiny_qwen25, rl_data, tmp_path
):
    grpo = _run(tiny_qwen25, rl_data, tmp_path / "grpo", temporal=False, paired=True)
    tgrpo = _run(tiny_qwen25, rl_data, tmp_path / "tgrpo", temporal=True, paired=True)
    assert any(r["order"] == "shuffled" for r in tgrpo) and not any(
        r["order"] == "shuffled" for r in grpo
    )
    # step 1: same policy, same ordered samples although T-GRPO also drew shuffled ones
    assert _ordered(grpo, 1) == _ordered(tgrpo, 1)
    # the bonus was given (mu 0: every video group passes) to some correct rollouts ...
    assert any(r.get("temporal_bonus", 0) > 0 for r in tgrpo if r["step"] == 1)
    # ... and some group had signal, so the update moved the policy ...
    totals = [r["total"] for r in grpo if r["step"] == 1 and r["order"] == "ordered"]
    assert 0 < sum(totals) < len(totals)
    # ... yet with a two-valued reward the normalised advantages are GRPO's: the two updates
    # coincide, and step 2 samples the same ordered rollouts again
    assert _ordered(grpo, 2) == _ordered(tgrpo, 2)


def test_without_paired_sampling_the_shuffled_rollouts_share_the_stream(
    tiny_qwen25, rl_data, tmp_path
):
    """The default (one generate call on the global stream) is unchanged: drawing the
    shuffled rollouts moves the ordered ones, the reason for the setting."""
    grpo = _run(tiny_qwen25, rl_data, tmp_path / "grpo", temporal=False, paired=False)
    tgrpo = _run(tiny_qwen25, rl_data, tmp_path / "tgrpo", temporal=True, paired=False)
    assert _ordered(grpo, 1) != _ordered(tgrpo, 1)
