"""The GRPO step's helpers: the bad-sample filler, generate-call sizes, the LoRA reference."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch
from _sft_data import write_cot_records

from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.recipes.grpo_step import (
    PromptBatch,
    RolloutChunk,
    StepContext,
    chunk_micro_batches,
    fill_bad_batches,
    reference_logprobs,
)
from video_r1.train.config import ConfigError, load_config

REPO = Path(__file__).parents[2]
REQUIRED = ["model.path=m", "data.train_file=t", "data.media_root=.", "checkpoint.output_dir=o"]


def test_filler_is_loaded_once_per_step_and_trains_with_weight_zero():
    good, later = PromptBatch(["r0"], ["m0"]), PromptBatch(["r2"], ["m2"])
    loads = []

    def load_filler():  # the next good record of the epoch order (find_filler)
        loads.append(1)
        return PromptBatch(["r5"], ["m5"])

    batches = fill_bad_batches([good, PromptBatch([], []), later, PromptBatch([], [])], load_filler)
    assert [(b.records, b.weight) for b in batches] == [
        (["r0"], 1.0), (["r5"], 0.0), (["r2"], 1.0), (["r5"], 0.0)
    ]  # fmt: skip
    assert len(loads) == 1
    # the first micro-batch of a rank may be all bad: no crash, the filler stands in
    batches = fill_bad_batches([PromptBatch([], []), good], load_filler)
    assert [(b.records, b.weight) for b in batches] == [(["r5"], 0.0), (["r0"], 1.0)]
    # a step without bad micro-batches loads no filler
    fill_bad_batches([good], lambda: pytest.fail("no filler needed"))


def test_rollout_batch_size_sets_generate_calls_in_whole_micro_batches():
    cfg = load_config(GRPOConfig, None, [*REQUIRED, "optim.grad_accum=4"])
    assert chunk_micro_batches(cfg) == 4  # default: the whole step in one call
    cfg = load_config(
        GRPOConfig, None, [*REQUIRED, "optim.grad_accum=4", "rl.rollout_batch_size=2"]
    )
    assert chunk_micro_batches(cfg) == 2
    with pytest.raises(ConfigError, match="rollout_batch_size 3 must be a multiple of optim.per"):
        load_config(GRPOConfig, None, [*REQUIRED, "optim.per_device_batch_size=2",
                                       "rl.rollout_batch_size=3"])  # fmt: skip


# adapters on the vision tower (attention and MLP of its blocks) and on the language model
VISION_LORA = (
    r".*visual.*\.(qkv|proj|gate_proj|up_proj|down_proj)$|.*language_model.*\.(q_proj|v_proj)$"
)


@pytest.mark.slow
def test_lora_on_the_vision_tower_gives_the_reference_base_model_features(
    tiny_model_factory, tmp_path
):
    from video_r1.data import load_records
    from video_r1.media.record_media import load_record_media
    from video_r1.models import generation_config, load_model, load_processor, stop_token_ids
    from video_r1.prompts import build_messages, encode_prompts
    from video_r1.rollout import completion_logprobs, encode_vision, generate_rollouts
    from video_r1.train.model import prepare_model

    model_dir = tiny_model_factory("qwen2.5-vl")
    data = write_cot_records(tmp_path / "data", n=2)
    cfg = load_config(GRPOConfig, REPO / "configs" / "grpo_tiny.yaml", [
        f"model.path={model_dir}", f"data.train_file={data}", f"data.media_root={data.parent}",
        "model.lora.enabled=true", "model.lora.dropout=0.0", f"model.lora.target_modules='{VISION_LORA}'",
    ])  # fmt: skip
    torch.manual_seed(0)
    policy = prepare_model(cfg.model)
    for name, param in policy.named_parameters():
        if ".lora_B." in name:  # lora_B starts at 0 (adapters = identity): move them
            param.data.normal_(0.0, 0.5)
    assert any("visual" in n and ".lora_" in n for n, _ in policy.named_parameters())
    processor = load_processor(model_dir)
    record = load_records(data, data.parent)[0]  # the video record
    media = load_record_media(record, cfg.media)
    inputs = encode_prompts(processor, [build_messages(record)], [media]).model_inputs
    gen = generation_config(policy, processor, temperature=1.0, top_p=1.0, max_new_tokens=6)
    with torch.no_grad():
        encoded = encode_vision(policy, inputs)  # the adapted tower's features
        rollouts = generate_rollouts(policy, encoded, [3], gen, stop_token_ids(processor.tokenizer))
        ctx = StepContext(cfg=cfg, accelerator=None, model=policy, policy=policy, reference=None,
                          processor=processor, optimizer=None, scheduler=None, gen_config=gen,
                          eos_ids=[], terms=[], scoring=None, vision_trainable=True,
                          zero3=False)  # fmt: skip
        chunk = RolloutChunk(inputs, encoded, rollouts, texts=[])
        index = torch.arange(3)
        ref = reference_logprobs(ctx, chunk, rows=[0], index=index)
        base = load_model(model_dir, dtype="float32").eval()
        expected = completion_logprobs(base, encode_vision(base, inputs), rollouts, index)
        with policy.disable_adapter():  # what the reference used before: adapted features
            adapted = completion_logprobs(policy, encoded, rollouts, index)
    mask = rollouts.completion_mask.bool()
    assert torch.allclose(ref[mask], expected[mask], atol=1e-5)
    assert (adapted[mask] - expected[mask]).abs().max() > 1e-3  # the test can tell them apart


def test_policy_mode_turns_dropout_off_in_eval_and_on_request_in_train():
    """Generation in eval mode; log-prob passes and the update in train mode (gradient
    checkpointing needs it) with the dropout modules off unless rl.update_dropout."""
    from video_r1.train.model import set_policy_mode

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5), torch.nn.Linear(2, 2))
    set_policy_mode(model, training=False)
    assert [m.training for m in model] == [False, False, False]
    set_policy_mode(model, training=True)
    assert [m.training for m in model] == [True, False, True]
    set_policy_mode(model, training=True, dropout=True)
    assert [m.training for m in model] == [True, True, True]


def test_rl_prompts_state_frame_times_as_the_setting_says(tiny_model_factory, tmp_path):
    """A GRPO generate call on Qwen2-VL (no sense of time): a temporal grounding record's
    ordered and shuffled rows both state the ordered frames' times under `auto`, none under
    `data.frame_times_in_prompt=off`."""
    import types

    from video_r1.data import load_records
    from video_r1.media.record_media import load_record_media
    from video_r1.models import generation_config, load_model, load_processor
    from video_r1.recipes.grpo import load_reward_terms, scoring_settings
    from video_r1.recipes.grpo_step import generate_and_score
    from video_r1.rollout.engine import NativeEngine
    from video_r1.synth import generate_benchmark

    model_dir = tiny_model_factory("qwen2-vl")
    generate_benchmark(tmp_path, 4, seed=0, tasks=["lamp_window"])
    model = load_model(model_dir, dtype="float32")
    processor = load_processor(model_dir)
    texts = {}
    for setting in ("auto", "off"):
        cfg = load_config(GRPOConfig, REPO / "configs" / "grpo_tiny.yaml", [
            f"model.path={model_dir}", f"data.train_file={tmp_path / 'train.jsonl'}",
            f"data.media_root={tmp_path}", "rl.max_completion_length=4",
            f"data.frame_times_in_prompt={setting}",
        ])  # fmt: skip
        record = load_records(cfg.data.train_file, tmp_path)[0]
        media = load_record_media(record, cfg.media)
        gen = generation_config(model, processor, temperature=1.0, top_p=1.0, max_new_tokens=4)
        ctx = StepContext(cfg=cfg, accelerator=types.SimpleNamespace(device=torch.device("cpu")),
                          model=model, policy=model, reference=None, processor=processor,
                          optimizer=None, scheduler=types.SimpleNamespace(
                              scheduler=types.SimpleNamespace(last_epoch=0)),
                          gen_config=gen, eos_ids=list(gen.eos_token_id),
                          terms=load_reward_terms(cfg), scoring=scoring_settings(cfg.rl),
                          vision_trainable=False, zero3=False, engine=NativeEngine(model))  # fmt: skip
        timer = lambda name: contextlib.nullcontext()  # noqa: E731
        chunk, _, _ = generate_and_score(ctx, [PromptBatch([record], [media])],
                                         torch.Generator().manual_seed(0), timer, None)  # fmt: skip
        ids = chunk.inputs["input_ids"]
        texts[setting] = [processor.tokenizer.decode(row, skip_special_tokens=True) for row in ids]
    times = ", ".join(f"{i / media.source_fps:.2f}" for i in media.indices)
    assert len(texts["auto"]) == 2  # the ordered row and the time-shuffled one (T-GRPO)
    assert all(f"The video frames were taken at {times} seconds." in t for t in texts["auto"])
    assert not any("frames were taken" in t for t in texts["off"])
