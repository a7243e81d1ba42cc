"""Tiny checkpoints of every arch: load, forward on a 16-frame video and an image, generate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from video_r1.data.records import Record
from video_r1.models import generation_config, load_model, load_processor, vision_token_ids
from video_r1.prompts import build_messages, encode_prompts


def _records(video: Path) -> tuple[Record, Record]:
    video_rec = Record(
        problem_id="v1",
        problem="Which way does the car move?",
        data_type="video",
        problem_type="multiple choice",
        solution="<answer>A</answer>",
        path="video1.mp4",
        media_path=video,
        options=("A. left", "B. right"),
    )
    image_rec = Record(
        problem_id="i1",
        problem="How many cars?",
        data_type="image",
        problem_type="numerical",
        solution="<answer>2</answer>",
        path="frame.png",
        media_path=video,
    )
    return video_rec, image_rec


@pytest.fixture(scope="module")
def loaded(tiny_model_dir, make_clip):
    model = load_model(tiny_model_dir, dtype="float32")
    processor = load_processor(tiny_model_dir)
    clip = make_clip(processor.image_processor.patch_size)
    video_rec, image_rec = _records(Path(clip.path))
    batch = encode_prompts(
        processor,
        [build_messages(video_rec), build_messages(image_rec)],
        [clip, clip.frames[0]],
    )
    return model, processor, clip, batch


def test_forward_on_video_and_image(loaded):
    model, processor, clip, batch = loaded
    with torch.no_grad():
        logits = model(**batch.model_inputs).logits  # [2, L, V]
    assert logits.shape[:2] == batch.input_ids.shape
    assert logits.shape[2] == model.get_output_embeddings().weight.shape[0]
    assert torch.isfinite(logits[batch.attention_mask.bool()]).all()
    video_grid = batch.model_inputs["video_grid_thw"]
    factor = processor.image_processor.patch_size
    h, w = clip.frames.shape[-2:]
    assert video_grid.tolist() == [[8, h // factor, w // factor]]  # 16 frames -> 8 patches
    type_ids = batch.model_inputs["mm_token_type_ids"]
    assert int((type_ids[0] == 2).sum()) == 8 * (h // factor) * (w // factor) // 4
    assert int((type_ids[1] == 1).sum()) == (h // factor) * (w // factor) // 4
    assert int((type_ids[0] == 1).sum()) == 0 and int((type_ids[1] == 2).sum()) == 0


def test_vision_token_ids_are_the_placeholders(loaded):
    _, processor, _, batch = loaded
    ids = vision_token_ids(processor.tokenizer)
    tokens = processor.tokenizer.convert_ids_to_tokens(ids)
    assert tokens == [
        "<|vision_start|>",
        "<|vision_end|>",
        "<|vision_pad|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ]
    assert processor.video_token_id in ids and processor.image_token_id in ids


def test_generation_never_emits_vision_tokens(loaded):
    model, processor, _, batch = loaded
    vision = torch.tensor(vision_token_ids(processor.tokenizer))
    bias = torch.zeros(model.get_output_embeddings().weight.shape[0])
    bias[vision] = 50.0  # make every vision token the overwhelming favourite
    hook = model.get_output_embeddings().register_forward_hook(lambda m, i, out: out + bias)
    try:
        with torch.no_grad():
            free = model.generate(
                **batch.model_inputs,
                max_new_tokens=4,
                do_sample=False,
                pad_token_id=processor.tokenizer.pad_token_id,
            )
            config = generation_config(model, processor, max_new_tokens=6, temperature=1.0)
            guarded = model.generate(**batch.model_inputs, generation_config=config)
    finally:
        hook.remove()
    prompt_len = batch.input_ids.shape[1]
    assert torch.isin(free[:, prompt_len:], vision).all()  # the bias works without the guard
    new = guarded[:, prompt_len:]
    assert new.shape[1] >= 1
    assert not torch.isin(new, vision).any()
    assert int(new.max()) < len(processor.tokenizer)  # no spare embedding rows either


def test_generation_config_stops_at_im_end(loaded):
    model, processor, _, _ = loaded
    tok = processor.tokenizer
    config = generation_config(
        model, processor, temperature=0.1, top_p=0.001, max_new_tokens=1024, do_sample=True
    )
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert config.eos_token_id[0] == im_end
    assert tok.convert_tokens_to_ids("<|endoftext|>") in config.eos_token_id
    assert (config.temperature, config.top_p, config.max_new_tokens) == (0.1, 0.001, 1024)
    greedy = generation_config(model, processor, do_sample=False, max_new_tokens=5)
    assert greedy.do_sample is False


def test_load_model_dtype_and_errors(tiny_model_factory, tmp_path):
    model = load_model(tiny_model_factory("qwen2.5-vl"), dtype="bfloat16")
    assert model.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype"):
        load_model(tiny_model_factory("qwen2.5-vl"), dtype="float8")


def test_load_processor_pixel_settings(tiny_model_factory):
    processor = load_processor(
        tiny_model_factory("qwen2.5-vl"),
        video_min_pixels=3136,
        video_max_pixels=12544,
        image_max_pixels=50176,
    )
    assert processor.video_processor.size["shortest_edge"] == 3136
    assert processor.video_processor.size["longest_edge"] == 12544
    assert processor.image_processor.size["longest_edge"] == 50176
    assert processor.tokenizer.padding_side == "left"
    with pytest.raises(ValueError, match="min_pixels"):
        load_processor(tiny_model_factory("qwen2.5-vl"), video_min_pixels=10, video_max_pixels=5)


def test_flash_attention_falls_back_to_sdpa_without_flash_attn(tiny_model_factory, caplog):
    """configs/grpo.yaml and sft.yaml ask for flash_attention_2; where flash-attn is not
    installed or there is no CUDA device (this machine), sdpa is used and the log says so."""
    from transformers.utils import is_flash_attn_2_available

    if is_flash_attn_2_available():
        pytest.skip("flash-attn runs here: nothing to fall back from")
    with caplog.at_level("WARNING", logger="video_r1.models.loading"):
        model = load_model(
            tiny_model_factory("qwen2.5-vl"), attn_implementation="flash_attention_2"
        )
    assert model.config._attn_implementation == "sdpa"
    lines = [r.getMessage() for r in caplog.records if "attention:" in r.getMessage()]
    assert len(lines) == 1 and "flash_attention_2 requested, using sdpa" in lines[0]
    eager = load_model(tiny_model_factory("qwen2.5-vl"), attn_implementation="eager")
    assert eager.config._attn_implementation == "eager"  # other requests are kept
