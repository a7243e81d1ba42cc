"""The prefix-grouped log-prob pass: each prompt row once, its rollouts' completions after it.

The per-rollout pass (`completion_logprobs` under activation checkpointing, which turns the KV
cache off in training) feeds one full sequence per rollout, so each of a row's 8 + 4 rollouts
carries its own copy of the ~1.1k-token prompt through every layer, forward, recomputation and
backward. Here one sequence per prompt row holds

    [prompt (left-padded, as encoded) | c1 | c2 | ... | cG | right padding to the batch's longest]

with each completion cut at its first EOS (the loss masks every later token; their log-probs
come back 0, as the vLLM engine's do), so nothing pads between a row's completions. The
attention lets each completion see its row's prompt and its own earlier tokens only, and
each completion's positions continue the prompt's: completion token j of a prompt with R real
tokens sits at R + j + delta on all three mrope axes (Qwen-VL text after vision), delta the
prompt's rope offset from the model's own `compute_3d_position_ids` (Qwen2.5-VL: the trained
convention, video_r1.models.positions). So every completion token sees exactly the keys, at
exactly the positions, it sees in its own full sequence: log-probs and gradients equal the
per-rollout pass's up to float rounding, and the prompt's (and the vision tower's) gradients
collect all its rollouts' in one backward. It is one ordinary forward without a cache, so
activation checkpointing, DDP, ZeRO-3 and LoRA wrap it as they wrap any training forward.

Attention: on sdpa (the default) each layer attends split, the prompt causally and each
completion against the prompt and itself, through `grouped_attention` (the layout rides along
as the `grouped_attention` keyword; no dense mask is built, no masked pair computed). Eager
attention gets the dense block mask [U, 1, L, L] as additive -inf, a ready 4D mask that
transformers passes to it unchanged. Flash-attention models take neither (`supports_grouped`).
"""

from __future__ import annotations

import inspect

import torch

from video_r1.rollout.grouped_attention import (
    GROUPED_ATTENTION,
    GroupedAttention,
    use_grouped_attention,
)
from video_r1.rollout.vision import EncodedPrompts, base_model, rows_inputs

# attention implementations the grouped pass runs through: sdpa (switched to the split
# GROUPED_ATTENTION on the first pass) and eager (the dense block mask, additive)
MASKED_IMPLEMENTATIONS = ("sdpa", GROUPED_ATTENTION, "eager")


def supports_grouped(model: torch.nn.Module) -> bool:
    """Whether the text model's attention takes the grouped layout's 4D block mask (sdpa and
    eager do; flash attention kernels take no arbitrary mask)."""
    config = base_model(model).language_model.config
    return config._attn_implementation in MASKED_IMPLEMENTATIONS


