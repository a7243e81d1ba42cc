"""SFT recipe on a tiny real Qwen2.5-VL: masking, loss falls, exact resume, HF-loadable output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from _sft_data import write_cot_records

from video_r1.recipes.sft import IGNORE_INDEX, SFTConfig, encode_record, train
from video_r1.train.config import load_config
from video_r1.utils.io import read_jsonl

TINY_YAML = Path(__file__).parents[2] / "configs" / "sft_tiny.yaml"


@pytest.fixture(scope="module")
def sft_data(tmp_path_factory) -> Path:
    return write_cot_records(tmp_path_factory.mktemp("cot"), n=8)


def _cfg(model: Path, data: Path, out: Path, *overrides: str) -> SFTConfig:
    return load_config(
        SFTConfig,
        TINY_YAML,
        [
            f"model.path={model}",
            f"data.train_file={data}",
            f"data.media_root={data.parent}",
            f"checkpoint.output_dir={out}",
            f"media.cache_dir={data.parent / 'frame_cache'}",
            "logging.progress_bar=false",
            *overrides,
        ],
    )


def test_labels_only_on_assistant_tokens(tiny_qwen25: Path, sft_data: Path, tmp_path) -> None:
    from video_r1.data import load_records
    from video_r1.models import load_processor, vision_token_ids

    cfg = _cfg(tiny_qwen25, sft_data, tmp_path)
    processor = load_processor(tiny_qwen25)
    record = load_records(sft_data, sft_data.parent)[0]  # a video record
    assert record.data_type == "video"
    inputs, labels = encode_record(record, processor, cfg, None)
    ids = inputs["input_ids"][0]  # [L]
    trained = labels[0] != IGNORE_INDEX
    vision = torch.isin(ids, torch.tensor(vision_token_ids(processor.tokenizer)))
    assert int(vision.sum()) > 8  # the video placeholders are in the sequence...
    assert not (trained & vision).any()  # ...and none of them is trained on
    assert torch.equal(labels[0][trained], ids[trained])
    # the trained span is exactly the target and the closing <|im_end|>, at the end
    text = processor.tokenizer.decode(ids[trained])
    assert text == record.process + "\n" + record.solution + "<|im_end|>"
    assert trained.nonzero().min() > (ids == ids[vision][0]).nonzero().max()


def test_loss_falls_and_final_model_generates(tiny_qwen25: Path, sft_data: Path, tmp_path) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from video_r1.models import load_model

    out = tmp_path / "run"
    cfg = _cfg(tiny_qwen25, sft_data, out, "optim.epochs=3", "checkpoint.save_every=0")
    result = train(cfg)
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 13))  # 8 records / (1 x 2 accum) x 3
    losses = [r["train/loss"] for r in rows]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.5, losses
    for key in ("train/lr", "train/grad_norm", "train/tokens_per_s", "train/samples_per_s",
                "train/step_time_s", "train/memory_gb"):  # fmt: skip
        assert all(r[key] > 0 for r in rows), key
    # every trainable parameter moved
    before = load_model(tiny_qwen25, dtype="float32").state_dict()
    after = result.model.state_dict()
    unchanged = [k for k, v in after.items() if torch.equal(v, before[k])]
    assert unchanged == [], unchanged
    # the final model is plain Hugging Face: loads with from_pretrained and generates
    final = out / "final"
    assert (final / "model.safetensors").is_file() and (final / "config.yaml").is_file()
    model = AutoModelForImageTextToText.from_pretrained(final)
    processor = AutoProcessor.from_pretrained(final)
    for k, v in model.state_dict().items():
        assert torch.equal(v, after[k]), k
    prompt = processor.tokenizer("How many squares?", return_tensors="pt")
    generated = model.generate(
        **prompt, mm_token_type_ids=torch.zeros_like(prompt["input_ids"]),
        max_new_tokens=4, min_new_tokens=4, do_sample=False,
    )  # fmt: skip
    assert generated.shape == (1, prompt["input_ids"].shape[1] + 4)
    state = json.loads((final / "trainer_state.json").read_text())
    assert state["step"] == 12 and state["num_records"] == 8


def test_resume_matches_straight_run(tiny_qwen25: Path, sft_data: Path, tmp_path, capsys) -> None:
    overrides = ("optim.max_steps=4", "checkpoint.save_every=2", "checkpoint.keep_last=0",
                 "optim.warmup_steps=1")  # fmt: skip
    straight = tmp_path / "straight"
    capsys.readouterr()
    full = train(_cfg(tiny_qwen25, sft_data, straight, *overrides))
    # checkpoint saves draw no bar of transformers' own (a SIGTERM mid-save left one unfinished,
    # and the run's error line was glued to its end)
    assert "Writing model shards" not in capsys.readouterr().err
    # The interrupted run: its checkpoint-2, plus what a crash leaves behind: metrics and data
    # order of steps after the checkpoint, and a half-written checkpoint-4.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(straight / "checkpoint-2", resumed / "checkpoint-2")
    shutil.copy(straight / "metrics.jsonl", resumed / "metrics.jsonl")
    shutil.copytree(straight / "data_order", resumed / "data_order")
    (resumed / ".tmp-checkpoint-4" / "state").mkdir(parents=True)
    again = train(_cfg(tiny_qwen25, sft_data, resumed, *overrides), resume="latest")

    a, b = full.model.state_dict(), again.model.state_dict()
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6
    curve_a = [r["train/loss"] for r in read_jsonl(straight / "metrics.jsonl")]
    curve_b = [r["train/loss"] for r in read_jsonl(resumed / "metrics.jsonl")]
    assert len(curve_b) == 4 and curve_b == pytest.approx(curve_a, abs=1e-6)
    lrs = [r["train/lr"] for r in read_jsonl(resumed / "metrics.jsonl")]
    assert lrs == pytest.approx([r["train/lr"] for r in read_jsonl(straight / "metrics.jsonl")])
    assert read_jsonl(resumed / "data_order" / "rank0.jsonl") == read_jsonl(
        straight / "data_order" / "rank0.jsonl"
    )  # no record lost or repeated
    assert not (resumed / ".tmp-checkpoint-4").exists()  # replaced by the complete one


def test_bad_samples_skipped_logged_and_capped(tiny_qwen25: Path, tmp_path) -> None:
    data = write_cot_records(tmp_path / "data", n=4, bad_paths=(2,))
    out = tmp_path / "run"
    cfg = _cfg(tiny_qwen25, data, out, "optim.grad_accum=1", "optim.epochs=1",
               "data.max_bad_fraction=0.3", "data.shuffle=false")  # fmt: skip
    train(cfg)
    [row] = read_jsonl(out / "bad_samples.jsonl")
    assert row["problem_id"] == 2 and row["source"].endswith("train.jsonl:3")
    assert [r["train/bad_samples"] for r in read_jsonl(out / "metrics.jsonl")] == [0, 0, 1, 1]
    # the bad record is dropped, not replaced: step 3 trained no sample
    assert [r["train/samples_per_s"] > 0 for r in read_jsonl(out / "metrics.jsonl")] == [
        True, True, False, True,
    ]  # fmt: skip

    from video_r1.train.bad_samples import BadSampleError

    strict = _cfg(tiny_qwen25, data, tmp_path / "run2", "optim.grad_accum=1",
                  "data.on_bad_sample=error", "data.shuffle=false")  # fmt: skip
    with pytest.raises(BadSampleError, match=r"train.jsonl:3 \(problem_id 2\)"):
        train(strict)
    capped = _cfg(tiny_qwen25, data, tmp_path / "run3", "optim.grad_accum=1",
                  "data.max_bad_fraction=0.2", "data.shuffle=false")  # fmt: skip
    with pytest.raises(BadSampleError, match="1 bad samples of the 4"):
        train(capped)


def test_mixed_image_video_batch_loss_equals_single_examples(
    tiny_qwen25: Path, sft_data: Path, tmp_path
) -> None:
    from video_r1.data import load_records
    from video_r1.models import load_model, load_processor
    from video_r1.recipes.sft import collate, token_loss_sum

    cfg = _cfg(tiny_qwen25, sft_data, tmp_path)
    processor = load_processor(tiny_qwen25)
    model = load_model(tiny_qwen25, dtype="float32").eval()
    records = load_records(sft_data, sft_data.parent)[:2]  # a video and an image
    assert [r.data_type for r in records] == ["video", "image"]
    examples = [encode_record(r, processor, cfg, None) for r in records]
    inputs, labels = collate(examples, processor)
    assert labels.shape[0] == 2
    with torch.no_grad():
        batched = token_loss_sum(model(**inputs).logits, labels)
        single = sum(token_loss_sum(model(**i).logits, lab) for i, lab in examples)
    assert batched.item() == pytest.approx(single.item(), rel=1e-4)
