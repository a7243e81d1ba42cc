"""Rows of two generate calls merged into one batch (dynamic sampling's micro-batches of kept
groups) give the log-probs each call gave its rows: padding, media and features follow."""

import dataclasses

import torch

from video_r1.data.records import Record
from video_r1.models import generation_config, load_model, load_processor, stop_token_ids
from video_r1.prompts import build_messages, encode_prompts, select
from video_r1.rollout import completion_logprobs, encode_vision, generate_rollouts
from video_r1.rollout.merge import (
    concat_encoded,
    concat_inputs,
    concat_rollouts,
    pad_left,
    rollouts_of_rows,
    select_encoded,
)


def _records(path) -> list[Record]:
    short = Record(
        problem_id=1, problem="Where does it go?", data_type="video",
        problem_type="multiple choice", solution="<answer>A</answer>", path="v.mp4",
        media_path=path, options=("A. left", "B. right"),
    )  # fmt: skip
    long = dataclasses.replace(
        short, problem_id=2, problem="Watch the whole clip carefully. " * 6 + "Where does it go?"
    )
    image = Record(
        problem_id=3, problem="What colour dominates?", data_type="image",
        problem_type="free-form", solution="<answer>red</answer>", path="i.png", media_path=path,
    )  # fmt: skip
    return [short, long, image]


def test_pad_left_keeps_prompts_right_aligned():
    # prompts are left-padded: a wider batch adds padding on the left only
    assert pad_left(torch.tensor([[0, 5], [4, 6]]), 3, value=0).tolist() == [[0, 0, 5], [0, 4, 6]]


def test_merged_rows_of_two_calls_give_each_calls_log_probs(tiny_model_dir, make_clip):
    torch.manual_seed(0)
    model = load_model(tiny_model_dir, dtype="float32")
    processor = load_processor(tiny_model_dir)
    clip = make_clip(model.config.vision_config.patch_size)
    short, long, image = _records(clip.path)
    eos = stop_token_ids(processor.tokenizer)
    config = generation_config(model, processor, max_new_tokens=6, do_sample=True)
    pad = config.pad_token_id if config.pad_token_id is not None else eos[0]
    # call A: the long video (no padding) and an image (left-padded); call B: the short video
    a = encode_prompts(
        processor, [build_messages(r) for r in (long, image)], [clip, clip.frames[0]]
    )
    b = encode_prompts(processor, [build_messages(short)], [clip])
    with torch.no_grad():
        enc_a, enc_b = encode_vision(model, a.model_inputs), encode_vision(model, b.model_inputs)
        roll_a = generate_rollouts(model, enc_a, [2, 2], config, eos)
        roll_b = generate_rollouts(model, enc_b, [3], config, eos)
        lp_a = completion_logprobs(model, enc_a, roll_a)
        lp_b = completion_logprobs(model, enc_b, roll_b)
    # kept: the image row of A, then the video row of B
    index_a, index_b = torch.tensor([2, 3]), torch.tensor([0, 1, 2])
    merged_enc = concat_encoded([select_encoded(enc_a, [1]), select_encoded(enc_b, [0])], pad)
    merged_inputs = concat_inputs([select(a.model_inputs, [1]), select(b.model_inputs, [0])], pad)
    merged = concat_rollouts(
        [rollouts_of_rows(roll_a, index_a, [1]), rollouts_of_rows(roll_b, index_b, [0])],
        rows_per_part=[1, 1], pad_id=pad,
    )  # fmt: skip
    assert merged.rows.tolist() == [0, 0, 1, 1, 1]
    assert torch.equal(merged_inputs["input_ids"], merged_enc.inputs["input_ids"])
    assert torch.equal(merged.prompt_ids[0], merged_enc.inputs["input_ids"][0])
    with torch.no_grad():
        lp_merged = completion_logprobs(model, merged_enc, merged)
        # the merged inputs (pixels kept) encode to the same features: a trainable tower's path
        lp_reencoded = completion_logprobs(model, encode_vision(model, merged_inputs), merged)
    expected = [(lp_a[index_a], roll_a.completion_mask[index_a]),
                (lp_b[index_b], roll_b.completion_mask[index_b])]  # fmt: skip
    for got in (lp_merged, lp_reencoded):
        for rows, (want, mask) in zip((slice(0, 2), slice(2, 5)), expected, strict=True):
            width = want.shape[1]
            assert torch.equal(merged.completion_mask[rows, :width], mask)
            assert not merged.completion_mask[rows, width:].any()  # right padding is masked
            m = mask.bool()
            assert torch.allclose(got[rows, :width][m], want[m], atol=1e-5)
