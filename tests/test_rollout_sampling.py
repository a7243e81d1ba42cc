"""The rollout decoder samples from exactly the distribution its settings name: transformers'
processors' distribution, nothing taken from the checkpoint's generation_config.json."""

import json
import shutil

import pytest
import torch

from video_r1.data.records import Record
from video_r1.models import generation_config, load_model, load_processor
from video_r1.prompts import build_messages, encode_prompts
from video_r1.rollout import encode_vision, generate_rollouts

# what Qwen2.5-VL-7B-Instruct's generation_config.json sets besides its token ids
INSTRUCT_DEFAULTS = {"do_sample": True, "top_k": 1, "top_p": 0.001, "temperature": 0.1,
                     "repetition_penalty": 1.05}  # fmt: skip


def _transformers_probs(logits, temperature, top_k, top_p, suppress):
    """Probabilities after transformers' own processors, in generate()'s order."""
    from transformers.generation.logits_process import (
        SuppressTokensLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    scores = SuppressTokensLogitsProcessor(suppress)(None, logits.clone())
    if temperature != 1.0:
        scores = TemperatureLogitsWarper(temperature)(None, scores)
    if top_k:
        scores = TopKLogitsWarper(top_k)(None, scores)
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p)(None, scores)
    return scores.softmax(dim=-1)


@pytest.mark.parametrize(
    "temperature,top_k,top_p",
    [(0.7, 10, 0.8), (1.0, 0, 0.9), (1.3, 6, 1.0), (1.0, 50, 0.95)],
)
def test_sampler_draws_from_the_distribution_of_transformers_processors(temperature, top_k, top_p):
    from video_r1.rollout import TokenSampler

    logits = torch.randn(1, 40, generator=torch.Generator().manual_seed(3)) * 2
    suppress = [3, 5, 17]
    expected = _transformers_probs(logits, temperature, top_k, top_p, suppress)[0]
    sampler = TokenSampler(True, temperature, top_k, top_p, tuple(suppress))
    draws = 60_000
    tokens = sampler(
        logits.expand(draws, -1),
        sampler.suppress_mask(40, logits.device),
        generator=torch.Generator().manual_seed(0),
    )
    freq = torch.bincount(tokens, minlength=40).float() / draws
    assert set(tokens.unique().tolist()) <= set(expected.nonzero().flatten().tolist())
    assert (freq - expected).abs().max() < 0.01, (freq, expected)
    assert freq[suppress].sum() == 0


@pytest.mark.parametrize("top_k,top_p", [(0, 0.95), (0, 0.5), (0, 0.999), (50, 0.95), (0, 1.0)])
def test_candidates_equal_transformers_probabilities_on_a_large_vocabulary(top_k, top_p):
    """Exact probabilities, not draws: one peaked row (a handful of tokens hold top_p), one
    flat row (thousands do, so top-p without top-k widens its candidates) and one between."""
    from video_r1.rollout import TokenSampler

    gen = torch.Generator().manual_seed(1)
    vocab = 5000
    logits = torch.stack([
        torch.randn(vocab, generator=gen) * 6,  # peaked
        torch.randn(vocab, generator=gen) * 0.05,  # nearly flat: ~0.95 x 5000 tokens
        torch.randn(vocab, generator=gen) * 1.5,
    ])  # fmt: skip
    suppress = (3, 5, 17)
    sampler = TokenSampler(True, 0.7, top_k, top_p, suppress)
    scores = logits.masked_fill(sampler.suppress_mask(vocab, logits.device), float("-inf")) / 0.7
    probs, ids = sampler.candidates(scores)
    got = probs.clone() if ids is None else torch.zeros(3, vocab).scatter_(1, ids, probs)
    got = got / got.sum(dim=-1, keepdim=True)
    if top_k == 0 and top_p < 1.0:  # candidates widened for the flat row only
        assert (got[0] > 0).sum() < 64 < (got[1] > 0).sum()
    # transformers' processors sum from the other end: the same tokens up to the one at the
    # boundary, where float rounding decides (as it did for the sort this replaced)
    expected = _transformers_probs(logits, 0.7, top_k, top_p, list(suppress))
    assert ((got > 0).sum(-1) - (expected > 0).sum(-1)).abs().max() <= 1
    assert (got - expected).abs().sum(dim=-1).max() < 1e-4  # total variation


