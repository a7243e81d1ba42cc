"""Rollouts: the vision tower once per (prompt, frame order), one batched generation call.

`vision`: encode a prompt batch's media once (`encode_vision`) and hand later forwards
references to the features (`rows_inputs`). `generate`: prefill each prompt row once and
share its KV cache with its rollouts (`prefill_prompts`, `generate_rollouts`), then decode all
rollouts in one batch with exactly the given sampling settings (`decode_completions`,
`sampling.TokenSampler`). `cascade`:
the shared-prefix attention that reads each row's cache once, not once per rollout.
`logprobs`: log-probs of the sampled tokens (`completion_logprobs`).
"""

from video_r1.rollout.generate import (
    Rollouts,
    completion_mask,
    decode_completions,
    generate_rollouts,
    prefill_prompts,
    without_checkpoint_defaults,
)
from video_r1.rollout.logprobs import completion_logprobs, selective_log_softmax
from video_r1.rollout.sampling import TokenSampler
from video_r1.rollout.vision import EncodedPrompts, detach_features, encode_vision, rows_inputs

__all__ = [
    "EncodedPrompts",
    "Rollouts",
    "TokenSampler",
    "completion_logprobs",
    "completion_mask",
    "decode_completions",
    "detach_features",
    "encode_vision",
    "generate_rollouts",
    "prefill_prompts",
    "rows_inputs",
    "selective_log_softmax",
    "without_checkpoint_defaults",
]
