"""The fixed-shape decode (video_r1/rollout/static_decode.py) a GPU replays as CUDA graphs.

Its tokens equal every other path's on each architecture (tests/test_rollout.py, left
padding and an image row); here: the cache's layout, where it is chosen, and what it refuses.
No test here needs a GPU: the graph capture itself is measured by benchmarks/grpo_step.py
(`--modes optimised,eager-decode --device cuda`, docs/speed.md)."""

import pytest
import torch
from transformers.cache_utils import DynamicCache

from video_r1.rollout.generate import _use_static_cache
from video_r1.rollout.static_decode import (
    StaticDecoder,
    StaticRolloutCache,
    supports_static_decode,
)


def _prompt_cache(rows=2, heads=2, length=3, dim=4, layers=2):
    cache = DynamicCache()
    for layer in range(layers):
        keys = torch.randn(rows, heads, length, dim)
        cache.update(keys, -keys, layer)
    return cache


def test_the_cache_holds_each_rollouts_prompt_then_room_written_in_place():
    prompt = _prompt_cache()
    select = torch.tensor([1, 1, 0])
    cache = StaticRolloutCache(prompt, select, capacity=4)
    layer = cache.layers[1]
    assert layer.keys.shape == (3, 2, 3 + 4, 4)
    torch.testing.assert_close(layer.keys[:, :, :3], prompt.layers[1].keys[select])
    torch.testing.assert_close(layer.values[:, :, :3], prompt.layers[1].values[select])
    assert not layer.keys[:, :, 3:].any()  # zeros, not garbage: masked keys add nothing
    new = torch.randn(3, 2, 1, 4)
    cache.position.fill_(5)
    keys, values = cache.update(new, 2 * new, 1)
    assert keys is layer.keys and values is layer.values  # the same addresses every step
    torch.testing.assert_close(keys[:, :, 5:6], new)
    torch.testing.assert_close(values[:, :, 5:6], 2 * new)
    assert not keys[:, :, 3:5].any() and not keys[:, :, 6:].any()
    with pytest.raises(ValueError, match="one token per step"):
        cache.update(torch.randn(3, 2, 2, 4), torch.randn(3, 2, 2, 4), 0)


