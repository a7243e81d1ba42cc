"""Prompts: the Video-R1 templates, chat messages, and processor encoding.

This is the only module that knows processor keys (``pixel_values_videos``,
``video_grid_thw``, ``mm_token_type_ids``, ...). Everything after it treats ``model_inputs``
as an opaque dict of tensors and uses `select`, `repeat_batch` and `PromptBatch` to handle it.

Media arrive already sampled and resized (a `Clip` for a video, a uint8 ``[3, H, W]`` tensor
for an image): the processor is told not to sample or resize again, and is given each clip's
frame indices and source fps so that temporal positions (Qwen2.5-VL ``second_per_grid_ts``)
and Qwen3-VL's text timestamps are right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from video_r1.media.types import Clip
from video_r1.models.loading import vision_token_ids

Wording = Literal["train", "eval"]
Media = Clip | torch.Tensor

_THINK_INTRO = (
    "Please think about this question as if you were a human pondering deeply. "
    "Engage in an internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', "
    "'oh, I see', 'let's break it down', etc, or other natural language thought expressions "
    "It's encouraged to include self-reflection or verification in the reasoning process. "
)
# RL training wording (the published grpo script) and the evaluation / CoT-generation wording.
QUESTION_TEMPLATES: dict[str, str] = {
    "train": "{Question}\n"
    + _THINK_INTRO
    + "Provide your detailed reasoning between the <think> </think> tags, and then give your "
    "final answer between the <answer> </answer> tags.",
    "eval": "{Question}\n"
    + _THINK_INTRO
    + "Provide your detailed reasoning between the <think> and </think> tags, and then give "
    "your final answer between the <answer> and </answer> tags.",
}
TYPE_TEMPLATES: dict[str, str] = {
    "multiple choice": " Please provide only the single option letter (e.g., A, B, C, D, etc.)"
    " within the <answer> </answer> tags.",
    "numerical": " Please provide the numerical value (e.g., 42 or 3.14) within the"
    " <answer> </answer> tags.",
    "OCR": " Please transcribe text from the image/video clearly and provide your text answer"
    " within the <answer> </answer> tags.",
    "free-form": " Please provide your text answer within the <answer> </answer> tags.",
    "regression": " Please provide the numerical value (e.g., 42 or 3.14) within the"
    " <answer> </answer> tags.",
}
SFT_SYSTEM_PROMPT = "You are a helpful assistant"  # as in the published SFT script (no period)
IGNORE_INDEX = -100

# Processor output keys, by what indexes them (see `select`).
_PER_SAMPLE_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids")
_MEDIA_KINDS = {  # mm_token_type_ids value -> (pixel key, grid key, per-media extra keys)
    1: ("pixel_values", "image_grid_thw", ()),
    2: ("pixel_values_videos", "video_grid_thw", ("second_per_grid_ts",)),
}


def format_question(record: Any) -> str:
    """The question text: the problem, plus the options for multiple choice.

    As published (grpo.py, sft_video.py, eval_bench.py, generate_cot_vllm.py): no separator
    before "Options", and every option is followed by a newline, so the question ends with one
    and the template's "{Question}\\n" leaves a blank line before "Please think".
    Example:
        problem "Which colour?" with options ("A. red", "B. blue") ->
        "Which colour?Options:\\nA. red\\nB. blue\\n"
    """
    if record.problem_type == "multiple choice":
        if not record.options:
            raise ValueError(
                f"{record.source or record.problem_id}: multiple choice without options"
            )
        return record.problem + "Options:\n" + "".join(option + "\n" for option in record.options)
    return record.problem


def build_prompt_text(record: Any, wording: Wording = "train") -> str:
    """The user turn's text: question template plus the per-type answer instruction.

    Example:
        a numerical record "How many cubes?" -> "How many cubes?\\nPlease think about ... tags."
        + " Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags."
    """
    if wording not in QUESTION_TEMPLATES:
        raise ValueError(
            f"unknown wording {wording!r}; expected one of {sorted(QUESTION_TEMPLATES)}"
        )
    if record.problem_type not in TYPE_TEMPLATES:
        raise ValueError(
            f"{record.source or record.problem_id}: unknown problem_type {record.problem_type!r}"
        )
    question = QUESTION_TEMPLATES[wording].format(Question=format_question(record))
    return question + TYPE_TEMPLATES[record.problem_type]


def build_messages(
    record: Any, *, wording: Wording = "train", system_prompt: str | None = None
) -> list[dict]:
    """Chat messages for one record: optional system turn, then a user turn (media, then text).

    Example:
        a video record -> [{"role": "user", "content": [{"type": "video"},
                                                        {"type": "text", "text": "..."}]}]
    """
    if record.data_type not in ("image", "video"):
        raise ValueError(
            f"{record.source or record.problem_id}: bad data_type {record.data_type!r}"
        )
    messages: list[dict] = []
    if system_prompt is not None:
        messages.append({"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    content = [
        {"type": record.data_type},
        {"type": "text", "text": build_prompt_text(record, wording)},
    ]
    messages.append({"role": "user", "content": content})
    return messages


def sft_target(record: Any) -> str:
    """The SFT assistant text: rationale, newline, solution.

    Example:
        process "<think>two cubes</think>", solution "<answer>2</answer>"
        -> "<think>two cubes</think>\\n<answer>2</answer>"
    """
    if not record.process:
        raise ValueError(f"{record.source or record.problem_id}: SFT needs a 'process' rationale")
    return record.process + "\n" + record.solution


@dataclass(frozen=True)
class PromptBatch:
    """Encoded prompts, left-padded for generation.

    model_inputs: the processor's tensors (opaque after this module; pass as ``**model_inputs``).
    prompt_lengths: [B] real (unpadded) tokens of each prompt.
    """

    model_inputs: dict[str, torch.Tensor]
    prompt_lengths: torch.Tensor

    @property
    def input_ids(self) -> torch.Tensor:  # [B, L]
        return self.model_inputs["input_ids"]

    @property
    def attention_mask(self) -> torch.Tensor:  # [B, L]
        return self.model_inputs["attention_mask"]

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


def _media_items(media: Media | Sequence[Media] | None) -> list[Media]:
    if media is None:
        return []
    if isinstance(media, (Clip, torch.Tensor)):
        return [media]
    return list(media)


def _processor_factor(processor: Any) -> int:
    return int(processor.image_processor.patch_size * processor.image_processor.merge_size)


def _check_frames(frames: torch.Tensor, factor: int, what: str) -> None:
    """The processor is told not to resize, so sizes must already suit the patch grid."""
    if frames.dtype != torch.uint8:
        raise ValueError(f"{what}: expected uint8 pixels, got {frames.dtype}")
    height, width = frames.shape[-2:]
    if height % factor or width % factor:
        raise ValueError(
            f"{what}: size {height}x{width} is not a multiple of {factor} (patch x merge of this "
            f"model); sample it with the model's factor (VideoSettings/ImageSettings.factor)"
        )


def _video_metadata(clip: Clip) -> Any:
    """Frame metadata the processor needs for temporal positions and timestamps.

    qwen-vl-utils samples indices linspace(0, total - 1, n), so total = max index + 1 and the
    sampled fps it reports (n / total x fps) is reproduced exactly. Sorted indices are given
    even for a time-shuffled clip: positions and Qwen3-VL's text timestamps then describe
    frame slots, so a shuffled clip does not reveal the true order through its timestamps
    (as with Qwen2.5-VL in the published T-GRPO, where positions ignore the shuffle).
    """
    from transformers.video_utils import VideoMetadata

    indices = sorted(int(i) for i in clip.indices)
    return VideoMetadata(
        total_num_frames=indices[-1] + 1,
        fps=float(clip.source_fps),
        frames_indices=indices,
        height=int(clip.frames.shape[-2]),
        width=int(clip.frames.shape[-1]),
    )


def encode_prompts(
    processor: Any,
    messages_list: Sequence[list[dict]],
    media_list: Sequence[Media | Sequence[Media] | None],
    *,
    add_generation_prompt: bool = True,
) -> PromptBatch:
    """Tokenise and process a batch of prompts with their (already sampled) media.

    media_list[i] holds prompt i's media in the order its messages mention them: a `Clip`
    for each video, a uint8 [3, H, W] tensor for each image.
    """
    if len(messages_list) != len(media_list):
        raise ValueError(f"{len(messages_list)} prompts but {len(media_list)} media entries")
    factor = _processor_factor(processor)
    texts, images, videos, metadata = [], [], [], []
    for i, (messages, media) in enumerate(zip(messages_list, media_list, strict=True)):
        items = _media_items(media)
        wanted = [
            c["type"] for m in messages if isinstance(m["content"], list) for c in m["content"]
        ]
        wanted = [t for t in wanted if t in ("image", "video")]
        got = ["video" if isinstance(x, Clip) else "image" for x in items]
        if wanted != got:
            raise ValueError(f"prompt {i}: messages ask for media {wanted} but got {got}")
        for item in items:
            if isinstance(item, Clip):
                _check_frames(item.frames, factor, f"prompt {i} video {item.path}")
                videos.append(item.frames)
                metadata.append(_video_metadata(item))
            else:
                if item.ndim != 3 or item.shape[0] != 3:
                    raise ValueError(f"prompt {i}: image must be [3, H, W], got {list(item.shape)}")
                _check_frames(item, factor, f"prompt {i} image")
                images.append(item)
        texts.append(
            processor.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        )
    kwargs: dict[str, Any] = {}
    if images:
        kwargs["images"] = images
        kwargs["images_kwargs"] = {"do_resize": False}
    if videos:
        kwargs["videos"] = videos
        kwargs["videos_kwargs"] = {
            "do_resize": False,
            "do_sample_frames": False,
            "video_metadata": metadata,
            "cap_pixels_per_frame": False,  # no resize happens; silences a deprecation warning
        }
    batch = processor(
        text=texts,
        padding=True,
        padding_side="left",
        return_tensors="pt",
        return_mm_token_type_ids=True,
        **kwargs,
    )
    model_inputs = {k: _as_tensor(v) for k, v in batch.items()}
    if "mm_token_type_ids" not in model_inputs:
        raise RuntimeError("processor returned no mm_token_type_ids; Qwen-VL positions need them")
    return PromptBatch(model_inputs, model_inputs["attention_mask"].sum(dim=1))


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    return torch.as_tensor(value, dtype=torch.float32 if isinstance(value[0], float) else None)


def _media_owners(model_inputs: dict[str, torch.Tensor], kind: int, grid_key: str) -> list[int]:
    """The sample index owning each media item of one kind, in processor order.

    Media are laid out sample by sample; each item fills grid.prod() / merge**2 placeholder
    tokens, and a sample's placeholder tokens are its mm_token_type_ids == kind.
    """
    grids = model_inputs[grid_key]  # [M, 3]
    tokens_per_sample = (model_inputs["mm_token_type_ids"] == kind).sum(dim=1).tolist()  # [B]
    patches = grids.prod(dim=1).tolist()  # [M]
    merge_sq = sum(patches) // max(1, sum(tokens_per_sample))
    owners, sample, filled = [], 0, 0
    for n in patches:
        while sample < len(tokens_per_sample) and filled >= tokens_per_sample[sample]:
            sample, filled = sample + 1, 0
        if sample >= len(tokens_per_sample):
            raise ValueError(f"{grid_key}: more media than placeholder tokens")
        owners.append(sample)
        filled += n // merge_sq
    return owners


def select(
    model_inputs: dict[str, torch.Tensor], indices: Sequence[int]
) -> dict[str, torch.Tensor]:
    """The samples `indices` (in that order, repeats allowed) with their media.

    Per-sample tensors are indexed on dim 0; pixel rows and grids follow their samples.

    Example:
        select(inputs_of_2_videos, [1, 1, 0]) -> a batch of 3 whose pixel_values_videos are
        video 1's rows twice then video 0's rows, and video_grid_thw [g1, g1, g0].
    """
    index = torch.as_tensor(list(indices), dtype=torch.long)
    known = set(_PER_SAMPLE_KEYS)
    out = {k: model_inputs[k][index] for k in _PER_SAMPLE_KEYS if k in model_inputs}
    for kind, (pixel_key, grid_key, extra_keys) in _MEDIA_KINDS.items():
        known.update((pixel_key, grid_key, *extra_keys))
        if grid_key not in model_inputs:
            continue
        grids = model_inputs[grid_key]
        owners = _media_owners(model_inputs, kind, grid_key)
        offsets = [0, *torch.cumsum(grids.prod(dim=1), 0).tolist()]
        chosen = [m for i in index.tolist() for m in range(len(owners)) if owners[m] == i]
        if not chosen:
            continue
        out[pixel_key] = torch.cat(
            [model_inputs[pixel_key][offsets[m] : offsets[m + 1]] for m in chosen]
        )
        out[grid_key] = grids[chosen]
        for key in extra_keys:
            if key in model_inputs:
                out[key] = model_inputs[key][chosen]
    unknown = set(model_inputs) - known
    if unknown:
        raise KeyError(f"select: don't know how to split processor outputs {sorted(unknown)}")
    return out


def repeat_batch(model_inputs: dict[str, torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    """Each sample repeated n times in a row (sample-major), media included.

    Example:
        repeat_batch(inputs_of [p0, p1], 2) -> inputs of [p0, p0, p1, p1]
    """
    batch = int(model_inputs["input_ids"].shape[0])
    return select(model_inputs, [i for i in range(batch) for _ in range(n)])


def encode_sft_example(
    processor: Any,
    record: Any,
    media: Media | Sequence[Media],
    *,
    wording: Wording = "train",
    system_prompt: str | None = SFT_SYSTEM_PROMPT,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One SFT example: (model_inputs of batch 1, labels [1, L]).

    Labels are -100 everywhere except the assistant's tokens: the target and the closing
    <|im_end|> (the published code also trained on prompt and video placeholder tokens).
    """
    messages = build_messages(record, wording=wording, system_prompt=system_prompt)
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
