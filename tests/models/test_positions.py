"""Qwen2.5-VL's 3D positions are the ones its checkpoints were trained with (issue 61).

The reference is the published `get_rope_index` of transformers 4.x (4.49/4.50, the
versions the published Video-R1 trainer ran), transcribed below as `_published_rope_index`:
it finds each image/video by the token after <|vision_start|> in input_ids, gives a video's
temporal patch k the time int(k x second_per_grid_t x tokens_per_second) and the text after
it the largest position so far + 1. transformers 5 (the installed one) continues the text at
the video's start + max(h, w) / merge instead (`test_transformers_5_differs_after_a_video`).
"""

from __future__ import annotations

import dataclasses
import types

import pytest
import torch

from video_r1.models.positions import qwen2_5_vl_rope_index, use_trained_positions

TEXT, VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD = 5, 10, 11, 12, 13
MERGE, TOKENS_PER_SECOND = 2, 2


def _published_rope_index(
    input_ids, image_grid_thw, video_grid_thw, second_per_grid_ts, attention_mask, *,
    image_token_id=IMAGE_PAD, video_token_id=VIDEO_PAD, vision_start_token_id=VISION_START,
    spatial_merge_size=MERGE, tokens_per_second=TOKENS_PER_SECOND,
):  # fmt: skip
    """transformers 4.50 `Qwen2_5_VLForConditionalGeneration.get_rope_index` (vision branch),
    step for step. Returns positions [3, B, L] (padding 1) and deltas [B, 1] relative to the
    padded length."""
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    position_ids = torch.ones(3, *input_ids.shape, dtype=input_ids.dtype)
    deltas, image_index, video_index = [], 0, 0
    for i, ids in enumerate(input_ids):
        ids = ids[attention_mask[i] == 1]
        vision_tokens = ids[torch.argwhere(ids == vision_start_token_id).squeeze(1) + 1]
        remain_images = int((vision_tokens == image_token_id).sum())
        remain_videos = int((vision_tokens == video_token_id).sum())
        tokens = ids.tolist()
        pieces, st = [], 0
        for _ in range(remain_images + remain_videos):
            big = len(tokens) + 1
            ed_image = tokens.index(image_token_id, st) if remain_images > 0 else big
            ed_video = tokens.index(video_token_id, st) if remain_videos > 0 else big
            if ed_image < ed_video:
                t, h, w = image_grid_thw[image_index]
                second_per_grid_t = 0
                image_index, remain_images, ed = image_index + 1, remain_images - 1, ed_image
            else:
                t, h, w = video_grid_thw[video_index]
                second_per_grid_t = (
                    second_per_grid_ts[video_index] if second_per_grid_ts is not None else 1.0
                )
                video_index, remain_videos, ed = video_index + 1, remain_videos - 1, ed_video
            gt, gh, gw = t.item(), h.item() // spatial_merge_size, w.item() // spatial_merge_size
            text_len = ed - st
            st_idx = pieces[-1].max() + 1 if pieces else 0
            pieces.append(torch.arange(text_len).view(1, -1).expand(3, -1) + st_idx)
            time = torch.arange(gt).view(-1, 1).expand(-1, gh * gw)
            t_index = (time * second_per_grid_t * tokens_per_second).long().flatten()
            h_index = torch.arange(gh).view(1, -1, 1).expand(gt, -1, gw).flatten()
            w_index = torch.arange(gw).view(1, 1, -1).expand(gt, gh, -1).flatten()
            pieces.append(torch.stack([t_index, h_index, w_index]) + text_len + st_idx)
            st = ed + gt * gh * gw
        if st < len(tokens):
            st_idx = pieces[-1].max() + 1 if pieces else 0
            pieces.append(torch.arange(len(tokens) - st).view(1, -1).expand(3, -1) + st_idx)
        positions = torch.cat(pieces, dim=1).reshape(3, -1)
        position_ids[..., i, attention_mask[i] == 1] = positions
        deltas.append(positions.max() + 1 - len(input_ids[i]))
    return position_ids, torch.tensor(deltas).unsqueeze(1)


