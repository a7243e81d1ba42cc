"""Next-token choice of the rollout decoder: exactly the settings given, nothing inherited.

`TokenSampler.from_config` reads a GenerationConfig built by `video_r1.models.generation_config`
and applies, in transformers' order, the processors it names: suppressed tokens, temperature,
top-k, top-p (nucleus), then a draw (or the argmax without sampling). Two reasons it is ours:

- transformers 5 fills every field a generate() config leaves None from the checkpoint's own
  generation_config.json. A real Qwen2.5-VL-Instruct ships top_k 1 and repetition_penalty
  1.05 there, so `model.generate` with `top_p=0.95, temperature=1.0` silently samples greedily:
  every rollout of a group identical, every advantage 0. Here only the config's own fields act.
- Speed: top-p runs on the top-k candidates only (one `topk`, not a sort of the vocabulary;
  without top-k on the fewest best tokens that hold top_p, `nucleus_superset`), and the draw
  is an exponential race on those k (no `torch.multinomial` over the vocabulary, which alone
  took 0.11 s of a 4-prompt benchmark step on this CPU).

The distribution is transformers' exactly (tests/test_rollout_sampling.py compares the
probabilities with its logits processors); the random draws are not the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

# GenerationConfig fields the decoder does not implement, with the value meaning "off".
UNSUPPORTED_OFF = {
    "num_beams": 1,
    "repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "min_length": 0,
    "typical_p": 1.0,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
}
UNSUPPORTED_NONE = ("min_p", "top_h", "bad_words_ids", "sequence_bias", "forced_bos_token_id",
                    "forced_eos_token_id", "begin_suppress_tokens", "guidance_scale")  # fmt: skip


@dataclass(frozen=True)
class TokenSampler:
    """How the next token is chosen from a row's logits.

    do_sample False: argmax. Otherwise logits / temperature, restricted to the top_k best
    (0: all) and to the smallest set of those whose probability reaches top_p (1.0: all),
    then drawn. suppress: token ids never chosen (vision placeholders, padding rows);
    min_new_tokens: stop tokens are not chosen before that many tokens (the decoder passes
    them to `suppress_mask` while it applies).
    """

    do_sample: bool
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    suppress: tuple[int, ...] = ()
    min_new_tokens: int = 0

    @classmethod
    def from_config(cls, config) -> TokenSampler:
        """The sampler a GenerationConfig describes; ValueError for a setting it cannot apply.

        Example:
            >>> from transformers import GenerationConfig
            >>> TokenSampler.from_config(GenerationConfig(do_sample=True, top_k=50, top_p=0.9))
            TokenSampler(do_sample=True, temperature=1.0, top_k=50, top_p=0.9, suppress=(), min_new_tokens=0)
        """
        for name, off in UNSUPPORTED_OFF.items():
            value = getattr(config, name, None)
            if value is not None and value != off:
                raise ValueError(f"rollout decoding does not support {name}={value!r}")
        for name in UNSUPPORTED_NONE:
            if getattr(config, name, None) not in (None, [], {}):
                raise ValueError(f"rollout decoding does not support {name}")
        temperature = 1.0 if config.temperature is None else float(config.temperature)
        if config.do_sample and temperature <= 0:
            raise ValueError(f"temperature must be > 0 to sample, got {temperature}")
        return cls(
            do_sample=bool(config.do_sample),
            temperature=temperature,
            top_k=int(config.top_k or 0),
            top_p=1.0 if config.top_p is None else float(config.top_p),
            suppress=tuple(int(i) for i in (config.suppress_tokens or ())),
            min_new_tokens=int(config.min_new_tokens or 0),
        )

    def suppress_mask(
        self, vocab_size: int, device: torch.device, also: Sequence[int] = ()
    ) -> torch.Tensor | None:
        """[V] True on suppressed ids and `also` (ids past the vocabulary are ignored), None
        if none."""
        ids = [i for i in (*self.suppress, *also) if 0 <= i < vocab_size]
        if not ids:
            return None
        mask = torch.zeros(vocab_size, dtype=torch.bool, device=device)
        mask[torch.as_tensor(ids, device=device)] = True
        return mask

    def __call__(
        self, logits: torch.Tensor, suppressed: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """Next token [N] from logits [N, V]; `suppressed`: `suppress_mask(V, device)`."""
        scores = logits.float()
        if suppressed is not None:
            scores = scores.masked_fill(suppressed, float("-inf"))
        if not self.do_sample:
            return scores.argmax(dim=-1)
        if self.temperature != 1.0:
            scores = scores / self.temperature
        probs, ids = self.candidates(scores)
        # exponential race: argmax p_i / E_i with E_i ~ Exp(1) picks i with probability
        # p_i / sum(p) (unnormalised p is fine; p = 0 never wins). A draw of exactly 0
        # (probability ~2^-24 each, so a few per long run) would make 0 / 0 = NaN win argmax.
        race = torch.empty_like(probs).exponential_(generator=generator)
        race = race.clamp_min_(torch.finfo(race.dtype).tiny)
        choice = (probs / race).argmax(dim=-1, keepdim=True)  # [N, 1]
        return (choice if ids is None else ids.gather(-1, choice)).squeeze(-1)

    def candidates(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(probs [N, k], ids [N, k] or None for the whole vocabulary) from tempered, suppressed
        scores [N, V]: the tokens a draw may pick, probs proportional to the distribution
        after transformers' top-k and top-p processors (0 where top-p drops a token)."""
        vocab = scores.shape[-1]
        if 0 < self.top_k < vocab:
            values, ids = scores.topk(self.top_k, dim=-1)  # [N, k], best first
            probs = values.softmax(dim=-1)
        elif self.top_p < 1.0:
            probs, ids = nucleus_superset(scores.softmax(dim=-1), self.top_p)
        else:
            return scores.softmax(dim=-1), None
        if self.top_p < 1.0:
            # transformers' TopP drops a token when the probability of the tokens ranked
            # at or below it is <= 1 - top_p, i.e. when the tokens ranked above it already
            # hold >= top_p; the best token always stays
            above = probs.cumsum(dim=-1) - probs
            probs = probs.masked_fill(above >= self.top_p, 0.0)
        return probs, ids

    def sampled_logprobs(
        self, scores: torch.Tensor, token_ids: torch.Tensor, suppressed: torch.Tensor | None
    ) -> torch.Tensor:
        """[N] float32 log-probability of `token_ids` [N] under the distribution a draw picks
        from: tempered scores [N, V] without the `suppressed` ids ([N, V] or [V] True), cut to
        top-k and top-p as `candidates` does, renormalised. A token that set leaves out is
        scored as if the set held it too (renormalised over the set plus itself): another
        engine's logits may keep a boundary token these drop, which should read as a finite
        gap, not -inf.

        Example:
            >>> s = TokenSampler(do_sample=True, top_k=2)
            >>> s.sampled_logprobs(torch.tensor([[0.0, 0.0, -9.0]]), torch.tensor([1]), None)
            tensor([-0.6931])
        """
        scores = scores.float()
        picked = scores.gather(-1, token_ids[:, None]).squeeze(-1)  # [N]
        allowed = scores if suppressed is None else scores.masked_fill(suppressed, float("-inf"))
        vocab = scores.shape[-1]
        ids = None
        if 0 < self.top_k < vocab:
            values, ids = allowed.topk(self.top_k, dim=-1)  # [N, k], best first
        elif self.top_p < 1.0:
            _, ids = nucleus_superset(allowed.softmax(dim=-1), self.top_p)
            values = allowed.gather(-1, ids)
        else:
            values = allowed
        if self.top_p < 1.0:  # as `candidates`: drop a token with >= top_p ranked above it
            probs = values.softmax(dim=-1)
            values = values.masked_fill(probs.cumsum(dim=-1) - probs >= self.top_p, float("-inf"))
        if ids is None:
            inside = allowed.gather(-1, token_ids[:, None]).squeeze(-1).isfinite()
        else:
            inside = ((ids == token_ids[:, None]) & values.isfinite()).any(dim=-1)
        kept = torch.logsumexp(values, dim=-1)  # [N] log of the kept set's unnormalised mass
        return picked - torch.where(inside, kept, torch.logaddexp(kept, picked))