def prompt_positions(model: torch.nn.Module, kwargs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """3D positions [3, U, Lp] of the prompt rows in `kwargs` (rows_inputs) and each row's
    text offset [U, 1]: a text token at real index i sits at i + offset on every axis.

    The model's own `compute_3d_position_ids` (the positions its forward derives); where it
    derives none (text prompts: no grid), the model counts every slot, left padding included,
    so the offset is the row's padding."""
    base = base_model(model)
    wanted = inspect.signature(base.compute_3d_position_ids).parameters
    # every argument by name (Qwen2.5-VL's grids have no default), the cache None: a prompt
    given = {name: kwargs.get(name) for name in wanted}
    positions = base.compute_3d_position_ids(**given)
    mask = kwargs["attention_mask"]
    if positions is None:
        rows, length = mask.shape
        positions = torch.arange(length, device=mask.device).expand(3, rows, -1)
        return positions, (length - mask.sum(dim=1, keepdim=True)).long()
    return positions[-3:], base.rope_deltas.to(mask.device).long()


def grouped_layout(
    model: torch.nn.Module,
    encoded: EncodedPrompts,
    rows: list[int],
    completion_ids: torch.Tensor,
    lengths: list[int],
    split: bool = False,
) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Model kwargs of the grouped batch, and where each completion token's logits are.

    rows: prompt row of each of the n rollouts; completion_ids [n, Lc]; lengths: the tokens of
    each completion to feed (>= 1). Returns (kwargs with input_ids, the attention, position_ids
    [3, U, L], mm_token_type_ids and the media of the U prompt rows; batch row [n, Lc] and
    position [n, Lc] of the logits predicting each completion token; padding points at the
    row's last prompt token). The attention: with `split`, `grouped_attention` (the layout for
    `grouped_attention_forward`) and an all-ones attention_mask [U, L]; else attention_mask
    the dense block mask [U, 1, L, L] bool.
    """
    unique = sorted(set(rows))
    kwargs = rows_inputs(encoded, unique)
    prompt_ids, prompt_mask = kwargs["input_ids"], kwargs["attention_mask"]  # [U, Lp]
    device = prompt_ids.device
    count, prompt_len = prompt_ids.shape
    positions, deltas = prompt_positions(model, kwargs)
    first = prompt_mask.long().sum(dim=1) + deltas.flatten()  # [U] first completion position
    members = [[i for i, r in enumerate(rows) if r == row] for row in unique]
    total = prompt_len + max(sum(lengths[i] for i in group) for group in members)
    # padding: the last prompt token (text by the chat template: never a vision placeholder)
    input_ids = prompt_ids[:, -1:].repeat(1, total)
    input_ids[:, :prompt_len] = prompt_ids
    segment = torch.full((count, total), -1, dtype=torch.long, device=device)  # -1: padding
    segment[:, :prompt_len] = torch.where(prompt_mask.bool(), 0, -1)  # 0: the prompt
    all_positions = torch.zeros(3, count, total, dtype=torch.long, device=device)
    all_positions[:, :, :prompt_len] = positions
    n, completion_len = completion_ids.shape
    source_row = torch.zeros(n, completion_len, dtype=torch.long)
    source_pos = torch.full((n, completion_len), prompt_len - 1, dtype=torch.long)
    starts = [0] * n
    for u, group in enumerate(members):
        start = prompt_len
        for k, i in enumerate(group):
            length = lengths[i]
            end = start + length
            input_ids[u, start:end] = completion_ids[i, :length]
            segment[u, start:end] = k + 1  # completion k of the row
            all_positions[:, u, start:end] = first[u] + torch.arange(length, device=device)
            source_row[i] = u
            starts[i] = start
            # its first token is predicted by the last prompt token, token j by token j - 1
            source_pos[i, 1:length] = torch.arange(start, end - 1)
            start = end
    token_types = kwargs["mm_token_type_ids"]
    kwargs["mm_token_type_ids"] = torch.cat(
        [token_types, token_types.new_zeros(count, total - prompt_len)], dim=1
    )
    kwargs["input_ids"] = input_ids
    if split:
        # the caller reads logits from the last prompt token on (`grouped_logits`)
        last_layer = base_model(model).language_model.config.num_hidden_layers - 1
        kwargs["grouped_attention"] = GroupedAttention.build(
            prompt_mask, [unique.index(r) for r in rows], starts, lengths, total,
            last_layer=last_layer,
        )  # fmt: skip
        kwargs["attention_mask"] = torch.ones(count, total, dtype=torch.long, device=device)
    else:
        kwargs["attention_mask"] = block_mask(segment)
    kwargs["position_ids"] = all_positions
    return kwargs, source_row.to(device), source_pos.to(device)


def block_mask(segment: torch.Tensor) -> torch.Tensor:
    """[U, 1, L, L] True where query q may attend key k: k is not padding, k <= q, and k is in
    the prompt (segment 0) or in q's own completion. A padding query sees itself only (a row
    with no key would give NaN, which backward would spread).

    Example (a 2-token prompt, completions of 2 and 1 tokens):
        >>> block_mask(torch.tensor([[0, 0, 1, 1, 2]]))[0, 0].int()
        tensor([[1, 0, 0, 0, 0],
                [1, 1, 0, 0, 0],
                [1, 1, 1, 0, 0],
                [1, 1, 1, 1, 0],
                [1, 1, 0, 0, 1]], dtype=torch.int32)
    """
    length = segment.shape[1]
    index = torch.arange(length, device=segment.device)
    causal = index[None, :] <= index[:, None]  # [L, L]
    query, key = segment[:, :, None], segment[:, None, :]  # [U, L, 1], [U, 1, L]
    allowed = causal & (key >= 0) & ((key == 0) | (key == query))
    return (allowed | torch.eye(length, dtype=torch.bool, device=segment.device))[:, None]


def grouped_logits(
    model: torch.nn.Module,
    encoded: EncodedPrompts,
    rows: list[int],
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One forward of the grouped layout: logits [U, L', V] from each row's last prompt token
    on, where the logits predicting each completion token are (batch row [n, Lc], position
    [n, Lc] into them), and which tokens were fed ([n, Lc] bool: up to and including the first
    EOS). `model` is called as given (a DDP wrapper's forward counts for its reducer)."""
    lengths = completion_mask.sum(dim=1).clamp(min=1).tolist()
    config = base_model(model).language_model.config
    split = use_grouped_attention(config)
    kwargs, source_row, source_pos = grouped_layout(
        model, encoded, rows, completion_ids, lengths, split=split
    )
    prompt_len = encoded.inputs["input_ids"].shape[1]
    total = kwargs["input_ids"].shape[1]
    if not split:  # eager adds the mask to the scores
        dtype = next(model.parameters()).dtype
        blocked = ~kwargs["attention_mask"]
        kwargs["attention_mask"] = torch.zeros(blocked.shape, dtype=dtype, device=blocked.device)
        kwargs["attention_mask"].masked_fill_(blocked, torch.finfo(dtype).min)
    kept = torch.arange(prompt_len - 1, total, device=source_pos.device)
    logits = model(**kwargs, logits_to_keep=kept, use_cache=False).logits
    if split and not kwargs["grouped_attention"].calls:
        raise RuntimeError(
            f"{type(base_model(model)).__name__}'s attention layers did not receive the grouped "
            "layout (a model whose layers drop keyword arguments): set rl.grouped_update=false"
        )
    fed = torch.arange(completion_ids.shape[1], device=source_pos.device)[None, :]
    fed = fed < torch.as_tensor(lengths, device=source_pos.device)[:, None]
    return logits, source_row, source_pos - (prompt_len - 1), fed


def grouped_logprobs(
    model: torch.nn.Module,
    encoded: EncodedPrompts,
    rows: list[int],
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Log-probs [n, Lc] (float32) of the completion tokens, 0 after each completion's first
    EOS (completion_mask 0), from one forward of the grouped layout (`grouped_logits`)."""
    logits, source_row, source_pos, fed = grouped_logits(
        model, encoded, rows, completion_ids, completion_mask
    )
    # log_softmax(logits / T) at each token, without an [n, Lc, V] copy of the logits: the
    # normaliser once per position (rows upcast one at a time), the picked logit gathered
    lse = []
    for row in logits:  # [L', V]
        row = row.float()
        lse.append(torch.logsumexp(row / temperature if temperature != 1.0 else row, dim=-1))
    picked = logits[source_row, source_pos, completion_ids.to(source_pos.device)].float()
    if temperature != 1.0:
        picked = picked / temperature
    logprobs = picked - torch.stack(lse)[source_row, source_pos]
    return torch.where(fed, logprobs, torch.zeros_like(logprobs))
