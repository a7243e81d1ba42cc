"""GRPO with bad records: an all-bad first micro-batch trains a weight-0 filler (no crash),
bad samples are logged once at the step they happened, and the run says what it skipped."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from _sft_data import write_cot_records

from video_r1.recipes.grpo import train
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.train.config import load_config
from video_r1.utils.io import read_jsonl

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.slow


def _cfg(model: Path, data: Path, out: Path, *extra: str) -> GRPOConfig:
    """Two steps of 2 micro-batches of 1 prompt, bad samples skipped, records in file order."""
    return load_config(
        GRPOConfig, REPO / "configs" / "grpo_tiny.yaml",
        [f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
         f"checkpoint.output_dir={out}", "logging.progress_bar=false", "data.shuffle=false",
         "data.on_bad_sample=skip", "optim.per_device_batch_size=1", "optim.grad_accum=2",
         "optim.max_steps=2", "rl.max_completion_length=6", "rl.num_generations=2",
         "rl.num_shuffled_generations=2", *extra],
    )  # fmt: skip


def test_all_bad_first_micro_batch_trains_a_filler_with_weight_zero(
    tiny_model_factory, tmp_path, capsys
):
    data = write_cot_records(tmp_path / "data", n=6, bad_paths=(0,))  # record 0: not a video
    out = tmp_path / "run"
    result = train(_cfg(tiny_model_factory("qwen2.5-vl"), data, out, "data.max_bad_fraction=0.5"))
    assert result.final_step == 2 and (out / "final").exists()
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    # step 1 trained on record 1 only (record 0 is bad; its micro-batch was a weight-0 filler)
    assert rows[0]["train/bad_samples"] == 1
    bad = read_jsonl(out / "bad_samples.jsonl")
    assert [(b["problem_id"], b["step"]) for b in bad] == [(0, 1)]
    assert "1 of" in capsys.readouterr().err  # the run says how many samples it skipped


def test_a_missing_decoding_library_stops_the_run_and_blames_no_record(
    tiny_model_factory, tmp_path, monkeypatch
):
    """Without PyAV and decord every video would fail: the machine's fault, not the records',
    so GRPO stops at the first step instead of skipping them as bad samples."""
    from video_r1.media import BackendMissing

    data = write_cot_records(tmp_path / "data", n=4)  # written with PyAV, before it goes
    for module in ("av", "decord"):
        monkeypatch.setitem(sys.modules, module, None)  # as on a machine without them
    out = tmp_path / "run"
    cfg = _cfg(tiny_model_factory("qwen2.5-vl"), data, out, "data.max_bad_fraction=0.9")
    with pytest.raises(BackendMissing, match=r"pip install av\); decord is not installed"):
        train(cfg)
    assert not (out / "bad_samples.jsonl").exists() or not read_jsonl(out / "bad_samples.jsonl")
    assert not (out / "final").exists()


@pytest.mark.parametrize("loss_type", ["sequence", "token", "dr_grpo"])
def test_a_filler_leaves_the_steps_gradient_that_of_its_real_micro_batches(
    tiny_model_factory, tmp_path, monkeypatch, loss_type
):
    """grad_accum 2, one micro-batch a weight-0 filler (its record was bad): the step's gradient
    is the mean over the micro-batches that really train, i.e. the gradient of the same step
    with the good micro-batch in both slots. accelerate divides every micro-batch's loss by
    grad_accum whatever its weight, so the sequence and dr_grpo losses (each micro-batch
    normalised on its own) must count the real ones; the token loss divides by the step's real
    tokens already."""
    import torch

    from video_r1.media.record_media import load_record_media
    from video_r1.recipes import grpo_step
    from video_r1.recipes.grpo import PhaseTimer, setup_step
    from video_r1.recipes.grpo_types import PromptBatch
    from video_r1.train.run import start_run

    rewards = Path(__file__).with_name("_rewards.py")  # varies: non-zero advantages
    data = write_cot_records(tmp_path / "data", n=4)
    cfg = _cfg(tiny_model_factory("qwen2.5-vl"), data, tmp_path / "run",
               f"rl.loss_type={loss_type}", "rl.temporal=false", "rl.num_generations=4",
               "rl.min_completion_length=1",
               f"rl.reward_funcs=[accuracy,{rewards}:text_length]")  # fmt: skip
    run = start_run(cfg, "grpo")
    ctx, _ = setup_step(cfg, run)
    good, other = run.records[1], run.records[2]
    batches = [
        PromptBatch([other], [load_record_media(other, cfg.media)], weight=0.0),  # the filler
        PromptBatch([good], [load_record_media(good, cfg.media)]),
    ]
    torch.manual_seed(0)
    filler, trained = grpo_step.collect_experience(ctx, batches, torch.Generator(), PhaseTimer())
    assert float(trained.advantages.abs().sum()) > 0

    def step_gradient(experience) -> dict[str, torch.Tensor]:
        grads = {}

        def capture(step_ctx) -> float:  # the optimizer step, without stepping
            for name, p in step_ctx.model.named_parameters():
                if p.grad is not None:
                    grads[name] = p.grad.clone()
            step_ctx.optimizer.zero_grad(set_to_none=True)
            return 0.0

        monkeypatch.setattr(grpo_step, "optimizer_step", capture)
        grpo_step.update(ctx, experience, PhaseTimer())
        return grads

    with_filler = step_gradient([filler, trained])
    real_only = step_gradient([trained, trained])  # the mean over real micro-batches
    assert with_filler.keys() == real_only.keys() and real_only
    norm = torch.cat([g.flatten() for g in real_only.values()]).norm()
    assert norm > 0
    for name, grad in real_only.items():
        torch.testing.assert_close(
            with_filler[name], grad, rtol=1e-5, atol=1e-6 * norm, msg=lambda m, n=name: f"{n}: {m}"
        )