@pytest.mark.parametrize("top_k,top_p", [(0, 0.95), (50, 0.95), (50, 1.0), (0, 1.0)])
def test_sampled_logprobs_are_the_log_of_the_draws_distribution(top_k, top_p):
    """What the trainer compares with vLLM's processed log-probs: log of the distribution a
    draw picks from (transformers' processors) for every token it may pick; a token it may
    not (suppressed, or cut by top-k / top-p) is renormalised over the kept set plus itself."""
    from video_r1.rollout import TokenSampler

    gen = torch.Generator().manual_seed(2)
    vocab = 5000
    logits = torch.randn(4, vocab, generator=gen) * torch.tensor([[6.0], [0.05], [1.5], [3.0]])
    suppress = (3, 5, 17)
    sampler = TokenSampler(True, 0.7, top_k, top_p, suppress)
    expected = _transformers_probs(logits, 0.7, top_k, top_p, list(suppress))  # [4, V]
    suppressed = sampler.suppress_mask(vocab, logits.device)
    for token in [int(expected[r].argmax()) for r in range(4)] + [3, 4999]:
        ids = torch.full((4,), token)
        got = sampler.sampled_logprobs(logits / 0.7, ids, suppressed)
        p = expected.gather(1, ids[:, None]).squeeze(1)
        kept = p > 0
        assert torch.allclose(got[kept], p[kept].log(), atol=1e-4)
        full = (logits / 0.7).log_softmax(-1).gather(1, ids[:, None]).squeeze(1)
        mass = (logits / 0.7).masked_fill(~(expected > 0), float("-inf")).logsumexp(-1)
        scores = (logits / 0.7).gather(1, ids[:, None]).squeeze(1)
        outside = scores - torch.logaddexp(mass, scores)
        assert torch.allclose(got[~kept], outside[~kept], atol=1e-4)
        assert (got >= full - 1e-5).all()  # never below the full softmax's log-prob


def test_sampled_log_softmax_holds_stop_ids_back_before_min_new_tokens():
    """Positions before min_new_tokens score with the stop ids out (as vLLM's min_tokens and
    the decoder's), later ones with them in, across the blocks of positions it works in."""
    from video_r1.rollout import TokenSampler
    from video_r1.rollout.logprobs import sampled_log_softmax

    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 300, 1000, generator=gen) * 3
    ids = torch.randint(0, 1000, (2, 300), generator=gen)
    ids[:, ::7] = 7  # a stop id, before and after min_new_tokens
    sampler = TokenSampler(True, 0.8, 50, 0.9, (3, 4), min_new_tokens=200)
    got = sampled_log_softmax(logits, ids, sampler, stop_ids=[7, 8])
    early = sampler.suppress_mask(1000, logits.device, also=[7, 8])
    later = sampler.suppress_mask(1000, logits.device)
    for row in range(2):
        expected = torch.cat([
            sampler.sampled_logprobs(logits[row, :200] / 0.8, ids[row, :200], early),
            sampler.sampled_logprobs(logits[row, 200:] / 0.8, ids[row, 200:], later),
        ])  # fmt: skip
        assert torch.allclose(got[row], expected, atol=1e-6)


def test_greedy_is_the_argmax_among_tokens_not_suppressed():
    from video_r1.rollout import TokenSampler

    logits = torch.tensor([[0.0, 5.0, 1.0, 4.0], [3.0, 0.0, 2.0, 9.0]])
    sampler = TokenSampler(do_sample=False, suppress=(1,))
    assert sampler(logits, sampler.suppress_mask(4, logits.device)).tolist() == [3, 3]
    assert sampler(logits, sampler.suppress_mask(4, logits.device, also=[3])).tolist() == [2, 0]


