"""The prefix-grouped log-prob pass (video_r1/rollout/grouped.py): each prompt row once, its
rollouts' completions after it, gives the per-rollout pass's log-probs and every parameter's
gradient (float64), with and without activation checkpointing, on the three architectures,
video, image and text prompts of different lengths, and micro-batches holding only some of a
row's rollouts.

float64 throughout, but transformers' RMSNorm computes in float32 (it casts its input to
float32, here a downcast), so the two passes agree to float32 rounding, not float64's."""

from __future__ import annotations

import pytest
import torch

from video_r1.data.records import Record
from video_r1.models import load_model, load_processor, stop_token_ids
from video_r1.prompts import build_messages, encode_prompts
from video_r1.rollout import Rollouts, completion_logprobs, completion_mask, encode_vision
from video_r1.rollout.grouped import block_mask
from video_r1.rollout.grouped_attention import GROUPED_ATTENTION as GROUPED
from video_r1.rollout.vision import base_model


def _messages(kind: str, path) -> list[dict]:
    """A video or image record's prompt, or a text-only chat turn (of another length)."""
    if kind == "text":
        return [{"role": "user", "content": [{"type": "text", "text": "Name a colour."}]}]
    name = {"video": "v.mp4", "image": "i.png"}[kind]
    return build_messages(Record(
        problem_id=1, problem=f"Which way does it go? ({kind})", data_type=kind,
        problem_type="multiple choice", solution="<answer>A</answer>", path=name,
        media_path=path, options=("A. left", "B. right"),
    ))  # fmt: skip


def _rollouts(inputs: dict, counts: list[int], eos: list[int], width: int, seed: int) -> Rollouts:
    """Random completions of `width` tokens, some cut short by an EOS (different lengths)."""
    generator = torch.Generator().manual_seed(seed)
    rows = torch.tensor([r for r, c in enumerate(counts) for _ in range(c)])
    ids = torch.randint(10, 200, (len(rows), width), generator=generator)
    for k in range(len(rows)):  # rollout k ends at token k % width (the last: no EOS)
        if k % (width + 1) < width:
            ids[k, k % (width + 1)] = eos[0]
    return Rollouts(
        rows=rows, prompt_ids=inputs["input_ids"][rows], prompt_mask=inputs["attention_mask"][rows],
        completion_ids=ids, completion_mask=completion_mask(ids, eos),
        truncated=torch.zeros(len(rows), dtype=torch.bool),
    )  # fmt: skip


@pytest.fixture(scope="module")
def prompts(tiny_model_dir, make_clip):
    """(model float64, encoded inputs of a video, a reversed video, an image and a text row)."""
    torch.manual_seed(0)
    model = load_model(tiny_model_dir, dtype=torch.float64)
    processor = load_processor(tiny_model_dir)
    clip = make_clip(model.config.vision_config.patch_size)
    reversed_clip = clip.reordered(list(range(clip.num_frames - 1, -1, -1)))
    kinds = [("video", clip), ("video", reversed_clip), ("image", clip.frames[0]), ("text", None)]
    messages = [_messages(kind, clip.path) for kind, _ in kinds]
    inputs = encode_prompts(processor, messages, [m for _, m in kinds]).model_inputs
    for key, value in inputs.items():
        if value.is_floating_point():
            inputs[key] = value.double()
    return model, inputs, stop_token_ids(processor.tokenizer)


def _pass(model, inputs, rollouts, index, **kwargs):
    """Log-probs and every parameter's gradient of a loss weighting each token differently."""
    model.zero_grad()
    logprobs = completion_logprobs(model, encode_vision(model, inputs), rollouts, index, **kwargs)
    mask = rollouts.completion_mask[index].double()
    weights = torch.linspace(-1.0, 1.0, mask.numel(), dtype=torch.float64).view(mask.shape)
    (logprobs * weights * mask).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return logprobs.detach(), grads


@pytest.mark.parametrize("checkpointing", [False, True])
def test_grouped_pass_equals_the_per_rollout_pass(prompts, checkpointing):
    model, inputs, eos = prompts
    rollouts = _rollouts(inputs, [3, 2, 2, 2], eos, width=5, seed=1)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    try:
        # every rollout; then a micro-batch with only some of row 0's and row 1's rollouts
        for index in (torch.arange(9), torch.tensor([1, 2, 4, 8])):
            mask = rollouts.completion_mask[index].bool()
            grouped, g_grouped = _pass(model, inputs, rollouts, index, grouped=True)
            # the text model attends through the split attention (grouped_attention.py)
            assert base_model(model).language_model.config._attn_implementation == GROUPED
            plain, g_plain = _pass(model, inputs, rollouts, index, share_prefix=False)
            assert torch.allclose(grouped[mask], plain[mask], atol=1e-8, rtol=0)
            assert (grouped[~mask] == 0).all()  # past the first EOS: 0, as vLLM's
            assert g_grouped.keys() == g_plain.keys()
            assert any(".visual." in n or n.startswith("model.visual") for n in g_grouped)
            for name, grad in g_plain.items():
                err = (g_grouped[name] - grad).abs().max() / grad.abs().max().clamp(min=1e-30)
                assert err < 1e-6, (name, float(err))
    finally:
        model.gradient_checkpointing_disable()
        model.eval()


def test_the_policy_pass_under_checkpointing_runs_each_prompt_once(prompts):
    """Under activation checkpointing (where the KV cache is off in training) the text model
    sees one sequence per prompt row, not one per rollout, with grad (the update) and without
    (old log-probs, LoRA's reference: the policy in train mode)."""
    model, inputs, eos = prompts
    rollouts = _rollouts(inputs, [3, 2, 2, 2], eos, width=4, seed=2)
    batches = []
    text_model = base_model(model).language_model
    hook = text_model.register_forward_pre_hook(
        lambda module, args, kwargs: batches.append(kwargs["inputs_embeds"].shape[0]),
        with_kwargs=True,
    )
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    index = torch.tensor([0, 1, 3])
    try:
        completion_logprobs(model, encode_vision(model, inputs), rollouts, index)
        with torch.no_grad():  # old or LoRA reference log-probs: no cache to share either
            completion_logprobs(model, encode_vision(model, inputs), rollouts, index)
    finally:
        hook.remove()
        model.gradient_checkpointing_disable()
        model.eval()
    assert batches == [2, 2]  # rows 0 and 1, in one forward each


def test_block_mask_keeps_completions_apart_and_padding_out():
    # left padding, a 2-token prompt, completions of 1 and 2 tokens, right padding
    mask = block_mask(torch.tensor([[-1, 0, 0, 1, 2, 2, -1]]))[0, 0]
    assert mask.tolist()[4] == [False, True, True, False, True, False, False]
    assert mask.tolist()[5] == [False, True, True, False, True, True, False]
    assert mask.tolist()[3] == [False, True, True, True, False, False, False]
    assert mask[0].tolist() == [True] + [False] * 6  # a padding query sees itself only