def _prompt(*parts) -> tuple[list[int], list[list[int]], list[list[int]]]:
    """Token ids of ("text", n), ("image", (t, h, w)) and ("video", (t, h, w)) parts, each
    image/video wrapped in <|vision_start|> ... <|vision_end|>; and the grids in order."""
    ids, images, videos = [], [], []
    for kind, size in parts:
        if kind == "text":
            ids += [TEXT] * size
            continue
        t, h, w = size
        pad = IMAGE_PAD if kind == "image" else VIDEO_PAD
        ids += [VISION_START] + [pad] * (t * h * w // MERGE**2) + [VISION_END]
        (images if kind == "image" else videos).append(list(size))
    return ids, images, videos


def _batch(*prompts, seconds=None) -> dict:
    """Left-padded batch of `_prompt`s: input_ids, attention_mask, mm_token_type_ids, grids."""
    built = [_prompt(*p) for p in prompts]
    length = max(len(ids) for ids, _, _ in built)
    input_ids = torch.tensor([[0] * (length - len(ids)) + ids for ids, _, _ in built])
    mask = torch.tensor([[0] * (length - len(ids)) + [1] * len(ids) for ids, _, _ in built])
    images = [g for _, im, _ in built for g in im]
    videos = [g for _, _, vi in built for g in vi]
    return {
        "input_ids": input_ids,
        "attention_mask": mask,
        "mm_token_type_ids": (input_ids == IMAGE_PAD).long() + 2 * (input_ids == VIDEO_PAD).long(),
        "image_grid_thw": torch.tensor(images) if images else None,
        "video_grid_thw": torch.tensor(videos) if videos else None,
        "second_per_grid_ts": None if seconds is None else torch.tensor(seconds),
    }


def _ours(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    return qwen2_5_vl_rope_index(
        batch["input_ids"], batch["mm_token_type_ids"], batch["image_grid_thw"],
        batch["video_grid_thw"], batch["second_per_grid_ts"], batch["attention_mask"],
        spatial_merge_size=MERGE, tokens_per_second=TOKENS_PER_SECOND,
    )  # fmt: skip


def _published(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    return _published_rope_index(
        batch["input_ids"], batch["image_grid_thw"], batch["video_grid_thw"],
        batch["second_per_grid_ts"], batch["attention_mask"],
    )  # fmt: skip


def _assert_matches_published(batch: dict) -> None:
    """Equal positions on every real token; our offsets count real tokens (transformers 5's
    `rope_deltas`), the published ones the padded length: they differ by the padding."""
    positions, offsets = _ours(batch)
    reference, deltas = _published(batch)
    real = batch["attention_mask"].bool()
    assert torch.equal(positions[:, real], reference[:, real])
    padding = (~real).sum(dim=1, keepdim=True)
    assert torch.equal(offsets, deltas + padding)


def test_a_video_between_text_by_hand():
    """2 text tokens, <|vision_start|>, a video of 3 x 4 x 4 patches 1.5 s apart (12 tokens,
    times 0, 3, 6 at 2 tokens per second), <|vision_end|>, 2 text tokens."""
    batch = _batch([("text", 2), ("video", (3, 4, 4)), ("text", 2)], seconds=[1.5])
    positions, offsets = _ours(batch)
    start = 3  # after 2 text tokens and <|vision_start|>
    time = [start + 3 * k for k in range(3) for _ in range(4)]  # 3, 3, 3, 3, 6, ..., 9
    rows = [start + r for _ in range(3) for r in (0, 0, 1, 1)]
    columns = [start + c for _ in range(3) for c in (0, 1, 0, 1)]
    after = 9 + 1  # the largest position so far (time 9) + 1: <|vision_end|>, then the text
    expected = [[0, 1, 2, *axis, after, after + 1, after + 2] for axis in (time, rows, columns)]
    assert positions[:, 0].tolist() == expected
    assert offsets.tolist() == [[after + 3 - 18]]  # next position 13, 18 tokens
    _assert_matches_published(batch)


def test_transformers_5_differs_after_a_video():
    """What the installed transformers does (5.19-5.24): the text after the video at its
    start + max(h, w) / merge = 3 + 2, the video itself unchanged. If this starts failing,
    transformers has adopted the original positions and `use_trained_positions` can go."""
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel

    vision = types.SimpleNamespace(spatial_merge_size=MERGE, tokens_per_second=TOKENS_PER_SECOND)
    stock = types.SimpleNamespace(
        config=types.SimpleNamespace(vision_config=vision),
        get_vision_position_ids=lambda *a, **k: Qwen2_5_VLModel.get_vision_position_ids(
            None, *a, **k
        ),
    )
    batch = _batch([("text", 2), ("video", (3, 4, 4)), ("text", 2)], seconds=[1.5])
    theirs, _ = Qwen2_5_VLModel.get_rope_index(stock, **batch)
    ours, _ = _ours(batch)
    assert torch.equal(theirs[:, :, :15], ours[:, :, :15])  # text before and the video
    assert theirs[0, 0, 15:].tolist() == [5, 6, 7]  # vs 10, 11, 12


@pytest.mark.parametrize(
    ("prompts", "seconds"),
    [
        ([[("text", 3), ("image", (1, 6, 4)), ("text", 4)]], None),
        ([[("text", 3), ("video", (8, 6, 10)), ("text", 4)]], [2.75]),  # video1.mp4's spacing
        ([[("text", 1), ("video", (4, 4, 8)), ("text", 2)]], None),  # 1 s per patch
        ([[("text", 1), ("video", (4, 4, 8)), ("text", 2)]], [2 / 3]),  # times k x 4/3, truncated
        ([[("text", 2), ("video", (2, 8, 8)), ("text", 2)]], [0.5]),  # time within the grid
        ([[("video", (4, 4, 4))]], [1.0]),  # nothing after the video
        (
            [
                [
                    ("text", 2),
                    ("video", (4, 4, 4)),
                    ("text", 3),
                    ("image", (1, 4, 6)),
                    ("text", 1),
                    ("video", (6, 4, 4)),
                    ("text", 5),
                ]
            ],
            [2.0, 0.5],
        ),  # several videos and an image
        (
            [
                [("text", 2), ("video", (8, 6, 10)), ("text", 4)],
                [("text", 9)],
                [("text", 1), ("image", (1, 4, 4)), ("text", 2)],
                [("text", 5), ("video", (4, 4, 6)), ("text", 30)],
            ],
            [2.75, 1.25],
        ),  # left padding: rows of different lengths, a text-only row
    ],
)
def test_positions_equal_the_published_code(prompts, seconds):
    _assert_matches_published(_batch(*prompts, seconds=seconds))


# --- on the tiny checkpoints ------------------------------------------------------------------


def _prompts(model_dir, make_clip, fast_vision: bool = True):
    """(model via load_model, processor, batch): a short and a long video question (left
    padding) and an image question."""
    from video_r1.data.records import Record
    from video_r1.models import load_model, load_processor
    from video_r1.prompts import build_messages, encode_prompts

    model = load_model(model_dir, dtype="float32", fast_vision=fast_vision).eval()
    processor = load_processor(model_dir)
    clip = make_clip(model.config.vision_config.patch_size)
    short = Record(
        problem_id=1, problem="Where does it go?", data_type="video",
        problem_type="multiple choice", solution="<answer>A</answer>", path="v.mp4",
        media_path=clip.path, options=("A. left", "B. right"),
    )  # fmt: skip
    long = dataclasses.replace(short, problem="Watch the whole clip. " * 6 + "Where does it go?")
    image = dataclasses.replace(
        short, data_type="image", problem="Colour?", problem_type="free-form", options=()
    )
    batch = encode_prompts(
        processor, [build_messages(r) for r in (short, long, image)], [clip, clip, clip.frames[0]]
    )
    return model, processor, batch


def _published_for(model, inputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    config = model.config
    return _published_rope_index(
        inputs["input_ids"], inputs.get("image_grid_thw"), inputs.get("video_grid_thw"),
        inputs.get("second_per_grid_ts"), inputs["attention_mask"],
        image_token_id=config.image_token_id, video_token_id=config.video_token_id,
        vision_start_token_id=config.vision_start_token_id,
        spatial_merge_size=config.vision_config.spatial_merge_size,
        tokens_per_second=config.vision_config.tokens_per_second,
    )  # fmt: skip


@pytest.fixture(scope="module")
def qwen25(tiny_qwen25, make_clip):
    return _prompts(tiny_qwen25, make_clip)


def test_loaded_qwen25_computes_the_published_positions(qwen25):
    """`load_model` installs them: the base model's get_rope_index (what its forward, and
    `generate`, call) on real prompts; the video's time axis reaches past its grid here."""
    model, _, batch = qwen25
    inputs = batch.model_inputs
    assert float(inputs["second_per_grid_ts"][0]) > 1.0  # video1.mp4's 16 frames: 2.75 s
    positions, offsets = model.model.get_rope_index(**inputs)
    reference, deltas = _published_for(model, inputs)
    real = inputs["attention_mask"].bool()
    assert torch.equal(positions[:, real], reference[:, real])
    assert torch.equal(offsets, deltas + (~real).sum(dim=1, keepdim=True))
    without_types = {k: v for k, v in inputs.items() if k != "mm_token_type_ids"}
    derived = model.model.get_rope_index(**without_types)  # types read from the placeholders
    assert torch.equal(derived[0], positions) and torch.equal(derived[1], offsets)


def test_a_whole_sequence_forward_uses_them(qwen25):
    """A forward that derives its own positions (SFT, the plain log-prob pass) equals one
    given the published positions."""
    model, _, batch = qwen25
    inputs = batch.model_inputs
    published, _ = _published_for(model, inputs)
    real = inputs["attention_mask"].bool()
    with torch.no_grad():
        own = model(**inputs).logits[real]
        given = model(**inputs, position_ids=published).logits[real]
    torch.testing.assert_close(own, given, rtol=0, atol=1e-5)


def test_qwen25_logprobs_and_decoding_use_the_published_positions(qwen25):
    """Log-probs of completions after a video prompt, on every path (each prompt run per
    rollout; each row's cache copied; kept once), equal a forward given the published
    positions explicitly; greedy decoding (transformers' generate, copied cache, shared cache,
    the fixed-shape decode) picks the tokens that forward picks. With transformers 5's
    positions the video rows' log-probs differ."""
    from video_r1.models import generation_config, stop_token_ids
    from video_r1.rollout import (
        completion_logprobs,
        encode_vision,
        generate_rollouts,
        rows_inputs,
    )
    from video_r1.rollout.generate import prefill_prompts

    model, processor, batch = qwen25
    eos = stop_token_ids(processor.tokenizer)
    greedy = generation_config(model, processor, max_new_tokens=6, do_sample=False)
    counts = [2, 1, 2]
    modes = {
        "generate": {"share_prefix": False},
        "copied": {"cascade": False},
        "shared": {},
        "static": {"cascade": False, "static_cache": True},
    }
    with torch.no_grad():
        encoded = encode_vision(model, batch.model_inputs)
        _, deltas, _ = prefill_prompts(model, encoded, [0, 1, 2])
        generated = {n: generate_rollouts(model, encoded, counts, greedy, eos, **m)
                     for n, m in modes.items()}  # fmt: skip
        rollouts = generated["shared"]
        logprobs = {
            name: completion_logprobs(model, encoded, rollouts, **mode)
            for name, mode in modes.items()
            if name != "static"
        }
    # the reference: prompt + completion in one forward (the same vision features), the
    # published positions given explicitly
    inputs = rows_inputs(encoded, rollouts.rows.tolist())
    completion = rollouts.completion_ids
    inputs["input_ids"] = torch.cat([rollouts.prompt_ids, completion], dim=1)
    inputs["attention_mask"] = torch.cat([rollouts.prompt_mask, rollouts.completion_mask], 1)
    inputs["mm_token_type_ids"] = torch.cat(
        [inputs["mm_token_type_ids"], torch.zeros_like(completion)], dim=1
    )
    positions, _ = _published_for(model, inputs)
    with torch.no_grad():
        logits = model(**inputs, position_ids=positions).logits[:, -completion.shape[1] - 1 : -1]
    reference = torch.log_softmax(logits.float(), -1).gather(-1, completion[..., None])[..., 0]
    mask = rollouts.completion_mask.bool()
    for name, lp in logprobs.items():
        assert torch.allclose(lp[mask], reference[mask], atol=1e-5), name
    # greedy: each completion token is the argmax of the reference logits before it
    # (vision tokens and spare embedding rows suppressed, as generation does)
    logits[..., greedy.suppress_tokens] = float("-inf")
    assert torch.equal(logits.argmax(-1)[mask], completion[mask])
    for name, out in generated.items():
        assert torch.equal(out.completion_ids, completion), name
    # decoding continues each prompt at the published offset (`rope_deltas`)
    padding = (batch.model_inputs["attention_mask"] == 0).sum(dim=1, keepdim=True)
    assert torch.equal(deltas, _published_for(model, batch.model_inputs)[1] + padding)


def _logits(model, inputs: dict) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs).logits


@pytest.mark.parametrize("arch", ["qwen2-vl", "qwen3-vl"])
def test_other_architectures_keep_transformers_positions(arch, tiny_model_factory, make_clip):
    """Qwen2-VL and Qwen3-VL are loaded as transformers has them: nothing installed, the
    same logits on a video, a long video and an image prompt as a plain from_pretrained."""
    from transformers import AutoModelForImageTextToText

    model, _, batch = _prompts(tiny_model_factory(arch), make_clip, fast_vision=False)
    assert "get_rope_index" not in vars(model.model)
    assert use_trained_positions(model) == 0
    plain = AutoModelForImageTextToText.from_pretrained(
        tiny_model_factory(arch), dtype=torch.float32
    ).eval()
    real = batch.model_inputs["attention_mask"].bool()
    assert torch.equal(*(_logits(m, batch.model_inputs)[real] for m in (model, plain)))


def test_qwen25_image_and_text_prompts_are_unchanged(tiny_qwen25, make_clip):
    """Only videos move: an image prompt's and a text-only prompt's positions and logits equal
    transformers' own."""
    from transformers import AutoModelForImageTextToText

    from video_r1.models import load_model, load_processor
    from video_r1.prompts import encode_prompts

    model = load_model(tiny_qwen25, dtype="float32", fast_vision=False).eval()
    plain = AutoModelForImageTextToText.from_pretrained(tiny_qwen25, dtype=torch.float32).eval()
    processor = load_processor(tiny_qwen25)
    image = make_clip(14).frames[0]
    ask = [{"type": "text", "text": "What colour dominates?"}]
    image_batch = encode_prompts(
        processor,
        [[{"role": "user", "content": [{"type": "image"}, *ask]}],
         [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]}]],
        [image, image],
    ).model_inputs  # fmt: skip
    text_batch = encode_prompts(
        processor,
        [[{"role": "user", "content": ask}],
         [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]],
        [None, None],
    ).model_inputs  # fmt: skip
    ours, _ = model.model.get_rope_index(**image_batch)
    theirs, _ = plain.model.get_rope_index(**image_batch)
    real = image_batch["attention_mask"].bool()
    assert torch.equal(ours[:, real], theirs[:, real])
    for inputs in (image_batch, text_batch):
        real = inputs["attention_mask"].bool()
        logits = [_logits(m, inputs)[real] for m in (model, plain)]
        assert torch.equal(*logits)
