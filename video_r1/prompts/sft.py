"""SFT examples: the assistant target, labels on the assistant's tokens only, and collation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from video_r1.media.types import Clip
from video_r1.models.loading import vision_token_ids
from video_r1.prompts.encode import Media, encode_prompts
from video_r1.prompts.frame_times import prompt_messages
from video_r1.prompts.templates import SFT_SYSTEM_PROMPT, Wording

IGNORE_INDEX = -100  # label of a position without loss (torch's cross_entropy default)


def sft_target(record: Any) -> str:
    """The SFT assistant text: rationale, newline, solution.

    Example:
        process "<think>two cubes</think>", solution "<answer>2</answer>"
        -> "<think>two cubes</think>\\n<answer>2</answer>"
    """
    if not record.process:
        raise ValueError(f"{record.source or record.problem_id}: SFT needs a 'process' rationale")
    return record.process + "\n" + record.solution


def encode_sft_example(
    processor: Any,
    record: Any,
    media: Media | Sequence[Media],
    *,
    wording: Wording = "train",
    system_prompt: str | None = SFT_SYSTEM_PROMPT,
    frame_times_in_prompt: str = "auto",
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One SFT example: (model_inputs of batch 1, labels [1, L]). The prompt is RL's and
    evaluation's (`prompt_messages`, frame times included where the setting asks for them).

    Labels are -100 everywhere except the assistant's tokens: the target and the closing
    <|im_end|> (the published code also trained on prompt and video placeholder tokens).
    """
    items = [media] if isinstance(media, (Clip, torch.Tensor)) else list(media)
    video = next((m for m in items if isinstance(m, Clip)), None)
    messages = prompt_messages(
        processor, [record], [video], wording=wording, system_prompt=system_prompt,
        frame_times_in_prompt=frame_times_in_prompt,
    )[0]  # fmt: skip
    messages.append(
        {"role": "assistant", "content": [{"type": "text", "text": sft_target(record)}]}
    )
    batch = encode_prompts(processor, [messages], [media], add_generation_prompt=False)
    input_ids = batch.input_ids[0]  # [L]
    tokenizer = processor.tokenizer
    im_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    header = tokenizer("assistant\n", add_special_tokens=False)["input_ids"]
    starts = (input_ids == im_start).nonzero().flatten().tolist()
    if not starts:
        raise ValueError(
            f"{record.source or record.problem_id}: no assistant turn after templating"
        )
    first = starts[-1] + 1 + len(header)
    if input_ids[starts[-1] + 1 : first].tolist() != header:
        raise ValueError(f"{record.source or record.problem_id}: last turn is not the assistant's")
    ends = (input_ids[first:] == im_end).nonzero().flatten()
    if len(ends) == 0:
        raise ValueError(f"{record.source or record.problem_id}: assistant turn has no <|im_end|>")
    last = first + int(ends[0])
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[first : last + 1] = input_ids[first : last + 1]
    vision = torch.as_tensor(vision_token_ids(tokenizer))
    labels[torch.isin(input_ids, vision)] = IGNORE_INDEX
    labels[batch.attention_mask[0] == 0] = IGNORE_INDEX
    return batch.model_inputs, labels.unsqueeze(0)


def collate_sft_examples(
    examples: Sequence[tuple[dict[str, torch.Tensor], torch.Tensor]], processor: Any
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Batch `encode_sft_example` outputs: right-pad the tokens, concatenate the media.

    Padding gets pad_token_id, attention 0, token type 0 and label -100.
    Example:
        two examples of 300 and 280 tokens -> input_ids [2, 300], labels [2, 300]
    """
    if not examples:
        raise ValueError("collate_sft_examples: no examples")
    width = max(int(labels.shape[1]) for _, labels in examples)
    pad_values = {
        "input_ids": processor.tokenizer.pad_token_id,
        "attention_mask": 0,
        "mm_token_type_ids": 0,
    }
    out: dict[str, list[torch.Tensor]] = {}
    all_labels = []
    for inputs, labels in examples:
        extra = width - int(labels.shape[1])
        for key, value in inputs.items():
            if key in pad_values:
                value = torch.nn.functional.pad(value, (0, extra), value=pad_values[key])
            out.setdefault(key, []).append(value)
        all_labels.append(torch.nn.functional.pad(labels, (0, extra), value=IGNORE_INDEX))
    batch = {key: torch.cat(values) for key, values in out.items()}
    return batch, torch.cat(all_labels)
