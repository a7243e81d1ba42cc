"""The vLLM engine against the native one, on the three tiny architectures (all three run on
vLLM's CPU backend): greedy tokens equal on text, image and video prompts, the sampled tokens'
log-probs equal the trainer's, and a weight push changes the outputs and the old weights
restore them exactly. One engine per architecture for the module."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
from pathlib import Path
from unittest.mock import patch

import pytest
import torch

import video_r1.rollout.logprobs as logprobs_module
from video_r1.data.records import Record
from video_r1.media import VideoSettings, load_video
from video_r1.media.types import Clip
from video_r1.models import generation_config, load_model, load_processor, stop_token_ids
from video_r1.prompts import (
    build_messages,
    encode_prompts,
    processor_factor,
    prompt_messages,
    prompt_text,
)
from video_r1.rollout import completion_logprobs, encode_vision
from video_r1.rollout.engine import NativeEngine, RolloutRequest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm not installed"),
]
# vLLM and the trainer compute the same float32 softmax with other kernels: measured gaps
# 1e-6 to 1.5e-6 on these models; a wrong position, pixel or weight shows as 1e-3 and more
LOGPROB_TOLERANCE = 1e-4


def _record(data_type: str) -> Record:
    return Record(problem_id=1, problem="What happens?", data_type=data_type,
                  problem_type="multiple choice", solution="<answer>A</answer>", path="x",
                  media_path=Path("x"), options=("A. left", "B. right"))  # fmt: skip


@pytest.fixture(scope="module", params=("qwen2-vl", "qwen2.5-vl", "qwen3-vl"))
def setup(request, tiny_model_factory, video1):
    """(model, processor, prompts, engine) for one architecture: a video, an image, the
    video reversed and a text-only prompt."""
    from video_r1.rollout.vllm_engine import VLLMEngine, VLLMSettings

    path = tiny_model_factory(request.param)
    torch.manual_seed(0)
    model = load_model(path, dtype="float32").eval()
    processor = load_processor(path)
    factor = processor_factor(processor)
    clip = load_video(
        video1, VideoSettings(max_frames=8, min_pixels=4 * factor**2,
                              max_pixels=16 * factor**2, factor=factor),
    )  # fmt: skip
    messages = [build_messages(_record("video")), build_messages(_record("image")),
                build_messages(_record("video")),
                [{"role": "user", "content": [{"type": "text", "text": "Say something."}]}]]  # fmt: skip
    media = [clip, clip.frames[0], clip.reordered(list(range(clip.num_frames))[::-1]), None]
    batch = encode_prompts(processor, messages, media)
    texts = [prompt_text(processor, m) for m in messages]
    engine = VLLMEngine(
        str(path), VLLMSettings(dtype="float32", kv_cache_gb=0.05, max_model_len=4096,
                                enforce_eager=True),
    )  # fmt: skip
    return model, processor, (batch, texts, media), engine


def _request(model, processor, prompts, counts, **decoding) -> RolloutRequest:
    batch, texts, media = prompts
    with torch.no_grad():
        encoded = encode_vision(model, batch.model_inputs)
    config = generation_config(model, processor, max_new_tokens=12, **decoding)
    return RolloutRequest(encoded, texts, media, counts, config,
                          stop_token_ids(processor.tokenizer, model))  # fmt: skip


def _greedy(engine, model, processor, prompts):
    return engine.generate(_request(model, processor, prompts, [1] * 4, do_sample=False))


def test_greedy_tokens_equal_the_native_engines(setup):
    model, processor, prompts, engine = setup
    native = _greedy(NativeEngine(model), model, processor, prompts)
    vllm = _greedy(engine, model, processor, prompts)
    assert vllm.rows.tolist() == native.rows.tolist() == [0, 1, 2, 3]
    assert torch.equal(vllm.completion_ids, native.completion_ids)
    assert torch.equal(vllm.completion_mask, native.completion_mask)
    assert torch.equal(vllm.prompt_ids, native.prompt_ids)  # the trainer's own prompt rows


def _sampler_logprobs(model, request, rollouts, temperature: float) -> torch.Tensor:
    """The trainer's log-probs of the sampled tokens under the distribution that drew them:
    suppressed ids (vision placeholders) out of the softmax, as vLLM's processed log-probs."""
    suppressed = list(request.generation_config.suppress_tokens)
    plain = logprobs_module.selective_log_softmax

    def without_suppressed(logits, ids, temperature=1.0):
        return plain(logits.index_fill(-1, torch.tensor(suppressed), float("-inf")), ids,
                     temperature)  # fmt: skip

    with torch.no_grad(), patch.object(logprobs_module, "selective_log_softmax",
                                       without_suppressed):  # fmt: skip
        return completion_logprobs(model, request.encoded, rollouts, temperature=temperature)


def test_sampled_token_logprobs_are_the_trainers(setup):
    model, processor, prompts, engine = setup
    request = _request(model, processor, prompts, [3, 2, 2, 1], temperature=0.7, top_p=1.0,
                       top_k=0)  # fmt: skip
    rollouts = engine.generate(request)
    assert rollouts.rows.tolist() == [0, 0, 0, 1, 1, 2, 2, 3]
    mask = rollouts.completion_mask.bool()
    expected = _sampler_logprobs(model, request, rollouts, 0.7)
    assert (rollouts.logprobs - expected)[mask].abs().max() < LOGPROB_TOLERANCE
    assert (rollouts.logprobs[~mask] == 0).all()
    # the full softmax (what the loss scores) differs by the suppressed ids' share only
    plain = completion_logprobs(model, request.encoded, rollouts, temperature=0.7)
    assert ((rollouts.logprobs - plain)[mask] > -LOGPROB_TOLERANCE).all()


