"""The fast vision tower (video_r1.models.fast_vision) equals transformers' own, on every arch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from video_r1.data.records import Record
from video_r1.models import load_model, load_processor
from video_r1.models.fast_vision import (
    PACKED_ATTENTION,
    PatchConv3d,
    packed_window_attention,
    use_fast_vision,
)
from video_r1.prompts import build_messages, encode_prompts


def _per_window_attention(q, k, v, bounds):
    """transformers' sdpa path: one call per window, concatenated ([1, H, S, D] -> [1, S, H, D])."""
    outs = [
        F.scaled_dot_product_attention(q[:, :, a:b], k[:, :, a:b], v[:, :, a:b])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return torch.cat(outs, dim=2).transpose(1, 2)


@pytest.mark.parametrize(
    "bounds",
    [
        [0, 5, 8, 13, 15, 18, 23],  # lengths 5 3 5 2 3 5: three sizes, interleaved
        [0, 6, 12, 18, 24],  # one size tiling the sequence (frames): the view path
        [0, 23],  # one window: full attention
    ],
)
def test_packed_window_attention_equals_one_call_per_window_with_gradients(bounds):
    torch.manual_seed(0)
    length = bounds[-1]
    q, k, v = (torch.randn(1, 2, length, 4, dtype=torch.float64, requires_grad=True) for _ in "qkv")
    cu = torch.tensor(bounds, dtype=torch.int32)
    packed, _ = packed_window_attention(None, q, k, v, cu_seq_lens_q=cu, cu_seq_lens_k=cu)
    reference = _per_window_attention(q, k, v, bounds)
    assert packed.shape == (1, length, 2, 4)
    torch.testing.assert_close(packed, reference)
    weights = torch.randn_like(reference)
    grads = torch.autograd.grad((packed * weights).sum(), (q, k, v))
    expected = torch.autograd.grad((reference * weights).sum(), (q, k, v))
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="no mask"):
        packed_window_attention(None, q, k, v, attention_mask=torch.ones(1), cu_seq_lens_q=cu)


def test_patch_conv_is_the_convolution_and_falls_back_for_larger_inputs():
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(3, 8, kernel_size=(2, 4, 4), stride=(2, 4, 4), bias=True)
    fast = PatchConv3d(3, 8, kernel_size=(2, 4, 4), stride=(2, 4, 4), bias=True)
    fast.load_state_dict(conv.state_dict())
    patches = torch.randn(10, 3, 2, 4, 4)
    torch.testing.assert_close(fast(patches), conv(patches))  # [10, 8, 1, 1, 1]
    larger = torch.randn(2, 3, 4, 8, 12)  # several patches per input: the convolution itself
    torch.testing.assert_close(fast(larger), conv(larger))
    assert isinstance(fast, torch.nn.Conv3d)


def _media(processor, clip):
    """A 16-frame clip and an image whose attention windows have unequal sizes."""
    factor = 2 * processor.image_processor.patch_size
    image = F.interpolate(clip.frames[:1].float(), size=(5 * factor, 9 * factor))[0]
    return clip, image.round().clamp(0, 255).to(torch.uint8)


def _features_and_grads(model, inputs):
    model.zero_grad()
    base = model.model
    video = base.get_video_features(
        inputs["pixel_values_videos"], inputs["video_grid_thw"], return_dict=True
    ).pooler_output
    image = base.get_image_features(
        inputs["pixel_values"], inputs["image_grid_thw"], return_dict=True
    ).pooler_output
    features = torch.cat([*video, *image])
    (features.square().mean() + features.sum()).backward()
    grads = {n: p.grad.clone() for n, p in base.visual.named_parameters() if p.grad is not None}
    return features.detach(), grads


def test_fast_tower_equals_transformers_tower_on_every_arch(tiny_model_dir, make_clip, tmp_path):
    # float64: the two towers sum in different orders, and float32's rounding of gradients that
    # reach ~100 is larger than an elementwise tolerance on the entries near zero
    stock = load_model(tiny_model_dir, dtype=torch.float64, fast_vision=False)
    fast = load_model(tiny_model_dir, dtype=torch.float64)
    assert isinstance(fast.model.visual.patch_embed.proj, PatchConv3d)
    assert type(stock.model.visual.patch_embed.proj) is torch.nn.Conv3d
    assert fast.model.visual.config._attn_implementation == PACKED_ATTENTION
    assert stock.model.visual.config._attn_implementation == "sdpa"
    processor = load_processor(tiny_model_dir)
    clip, image = _media(processor, make_clip(processor.image_processor.patch_size))
    records = [
        Record(problem_id=kind, problem="Which way?", data_type=kind, problem_type="free-form",
               solution="<answer>left</answer>", path="m", media_path=Path(clip.path))
        for kind in ("video", "image")
    ]  # fmt: skip
    batch = encode_prompts(processor, [build_messages(r) for r in records], [clip, image])
    inputs = {k: v.double() if v.is_floating_point() else v for k, v in batch.model_inputs.items()}
    assert inputs["image_grid_thw"].tolist() == [[1, 10, 18]]  # windows of 4x4, 4x1, 1x4...
    want_features, want_grads = _features_and_grads(stock, inputs)
    got_features, got_grads = _features_and_grads(fast, inputs)
    torch.testing.assert_close(got_features, want_features)
    assert want_grads.keys() == got_grads.keys() and want_grads
    for name, want in want_grads.items():
        torch.testing.assert_close(got_grads[name], want, msg=name)
    # a checkpoint of the fast model is transformers' own: same names, stock attention
    fast.save_pretrained(tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert PACKED_ATTENTION not in json.dumps(config)
    reloaded = load_model(tmp_path / "saved", dtype="float32", fast_vision=False)
    assert reloaded.state_dict().keys() == stock.state_dict().keys()


def test_fast_vision_leaves_other_attention_choices_alone(tiny_qwen25):
    eager = load_model(tiny_qwen25, dtype="float32", attn_implementation="eager")
    assert eager.model.visual.config._attn_implementation == "eager"
    assert isinstance(eager.model.visual.patch_embed.proj, PatchConv3d)
    assert use_fast_vision(eager) == 0  # already switched: nothing left to change
