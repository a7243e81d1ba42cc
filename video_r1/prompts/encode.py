"""Processor encoding of a prompt batch with its (already sampled) media.

Media arrive already sampled and resized (a `Clip` for a video, a uint8 ``[3, H, W]`` tensor
for an image): the processor is told not to sample or resize again, and is given each clip's
frame indices and source fps so that temporal positions (Qwen2.5-VL ``second_per_grid_ts``)
and Qwen3-VL's text timestamps follow the frames' real times (`frame_times`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from video_r1.media.types import Clip
from video_r1.prompts.frame_times import video_metadata_fields

Media = Clip | torch.Tensor


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


def processor_factor(processor: Any) -> int:
    """Height/width multiple of the model's vision input: patch size x merge size (28 or 32)."""
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
    """Frame metadata the processor needs for temporal positions and timestamps
    (`frame_times.video_metadata_fields`: the sampled frames' real times, as vLLM gets them).

    Sorted indices are given even for a time-shuffled clip: positions and Qwen3-VL's text
    timestamps then describe frame slots, so a shuffled clip does not reveal the true order
    through its timestamps (as with Qwen2.5-VL in the published T-GRPO, where positions ignore
    the shuffle).
    """
    from transformers.video_utils import VideoMetadata

    return VideoMetadata(**video_metadata_fields(clip))


def prompt_text(processor: Any, messages: list[dict], add_generation_prompt: bool = True) -> str:
    """The prompt's text, chat template applied: what `encode_prompts` tokenises, and what a
    generation engine that tokenises itself (vLLM) is given."""
    return processor.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
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
    factor = processor_factor(processor)
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
        texts.append(prompt_text(processor, messages, add_generation_prompt))
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