def test_sampled_rollouts_past_one_scheduler_step(setup):
    """More prompt tokens than one scheduler step takes: vLLM's CPU build, prefilling a
    request in chunks, rewinds its seeded generator (`set_offset`), which CPU generators
    refuse; the engine has the scheduler take whole prompts on CPU instead."""
    model, processor, prompts, engine = setup
    budget = engine.llm.llm_engine.vllm_config.scheduler_config.max_num_batched_tokens
    counts = [24, 24, 24, 24]
    request = _request(model, processor, prompts, counts, temperature=1.0, top_p=1.0, top_k=0)
    prompt_tokens = request.encoded.inputs["attention_mask"].sum(dim=1)
    assert int((prompt_tokens * torch.tensor(counts)).sum()) > budget  # several steps' worth
    rollouts = engine.generate(request)
    assert rollouts.rows.tolist() == [r for r, n in enumerate(counts) for _ in range(n)]
    mask = rollouts.completion_mask.bool()
    expected = _sampler_logprobs(model, request, rollouts, 1.0)
    assert (rollouts.logprobs - expected)[mask].abs().max() < LOGPROB_TOLERANCE


def test_frame_times_reach_vllm_as_they_reach_the_native_model(setup):
    """A clip whose frames are 1.5 s apart (not its sampling's spacing) with its times stated
    in the prompt: vLLM's prompt tokens are the trainer's (the stated times, Qwen3-VL's
    timestamp text) and its sampled tokens' log-probs are the trainer's (Qwen2.5-VL's time
    positions: a temporal patch placed elsewhere shows as 1e-3 and more)."""
    from video_r1.rollout.vllm_engine import vllm_prompt

    model, processor, (_, _, media), engine = setup
    clip = media[0]
    indices = tuple(range(0, 15 * clip.num_frames, 15))
    retimed = Clip(clip.frames, indices, tuple(i / 10.0 for i in indices), 10.0, clip.path)
    record = dataclasses.replace(_record("video"), problem_type="temporal grounding", options=(),
                                 solution="<answer>[1.5, 4.5]</answer>")  # fmt: skip
    messages = prompt_messages(processor, [record], [retimed], frame_times_in_prompt="on")
    batch = encode_prompts(processor, messages, [retimed])
    text = prompt_text(processor, messages[0])
    assert "1.50, 3.00" in text
    request = _request(model, processor, (batch, [text], [retimed]), [4], temperature=0.7,
                       top_p=1.0, top_k=0)  # fmt: skip
    rollouts = engine.generate(request)
    mask = rollouts.completion_mask.bool()
    expected = _sampler_logprobs(model, request, rollouts, 0.7)
    assert (rollouts.logprobs - expected)[mask].abs().max() < LOGPROB_TOLERANCE
    params = engine._vllm.SamplingParams(max_tokens=1)
    (out,) = engine.llm.generate([vllm_prompt(text, retimed)], params, use_tqdm=False)
    assert list(out.prompt_token_ids) == batch.input_ids[0].tolist()


def test_weight_push_changes_outputs_and_old_weights_restore_them(setup):
    from video_r1.rollout.vllm_engine import policy_weights

    model, processor, prompts, engine = setup
    original = [(name, tensor.clone()) for name, tensor in policy_weights(model)]
    before = _greedy(engine, model, processor, prompts)
    changed = copy.deepcopy(model)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(1)
        for parameter in changed.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    assert engine.sync_weights(changed, version=1)
    assert not engine.sync_weights(changed, version=1)  # unchanged version: nothing pushed
    after = _greedy(engine, changed, processor, prompts)
    assert not torch.equal(after.completion_ids, before.completion_ids)
    native = _greedy(NativeEngine(changed), changed, processor, prompts)
    assert torch.equal(after.completion_ids, native.completion_ids)
    engine.push_weights(original)
    engine.version = None
    restored = _greedy(engine, model, processor, prompts)
    assert torch.equal(restored.completion_ids, before.completion_ids)
    assert torch.equal(restored.logprobs, before.logprobs)  # exactly, not just the argmax


def test_lora_policy_pushes_merged_weights_and_keeps_its_own(setup):
    """peft adapters are merged into copies: vLLM generates as the adapted model does, and the
    trained model's base weights are untouched (no merge / unmerge rounding)."""
    from peft import LoraConfig, get_peft_model

    from video_r1.rollout.vllm_engine import policy_weights

    model, processor, prompts, engine = setup
    policy = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, lora_alpha=8,
                            target_modules=["q_proj", "v_proj", "down_proj"]))  # fmt: skip
    with torch.no_grad():
        for name, parameter in policy.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.2)
    base = {n: p.clone() for n, p in policy.named_parameters() if "base_layer" in n}
    names = [name for name, _ in policy_weights(policy)]
    assert names == list(model.state_dict())  # the checkpoint's names, no adapter tensors
    engine.sync_weights(policy, version=7)
    after = _greedy(engine, policy, processor, prompts)
    native = _greedy(NativeEngine(policy), policy, processor, prompts)
    assert torch.equal(after.completion_ids, native.completion_ids)
    assert all(torch.equal(p, base[n]) for n, p in policy.named_parameters() if n in base)
    engine.sync_weights(model, version=8)  # the module's other tests expect the checkpoint


def test_missing_vllm_is_one_error_naming_the_install_command(monkeypatch):
    from video_r1.rollout.vllm_engine import VLLMMissing, import_vllm

    monkeypatch.setitem(__import__("sys").modules, "vllm", None)
    with pytest.raises(VLLMMissing, match=r"pip install 'video-r1\[vllm\]'"):
        import_vllm()
