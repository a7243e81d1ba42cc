"""LoRA (peft) from the run config: SFT trains only the adapters, checkpoints hold the adapter,
`final` is the merged plain HF model, resume is exact, and GRPO takes its reference from the
same model with the adapters switched off."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from _sft_data import write_cot_records

from video_r1.recipes.sft import SFTConfig, train
from video_r1.train.config import load_config
from video_r1.utils.io import read_jsonl

REPO = Path(__file__).parents[2]
R, ALPHA = 8, 16
LORA = ("model.lora.enabled=true", f"model.lora.r={R}", f"model.lora.alpha={ALPHA}")
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sft_data(tmp_path_factory) -> Path:
    return write_cot_records(tmp_path_factory.mktemp("cot_lora"), n=8)


def _sft_cfg(model: Path, data: Path, out: Path, *overrides: str) -> SFTConfig:
    return load_config(
        SFTConfig,
        REPO / "configs" / "sft_tiny.yaml",
        [
            f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
            f"checkpoint.output_dir={out}", f"media.cache_dir={data.parent / 'frame_cache'}",
            "logging.progress_bar=false", "optim.max_steps=4", "checkpoint.save_every=2",
            "checkpoint.keep_last=0", *LORA, *overrides,
        ],
    )  # fmt: skip


def _adapter(checkpoint: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(checkpoint / "adapter_model.safetensors")


def _merged_by_hand(base: dict, adapter: dict) -> dict[str, torch.Tensor]:
    """base weights + (alpha / r) * B @ A for every adapted module: what merging must give."""
    merged = dict(base)
    for key, lora_a in adapter.items():
        if ".lora_A." not in key:
            continue
        lora_b = adapter[key.replace(".lora_A.", ".lora_B.")]
        # base_model.model.<module>.lora_A.weight -> <module>.weight
        name = key.removeprefix("base_model.model.").replace(".lora_A.weight", ".weight")
        merged[name] = base[name] + (ALPHA / R) * lora_b @ lora_a
    return merged


def test_sft_lora_trains_only_adapters_and_final_is_the_merged_model(
    tiny_qwen25: Path, sft_data: Path, tmp_path
) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from video_r1.models import load_model
    from video_r1.train.model import prepare_model

    out = tmp_path / "run"
    cfg = _sft_cfg(tiny_qwen25, sft_data, out)
    trainable = [n for n, p in prepare_model(cfg.model).named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable), trainable
    train(cfg)
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and all(r["train/grad_norm"] > 0 for r in rows)

    # checkpoints hold the adapter only, on every targeted language-model projection
    for step in (2, 4):
        ckpt = out / f"checkpoint-{step}"
        assert (ckpt / "adapter_config.json").is_file() and (ckpt / "README.md").is_file()
        assert not (ckpt / "model.safetensors").exists()
    early, late = _adapter(out / "checkpoint-2"), _adapter(out / "checkpoint-4")
    base_model = load_model(tiny_qwen25, dtype="float32")
    layers = base_model.config.text_config.num_hidden_layers
    assert len(late) == 2 * len(TARGETS) * layers  # lora_A and lora_B of each
    assert all(".language_model." in k for k in late)
    # every adapter tensor trained (lora_B starts at zero, so it moved before step 2 as well)
    assert all(not torch.equal(early[k], late[k]) for k in late)
    assert all(early[k].abs().max() > 0 for k in early if ".lora_B." in k)

    # final: a plain HF model = untouched base weights + the checkpoint-4 adapter merged in
    final = out / "final"
    assert (final / "model.safetensors").is_file() and not (final / "adapter_config.json").exists()
    model = AutoModelForImageTextToText.from_pretrained(final)
    assert not hasattr(model, "peft_config")
    base = base_model.state_dict()
    expected = _merged_by_hand(base, late)
    got = model.state_dict()
    assert got.keys() == base.keys()
    changed = {k for k in got if not torch.equal(got[k], base[k])}
    assert changed == {k for k in expected if expected[k] is not base[k]}  # adapted ones only
    assert max((got[k] - expected[k]).abs().max().item() for k in changed) <= 1e-6
    # ... which generates, and matches the adapter checkpoint loaded the way its README says
    processor = AutoProcessor.from_pretrained(final)
    prompt = processor.tokenizer("How many squares?", return_tensors="pt")
    kwargs = {**prompt, "mm_token_type_ids": torch.zeros_like(prompt["input_ids"])}
    generated = model.generate(**kwargs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert generated.shape == (1, prompt["input_ids"].shape[1] + 4)
    with_adapter = AutoModelForImageTextToText.from_pretrained(out / "checkpoint-4")
    with torch.no_grad():
        diff = (with_adapter(**kwargs).logits - model(**kwargs).logits).abs().max().item()
    assert diff <= 1e-5


def test_sft_lora_resume_matches_straight_run(tiny_qwen25: Path, sft_data: Path, tmp_path):
    # default LoRA dropout (0.05): equal curves also need the restored RNG states
    straight = tmp_path / "straight"
    full = train(_sft_cfg(tiny_qwen25, sft_data, straight, "optim.warmup_steps=1"))
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(straight / "checkpoint-2", resumed / "checkpoint-2")
    shutil.copy(straight / "metrics.jsonl", resumed / "metrics.jsonl")
    shutil.copytree(straight / "data_order", resumed / "data_order")
    again = train(_sft_cfg(tiny_qwen25, sft_data, resumed, "optim.warmup_steps=1"), "latest")
    assert json.loads((resumed / "checkpoint-4" / "trainer_state.json").read_text())["step"] == 4

    curve_a = [r["train/loss"] for r in read_jsonl(straight / "metrics.jsonl")]
    curve_b = [r["train/loss"] for r in read_jsonl(resumed / "metrics.jsonl")]
    assert len(curve_b) == 4 and curve_b == pytest.approx(curve_a, abs=1e-6)
    a, b = _adapter(straight / "checkpoint-4"), _adapter(resumed / "checkpoint-4")
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6
    sa, sb = full.model.state_dict(), again.model.state_dict()  # the merged models
    assert max((sa[k] - sb[k]).abs().max().item() for k in sa) <= 1e-6


def test_resume_refuses_a_checkpoint_that_does_not_fit_the_lora_settings(
    tiny_qwen25: Path, sft_data: Path, tmp_path
) -> None:
    from video_r1.train.checkpoint import CheckpointError
    from video_r1.train.model import prepare_model

    out = tmp_path / "run"
    train(_sft_cfg(tiny_qwen25, sft_data, out, "optim.max_steps=1", "optim.grad_accum=1"))
    adapter_ckpt = out / "checkpoint-1"
    other_rank = _sft_cfg(tiny_qwen25, sft_data, out, "model.lora.r=4").model
    with pytest.raises(
        CheckpointError, match=r"adapter_config.json: adapter trained with r 8 \(config: 4\)"
    ):
        prepare_model(other_rank, checkpoint=adapter_ckpt)  # peft would quietly use r=8
    full = _sft_cfg(tiny_qwen25, sft_data, out, "model.lora.enabled=false").model
    with pytest.raises(CheckpointError, match="holds a LoRA adapter.*model.lora.enabled=true"):
        prepare_model(full, checkpoint=adapter_ckpt)
    (adapter_ckpt / "adapter_config.json").unlink()
    with pytest.raises(CheckpointError, match="no adapter_config.json"):
        prepare_model(_sft_cfg(tiny_qwen25, sft_data, out).model, checkpoint=adapter_ckpt)


def test_grpo_lora_reference_is_the_model_without_adapters(tiny_qwen25: Path, sft_data, tmp_path):
    from transformers import AutoModelForImageTextToText

    from video_r1.recipes.grpo import train as train_grpo
    from video_r1.recipes.grpo_config import GRPOConfig

    text_length = f"{Path(__file__).with_name('_rewards.py')}:text_length"  # varies: advantages
    out = tmp_path / "grpo"
    cfg = load_config(
        GRPOConfig,
        REPO / "configs" / "grpo_tiny.yaml",
        [
            f"model.path={tiny_qwen25}", f"data.train_file={sft_data}",
            f"data.media_root={sft_data.parent}", f"checkpoint.output_dir={out}",
            "logging.progress_bar=false", "data.shuffle=false", "rl.max_completion_length=8",
            f"rl.reward_funcs=[accuracy,format,{text_length}]", "rl.beta=0.04",
            "optim.max_steps=2", "optim.lr=1e-3", *LORA,
        ],
    )  # fmt: skip
    train_grpo(cfg)
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    # before any update the policy is the reference (lora_B = 0): the KL is exactly 0 ...
    assert rows[0]["train/kl"] == 0.0 and rows[0]["train/grad_norm"] > 0
    # ... and after one, the adapters moved the policy away from the adapter-free reference
    assert rows[1]["train/kl"] > 0
    assert (out / "checkpoint-2" / "adapter_model.safetensors").is_file()
    base = AutoModelForImageTextToText.from_pretrained(tiny_qwen25).state_dict()
    merged = AutoModelForImageTextToText.from_pretrained(out / "final").state_dict()
    changed = {k for k in base if not torch.equal(base[k], merged[k])}
    assert changed and all(k.rsplit(".", 2)[-2] in TARGETS for k in changed)
