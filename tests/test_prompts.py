"""Prompt templates, messages, encoding (parity with the published path), batch helpers, SFT."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from video_r1.data.records import Record
from video_r1.models import load_processor, vision_token_ids
from video_r1.prompts import (
    IGNORE_INDEX,
    build_messages,
    build_prompt_text,
    encode_prompts,
    encode_sft_example,
    format_question,
    pixel_rows,
    repeat_batch,
    select,
    sft_target,
)

SMALL = {"min_pixels": 4 * 28 * 28, "max_pixels": 16 * 28 * 28}


def _record(**fields) -> Record:
    base = dict(
        problem_id=7,
        problem="Which way?",
        data_type="video",
        problem_type="multiple choice",
        solution="<answer>B</answer>",
        path="v.mp4",
        media_path=Path("/data/v.mp4"),
        options=("A. left", "B. right"),
        file="train.jsonl",
        line=3,
    )
    base.update(fields)
    return Record(**base)


TRAIN_TAIL = (
    "\nPlease think about this question as if you were a human pondering deeply. Engage in an "
    "internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', "
    "'let's break it down', etc, or other natural language thought expressions It's encouraged "
    "to include self-reflection or verification in the reasoning process. Provide your detailed "
    "reasoning between the <think> </think> tags, and then give your final answer between the "
    "<answer> </answer> tags."
)


def test_format_question_multiple_choice_layout():
    assert format_question(_record()) == "Which way?Options:\nA. left\nB. right\n"
    assert format_question(_record(problem_type="numerical", options=())) == "Which way?"
    with pytest.raises(ValueError, match="train.jsonl:3.*without options"):
        format_question(_record(options=()))


# The published prompts, byte for byte (grpo.py's training template for the multiple-choice
# record, eval_bench.py's for the numerical one): each option is followed by "\n" and the
# template adds "\n" after the question, so a blank line precedes "Please think".
PUBLISHED_MC_TRAIN = (
    "Which way does the red circle move?Options:\nA. left\nB. right\n\n"
    "Please think about this question as if you were a human pondering deeply. Engage in an "
    "internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', "
    "'let's break it down', etc, or other natural language thought expressions It's encouraged "
    "to include self-reflection or verification in the reasoning process. Provide your detailed "
    "reasoning between the <think> </think> tags, and then give your final answer between the "
    "<answer> </answer> tags. Please provide only the single option letter (e.g., A, B, C, D, "
    "etc.) within the <answer> </answer> tags."
)
PUBLISHED_NUMERICAL_EVAL = (
    "How many cubes are there?\n"
    "Please think about this question as if you were a human pondering deeply. Engage in an "
    "internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', "
    "'let's break it down', etc, or other natural language thought expressions It's encouraged "
    "to include self-reflection or verification in the reasoning process. Provide your detailed "
    "reasoning between the <think> and </think> tags, and then give your final answer between "
    "the <answer> and </answer> tags. Please provide the numerical value (e.g., 42 or 3.14) "
    "within the <answer> </answer> tags."
)


def test_prompt_text_is_the_published_text_byte_for_byte():
    mc = _record(problem="Which way does the red circle move?")
    assert build_prompt_text(mc, wording="train") == PUBLISHED_MC_TRAIN
    numerical = _record(problem="How many cubes are there?", problem_type="numerical", options=())
    assert build_prompt_text(numerical, wording="eval") == PUBLISHED_NUMERICAL_EVAL
    # every user of prompts (GRPO, SFT, eval, annotate, infer) builds its messages from here
    text = build_messages(mc)[0]["content"][1]["text"]
    assert text == PUBLISHED_MC_TRAIN


def test_prompt_text_train_and_eval_wording():
    mc = " Please provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer> </answer> tags."
    # The last option's newline plus the template's leave a blank line before "Please think".
    text = build_prompt_text(_record())
    assert text == "Which way?Options:\nA. left\nB. right\n" + TRAIN_TAIL + mc
    assert "B. right\n\nPlease think" in text
    eval_text = build_prompt_text(_record(), wording="eval")
    assert "between the <think> and </think> tags" in eval_text
    assert "between the <answer> and </answer> tags." + mc in eval_text
    suffixes = {
        "numerical": " Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
        "regression": " Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
        "OCR": " Please transcribe text from the image/video clearly and provide your text answer within the <answer> </answer> tags.",
        "free-form": " Please provide your text answer within the <answer> </answer> tags.",
    }
    for problem_type, suffix in suffixes.items():
        text = build_prompt_text(_record(problem_type=problem_type, options=()))
        assert text == "Which way?" + TRAIN_TAIL + suffix
    with pytest.raises(ValueError, match="wording"):
        build_prompt_text(_record(), wording="chatty")


def test_messages_media_first_and_system_prompt():
    msgs = build_messages(_record(data_type="image"), system_prompt="You are a helpful assistant")
    assert msgs[0] == {
        "role": "system",
        "content": [{"type": "text", "text": "You are a helpful assistant"}],
    }
    assert msgs[1]["role"] == "user"
    assert [c["type"] for c in msgs[1]["content"]] == ["image", "text"]
    assert build_messages(_record())[0]["content"][0] == {"type": "video"}


def test_sft_target():
    rec = _record(process="<think>it goes right</think>")
    assert sft_target(rec) == "<think>it goes right</think>\n<answer>B</answer>"
    with pytest.raises(ValueError, match="train.jsonl:3.*process"):
        sft_target(_record())


def _published(processor, messages):
    """The published path: qwen-vl-utils then the processor.

    Frame metadata is passed for every arch: qwen-vl-utils' older `fps=[...]` keyword is
    rejected by transformers 5.x video processors; the metadata gives the same sampled fps.
    """
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    from qwen_vl_utils import process_vision_info

    patch = processor.image_processor.patch_size
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    images, videos, video_kwargs = process_vision_info(
        messages, return_video_kwargs=True, return_video_metadata=True, image_patch_size=patch
    )
    if videos:
        videos, metadata = map(list, zip(*videos, strict=True))
        video_kwargs["video_metadata"] = metadata
    if patch == 16:  # Qwen3-VL's documented use of qwen-vl-utils: the processor must not resize
        video_kwargs["do_resize"] = False
    return processor(
        text=[text], images=images, videos=videos, padding=True, return_tensors="pt", **video_kwargs
    )


@pytest.mark.parametrize("arch", ["qwen2.5-vl", "qwen3-vl"])
def test_encode_matches_published_path_video(arch, tiny_model_factory, make_clip, video1):
    processor = load_processor(
        tiny_model_factory(arch),
        video_min_pixels=SMALL["min_pixels"],
        video_max_pixels=SMALL["max_pixels"],
    )
    clip = make_clip(processor.image_processor.patch_size)
    rec = _record(media_path=video1)
    ours = encode_prompts(processor, [build_messages(rec)], [clip]).model_inputs
    messages = build_messages(rec)
    messages[0]["content"][0] = {"type": "video", "video": str(video1), "nframes": 16, **SMALL}
    theirs = _published(processor, messages)
    assert torch.equal(ours["input_ids"], theirs["input_ids"])
    assert torch.equal(ours["mm_token_type_ids"], theirs["mm_token_type_ids"])
    assert torch.equal(ours["video_grid_thw"], theirs["video_grid_thw"])
    # ours are rounded to uint8 before normalising; qwen-vl-utils keeps float pixels
    diff = (ours["pixel_values_videos"] - theirs["pixel_values_videos"]).abs()
    assert diff.mean() < 0.01 and diff.max() < 0.1
    if arch == "qwen2.5-vl":  # temporal positions: 2 frames x the frames' spacing
        # deliberately not qwen-vl-utils' nominal 2 / (n / (last + 1) x fps), which puts the
        # patches (n - 1) / n x (last + 1) / last of their real spacing apart (docs/spec.md)
        n, first, last = clip.num_frames, clip.indices[0], clip.indices[-1]
        real = 2 * (last - first) / ((n - 1) * clip.source_fps)
        nominal = 2 * (last + 1) / (n * clip.source_fps)
        assert ours["second_per_grid_ts"].tolist() == pytest.approx([real], rel=1e-6)
        assert torch.as_tensor(theirs["second_per_grid_ts"]).tolist() == pytest.approx(
            [nominal], rel=1e-6
        )


@pytest.mark.parametrize("arch", ["qwen2.5-vl", "qwen3-vl"])
def test_encode_matches_published_path_image(arch, tiny_model_factory, make_clip, tmp_path):
    from PIL import Image
    from qwen_vl_utils import fetch_image

    processor = load_processor(tiny_model_factory(arch))
    patch = processor.image_processor.patch_size
    png = tmp_path / "frame.png"
    Image.fromarray(make_clip(14).frames[3].permute(1, 2, 0).numpy()).resize((300, 170)).save(png)
    resized = fetch_image({"image": str(png), **SMALL}, image_patch_size=patch)
    image = torch.from_numpy(np.array(resized)).permute(2, 0, 1).contiguous()  # [3, H, W]
    rec = _record(data_type="image", problem_type="numerical", options=(), media_path=png)
    ours = encode_prompts(processor, [build_messages(rec)], [image]).model_inputs
    messages = build_messages(rec)
    messages[0]["content"][0] = {"type": "image", "image": str(png), **SMALL}
    theirs = _published(processor, messages)
    assert torch.equal(ours["input_ids"], theirs["input_ids"])
    assert torch.equal(ours["image_grid_thw"], theirs["image_grid_thw"])
    assert torch.allclose(ours["pixel_values"], theirs["pixel_values"], atol=1e-5)


@pytest.fixture(scope="module")
def mixed(tiny_model_factory, make_clip):
    """A left-padded batch: video prompt, image prompt, shorter video prompt (shuffled clip)."""
    processor = load_processor(tiny_model_factory("qwen2.5-vl"))
    clip = make_clip(14)
    shuffled = clip.reordered(list(range(15, -1, -1)))
    short = clip.reordered(list(range(8)))
    prompts = [
        _record(),
        _record(data_type="image", problem_type="OCR", options=()),
        _record(problem="Where?"),
    ]
    batch = encode_prompts(
        processor, [build_messages(r) for r in prompts], [shuffled, clip.frames[0], short]
    )
    return processor, clip, batch


def test_encode_batch_left_pads_and_counts(mixed):
    processor, clip, batch = mixed
    assert len(batch) == 3
    mask = batch.attention_mask
    assert mask[:, -1].all()  # left padding: every prompt ends at the last column
    assert batch.prompt_lengths.tolist() == mask.sum(1).tolist()
    pad = processor.tokenizer.pad_token_id
    for row, n in zip(batch.input_ids, batch.prompt_lengths.tolist(), strict=True):
        assert (row[: len(row) - n] == pad).all()
    assert batch.model_inputs["video_grid_thw"][:, 0].tolist() == [8, 4]
    assert batch.model_inputs["image_grid_thw"].shape == (1, 3)
    # a shuffled clip keeps the ordered clip's temporal spacing (frame slots, not source order)
    ordered = encode_prompts(processor, [build_messages(_record())], [clip]).model_inputs
    assert batch.model_inputs["second_per_grid_ts"][0] == ordered["second_per_grid_ts"][0]


def test_select_and_repeat_follow_media(mixed):
    _, _, batch = mixed
    inputs = batch.model_inputs
    rows = inputs["video_grid_thw"].prod(1).tolist()  # pixel rows per video
    picked = select(inputs, [2, 1])
    assert torch.equal(picked["input_ids"], inputs["input_ids"][[2, 1]])
    assert torch.equal(picked["pixel_values_videos"], inputs["pixel_values_videos"][rows[0] :])
    assert torch.equal(picked["video_grid_thw"], inputs["video_grid_thw"][[1]])
    assert torch.equal(picked["pixel_values"], inputs["pixel_values"])
    only_image = select(inputs, [1])
    assert "pixel_values_videos" not in only_image and "video_grid_thw" not in only_image
    twice = repeat_batch(inputs, 2)
    assert twice["input_ids"].shape[0] == 6
    assert torch.equal(twice["input_ids"][0], twice["input_ids"][1])
    assert twice["video_grid_thw"][:, 0].tolist() == [8, 8, 4, 4]
    assert twice["pixel_values_videos"].shape[0] == 2 * sum(rows)
    assert torch.equal(
        twice["pixel_values_videos"][: rows[0]], twice["pixel_values_videos"][rows[0] : 2 * rows[0]]
    )
    assert twice["second_per_grid_ts"].shape == (4,)


def test_repeated_batch_gives_same_logits(tiny_model_factory, mixed):
    from video_r1.models import load_model

    model = load_model(tiny_model_factory("qwen2.5-vl"))
    _, _, batch = mixed
    with torch.no_grad():
        once = model(**batch.model_inputs).logits
        twice = model(**repeat_batch(batch.model_inputs, 2)).logits
    assert torch.allclose(twice[0::2], once, atol=1e-4)
    assert torch.allclose(twice[1::2], once, atol=1e-4)


def test_encode_rejects_bad_media(tiny_model_factory, make_clip):
    processor = load_processor(tiny_model_factory("qwen3-vl"))
    clip28 = make_clip(14)  # 28-multiples: wrong grid for Qwen3-VL (32)
    with pytest.raises(ValueError, match="not a multiple of 32"):
        encode_prompts(processor, [build_messages(_record())], [clip28])
    with pytest.raises(ValueError, match="ask for media"):
        encode_prompts(processor, [build_messages(_record())], [make_clip(16).frames[0]])
    with pytest.raises(ValueError, match="2 prompts but 1"):
        encode_prompts(processor, [build_messages(_record())] * 2, [make_clip(16)])


def test_sft_labels_train_only_the_answer(tiny_model_factory, make_clip):
    processor = load_processor(tiny_model_factory("qwen2.5-vl"))
    rec = _record(process="<think>it goes right</think>")
    inputs, labels = encode_sft_example(processor, rec, make_clip(14))
    tok = processor.tokenizer
    ids = inputs["input_ids"][0]
    trained = labels[0] != IGNORE_INDEX
    assert labels.shape == inputs["input_ids"].shape
    assert tok.decode(ids[trained]) == "<think>it goes right</think>\n<answer>B</answer><|im_end|>"
    assert torch.equal(labels[0][trained], ids[trained])
    assert not torch.isin(ids[trained], torch.tensor(vision_token_ids(tok))).any()
    text = tok.decode(ids)
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant<|im_end|>\n")
    assert text.endswith("<|im_end|>\n")  # the newline after the turn is not trained


def test_collate_sft_examples_pads_and_keeps_media(tiny_model_factory, make_clip):
    from video_r1.models import load_model
    from video_r1.prompts import collate_sft_examples

    processor = load_processor(tiny_model_factory("qwen2.5-vl"))
    clip = make_clip(14)
    long_rec = _record(process="<think>the car goes right, then it stops</think>")
    image_rec = _record(
        data_type="image", problem_type="OCR", options=(), process="<think>x</think>"
    )
    examples = [
        encode_sft_example(processor, long_rec, clip),
        encode_sft_example(processor, image_rec, clip.frames[0]),
    ]
    batch, labels = collate_sft_examples(examples, processor)
    n0, n1 = (int(ex[1].shape[1]) for ex in examples)
    assert labels.shape == batch["input_ids"].shape == (2, max(n0, n1))
    short = 0 if n0 < n1 else 1
    assert (labels[short, min(n0, n1) :] == IGNORE_INDEX).all()
    assert (batch["attention_mask"][short, min(n0, n1) :] == 0).all()
    assert torch.equal(batch["pixel_values_videos"], examples[0][0]["pixel_values_videos"])
    assert torch.equal(batch["pixel_values"], examples[1][0]["pixel_values"])
    model = load_model(tiny_model_factory("qwen2.5-vl"))
    with torch.no_grad():
        logits = model(**batch).logits
    with torch.no_grad():
        alone = model(**examples[1][0]).logits
    assert torch.allclose(logits[1, :n1], alone[0], atol=1e-4)


def test_pixel_rows_of_consecutive_items_are_a_view_and_others_a_copy():
    pixels = torch.arange(12.0).view(6, 2)  # items of 2, 1 and 3 pixel rows
    offsets = [0, 2, 3, 6]
    run = pixel_rows(pixels, offsets, [1, 2])
    assert run.data_ptr() == pixels[2].data_ptr()  # no copy of the batch's pixels
    assert torch.equal(run, pixels[2:6])
    assert torch.equal(pixel_rows(pixels, offsets, [2, 0]), pixels[[3, 4, 5, 0, 1]])
    assert torch.equal(pixel_rows(pixels, offsets, [1, 1]), pixels[[2, 2]])


def test_grounding_instruction_and_an_unchanged_tiny_vocabulary():
    """The temporal grounding type asks for Time-R1's "start to end" answer; the tiny models'
    tokenizer still learns only Video-R1's five type templates (the demo's vocabulary stays)."""
    from video_r1.prompts import TYPE_TEMPLATES, tokenizer_texts

    rec = _record(problem_type="temporal grounding", options=(),
                  solution="<answer>[1.0, 2.0]</answer>")  # fmt: skip
    assert build_prompt_text(rec).endswith(
        ' in the format "start time to end time" within the <answer> </answer> tags. For '
        'example: "12.54 to 17.83".'
    )
    texts = tokenizer_texts()
    assert TYPE_TEMPLATES["temporal grounding"] not in texts
    assert len(texts) == 2 + 5 + 1  # two wordings, five types, the default system turn