def nucleus_superset(
    probs: torch.Tensor, top_p: float, first: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k most probable tokens of each row, best first ([N, k] probabilities and ids), k the
    smallest of first, 4 first, 16 first, ... (at most the vocabulary) at which every row's
    top k hold top_p: a token ranked below them has >= top_p above it, so top-p drops it.

    Top-p without top-k (evaluation and annotation, as vLLM samples) then costs a `topk` of
    a few dozen tokens per step instead of a sort of the vocabulary (151,646 tokens for
    Qwen2.5-VL; on the tiny models here the sort was 12% of an RL run's time).

    Example:
        >>> p, ids = nucleus_superset(torch.tensor([[0.1, 0.6, 0.3]]), 0.8, first=1)
        >>> ids.tolist()  # 0.6 < 0.8: widened to 3 tokens (the whole vocabulary)
        [[1, 2, 0]]
    """
    vocab = probs.shape[-1]
    k = min(first, vocab)
    while True:
        top, ids = probs.topk(k, dim=-1)
        if k == vocab or bool((top.cumsum(dim=-1)[:, -1] >= top_p).all()):
            return top, ids
        k = min(vocab, 4 * k)


def finished_after(tokens: torch.Tensor, stop_ids: Sequence[int]) -> torch.Tensor:
    """[N] True where the token is a stop token.

    Example:
        >>> finished_after(torch.tensor([3, 9, 7]), [9, 7])
        tensor([False,  True,  True])
    """
    return torch.isin(tokens, torch.as_tensor(list(stop_ids), device=tokens.device))
