"""Prompts: the Video-R1 templates, chat messages, and processor encoding.

This is the only package that knows processor keys (``pixel_values_videos``,
``video_grid_thw``, ``mm_token_type_ids``, ...: `inputs`). Everything after it treats
``model_inputs`` as an opaque dict of tensors and uses `select`, `repeat_batch` and
`PromptBatch` to handle it. `templates`: the published wording and chat messages; `encode`:
the processor call; `frame_times`: how each model is told when its frames were taken; `sft`:
SFT examples with their labels.
"""

from video_r1.prompts.encode import (
    Media,
    PromptBatch,
    encode_prompts,
    processor_factor,
    prompt_text,
)
from video_r1.prompts.frame_times import (
    FRAME_TIMES_IN_PROMPT,
    frame_times,
    prompt_messages,
    states_frame_times,
)
from video_r1.prompts.inputs import (
    KNOWN_KEYS,
    MEDIA_KEYS,
    PER_ROW_KEYS,
    MediaKeys,
    index_rows,
    media_of_rows,
    pixel_offsets,
    pixel_rows,
    repeat_batch,
    select,
    select_rows,
)
from video_r1.prompts.sft import (
    IGNORE_INDEX,
    collate_sft_examples,
    encode_sft_example,
    sft_target,
)
from video_r1.prompts.templates import (
    QUESTION_TEMPLATES,
    SFT_SYSTEM_PROMPT,
    TYPE_TEMPLATES,
    Wording,
    build_messages,
    build_prompt_text,
    format_question,
    tokenizer_texts,
)

__all__ = [
    "FRAME_TIMES_IN_PROMPT",
    "IGNORE_INDEX",
    "KNOWN_KEYS",
    "MEDIA_KEYS",
    "PER_ROW_KEYS",
    "QUESTION_TEMPLATES",
    "SFT_SYSTEM_PROMPT",
    "TYPE_TEMPLATES",
    "Media",
    "MediaKeys",
    "PromptBatch",
    "Wording",
    "build_messages",
    "build_prompt_text",
    "collate_sft_examples",
    "encode_prompts",
    "prompt_text",
    "encode_sft_example",
    "format_question",
    "frame_times",
    "index_rows",
    "media_of_rows",
    "pixel_offsets",
    "pixel_rows",
    "processor_factor",
    "prompt_messages",
    "repeat_batch",
    "select",
    "select_rows",
    "sft_target",
    "states_frame_times",
    "tokenizer_texts",
]