def test_a_step_past_the_cache_is_refused():
    cache = StaticRolloutCache(_prompt_cache(rows=1), torch.tensor([0, 0]), capacity=2)
    decoder = StaticDecoder(torch.nn.Identity(), torch.nn.Identity(), cache,
                            torch.ones(2, 3, dtype=torch.long), torch.zeros(2, 1, dtype=torch.long),
                            "cache", graphs=False)  # fmt: skip
    with pytest.raises(ValueError, match="past the cache's 5 tokens"):
        decoder(torch.zeros(2, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="prompt mask of 4 tokens for a cache of 3"):
        StaticDecoder(torch.nn.Identity(), torch.nn.Identity(), cache,
                      torch.ones(2, 4, dtype=torch.long), torch.zeros(2, 1, dtype=torch.long),
                      "cache", graphs=False)  # fmt: skip


def test_where_the_static_cache_is_used(tiny_qwen25):
    from video_r1.models import load_model

    model = load_model(tiny_qwen25, dtype="float32")
    cpu = torch.device("cpu")
    assert _use_static_cache(model, None, cpu, synced_gpus=False) is False  # CUDA only
    assert _use_static_cache(model, True, cpu, synced_gpus=False) is True
    assert _use_static_cache(model, False, cpu, synced_gpus=False) is False
    with pytest.raises(ValueError, match="synced_gpus"):
        _use_static_cache(model, True, cpu, synced_gpus=True)
    text = model.model.language_model.config
    assert supports_static_decode(text)
    text.layer_types = ["full_attention", "sliding_attention"]
    assert not supports_static_decode(text)
    with pytest.raises(ValueError, match="sliding-window"):
        _use_static_cache(model, True, cpu, synced_gpus=False)


def _image_prompts(model, processor, device: str = "cpu") -> dict:
    """Two image prompts of different lengths (the shorter one left-padded), on `device`."""
    from video_r1.data.records import Record
    from video_r1.prompts import build_messages, encode_prompts

    questions = ("Which colour?", "Which colour is the largest object in this picture, and why?")
    records = [
        Record(problem_id=i, problem=q, data_type="image", problem_type="free-form",
               solution="<answer>red</answer>", path="x.png", media_path="x.png")
        for i, q in enumerate(questions)
    ]  # fmt: skip
    side = 4 * model.config.vision_config.patch_size  # 2 x 2 merged patches
    images = [torch.randint(0, 256, (3, side, side), dtype=torch.uint8) for _ in records]
    batch = encode_prompts(processor, [build_messages(r) for r in records], images)
    inputs = {k: v.to(device) for k, v in batch.model_inputs.items()}
    assert (inputs["attention_mask"] == 0).any()  # left padding is used
    return inputs


@pytest.fixture
def fresh_accelerator_state():
    """accelerate keeps one process-wide state whose precision cannot change: start from
    none and leave none, so that later tests (mixed_precision "no") are unaffected."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def test_decode_steps_run_at_the_prefills_autocast_precision(
    tiny_model_dir, fresh_accelerator_state
):
    """float32 weights under accelerate's bf16 autocast (configs/grpo.yaml): the prefill goes
    through the prepared forward, so its cache holds bf16 K/V; the fixed-shape decode calls
    the text model and head directly and must run under the same autocast (else each step
    writes float32 K/V into the bf16 cache and index_copy_ fails), giving the tokens of the
    model's own forward on a growing cache, on every architecture."""
    from accelerate import Accelerator

    from video_r1.models import generation_config, load_model, load_processor, stop_token_ids
    from video_r1.rollout import encode_vision, generate_rollouts

    torch.manual_seed(0)
    accelerator = Accelerator(cpu=True, mixed_precision="bf16")
    model = accelerator.prepare_model(load_model(tiny_model_dir, dtype="float32"))
    assert next(model.parameters()).dtype == torch.float32
    processor = load_processor(tiny_model_dir)
    inputs = _image_prompts(model, processor)
    eos = stop_token_ids(processor.tokenizer)
    greedy = generation_config(model, processor, max_new_tokens=8, do_sample=False)
    greedy.min_new_tokens = 8  # every step runs
    with torch.no_grad():
        encoded = encode_vision(model, inputs)
        static = generate_rollouts(
            model, encoded, [3, 2], greedy, eos, cascade=False, static_cache=True
        )
        eager = generate_rollouts(
            model, encoded, [3, 2], greedy, eos, cascade=False, static_cache=False
        )
    assert static.completion_ids.shape == (5, 8)
    assert torch.equal(static.completion_ids, eager.completion_ids)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["float32", "bf16"])
def test_on_cuda_the_replayed_graphs_decode_the_eager_tokens(
    tiny_model_dir, precision, monkeypatch, fresh_accelerator_state
):
    """On a GPU generation captures its decode step once and replays it: the same greedy
    tokens as the model's own forward on a growing cache, for rows of different prompt
    lengths (left padding), on every architecture; with float32 weights, and with float32
    weights under accelerate's bf16 autocast (configs/grpo.yaml: the graph replays the
    autocast step)."""
    from accelerate import Accelerator

    from video_r1.models import generation_config, load_model, load_processor, stop_token_ids
    from video_r1.rollout import encode_vision, generate_rollouts, static_decode

    captured = []
    capture = static_decode.StaticDecoder._capture

    def recorded(self):
        captured.append(capture(self))
        return captured[-1]

    monkeypatch.setattr(static_decode.StaticDecoder, "_capture", recorded)
    torch.manual_seed(0)
    accelerator = Accelerator(mixed_precision="bf16" if precision == "bf16" else "no")
    model = accelerator.prepare_model(load_model(tiny_model_dir, dtype="float32"))
    assert next(model.parameters()).dtype == torch.float32 and model.device.type == "cuda"
    processor = load_processor(tiny_model_dir)
    inputs = _image_prompts(model, processor, "cuda")
    eos = stop_token_ids(processor.tokenizer)
    greedy = generation_config(model, processor, max_new_tokens=12, do_sample=False)
    greedy.min_new_tokens = 12  # every step runs: the graph is captured and replayed
    with torch.no_grad():
        encoded = encode_vision(model, inputs)
        graphs = generate_rollouts(model, encoded, [3, 2], greedy, eos)  # the default on CUDA
        eager = generate_rollouts(model, encoded, [3, 2], greedy, eos, static_cache=False)
    assert len(captured) == 1 and captured[0] is not None
    assert graphs.completion_ids.shape == (5, 12)
    assert torch.equal(graphs.completion_ids, eager.completion_ids)