def test_settings_the_decoder_cannot_apply_are_refused():
    from transformers import GenerationConfig

    from video_r1.rollout import TokenSampler

    with pytest.raises(ValueError, match="repetition_penalty"):
        TokenSampler.from_config(GenerationConfig(do_sample=True, repetition_penalty=1.05))
    with pytest.raises(ValueError, match="num_beams"):
        TokenSampler.from_config(GenerationConfig(num_beams=4))
    sampler = TokenSampler.from_config(
        GenerationConfig(do_sample=True, top_k=7, top_p=0.5, temperature=0.3, min_new_tokens=2)
    )
    assert (sampler.top_k, sampler.top_p, sampler.temperature, sampler.min_new_tokens) == (
        7, 0.5, 0.3, 2,
    )  # fmt: skip


def _encoded_prompt(model, processor, make_clip):
    clip = make_clip(model.config.vision_config.patch_size)
    record = Record(problem_id=1, problem="Where does it go?", data_type="video",
                    problem_type="multiple choice", solution="<answer>A</answer>",
                    path="v.mp4", media_path=clip.path, options=("A. left", "B. right"))  # fmt: skip
    batch = encode_prompts(processor, [build_messages(record)], [clip])
    with torch.no_grad():
        return encode_vision(model, batch.model_inputs)


def test_a_checkpoints_generation_config_does_not_make_rollouts_greedy(
    tiny_qwen25, make_clip, tmp_path
):
    """A real Qwen2.5-VL-Instruct checkpoint ships top_k 1, top_p 0.001 and
    repetition_penalty 1.05; transformers 5 fills the fields a generate() config leaves unset
    from it, which made every rollout of a group the same greedy text (all advantages 0)."""
    instruct = tmp_path / "instruct"
    shutil.copytree(tiny_qwen25, instruct)
    path = instruct / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **INSTRUCT_DEFAULTS}))
    model, processor = load_model(instruct, dtype="float32"), load_processor(instruct)
    assert model.generation_config.top_k == 1
    encoded = _encoded_prompt(model, processor, make_clip)
    config = generation_config(model, processor, max_new_tokens=12, do_sample=True)
    for share_prefix in (True, False):  # our decoder, and transformers' generate
        torch.manual_seed(0)
        rollouts = generate_rollouts(model, encoded, [8], config, share_prefix=share_prefix)
        distinct = {tuple(row) for row in rollouts.completion_ids.tolist()}
        assert len(distinct) >= 6, (share_prefix, len(distinct))
    assert model.generation_config.top_k == 1  # the checkpoint's own config is left as it was


def test_no_stop_token_before_min_new_tokens(tiny_qwen25, make_clip):
    """With the greedy first token made a stop token, decoding ends after it; with
    min_new_tokens 3 it cannot appear among the first 3 tokens (transformers' rule)."""
    model, processor = load_model(tiny_qwen25, dtype="float32"), load_processor(tiny_qwen25)
    encoded = _encoded_prompt(model, processor, make_clip)
    config = generation_config(model, processor, max_new_tokens=6, do_sample=False)
    first = int(generate_rollouts(model, encoded, [2], config).completion_ids[0, 0])
    config.eos_token_id = [first]
    stopped = generate_rollouts(model, encoded, [2], config)
    assert stopped.completion_ids.tolist() == [[first], [first]]
    assert stopped.completion_mask.tolist() == [[1], [1]] and not stopped.truncated.any()
    config.min_new_tokens = 3
    held = generate_rollouts(model, encoded, [2], config)
    assert first not in held.completion_ids[:, :3].flatten().tolist()
    assert held.completion_ids.shape[1] > 3
    reference = generate_rollouts(model, encoded, [2], config, share_prefix=False)
    assert torch.equal(held.completion_ids, reference.completion_ids)  # transformers agrees
