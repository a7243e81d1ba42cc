"""Loading Qwen-VL models and processors; the generation settings every decode uses."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from video_r1.compat import ensure_torchvision_importable

logger = logging.getLogger(__name__)

# Vision special tokens of every Qwen-VL tokenizer: never to be generated.
VISION_TOKENS: tuple[str, ...] = (
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
_DTYPES = ("bfloat16", "float16", "float32")
SUPPORTED_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")  # "name" or "org/name"


class ModelPathError(ValueError):
    """A model path that does not exist or is not a supported Qwen-VL checkpoint."""


def check_model_path(path: str | Path) -> None:
    """Fail at once for a local model path that cannot work; Hub ids pass through.

    A string that cannot be a Hub id ("org/name") is a local path: if it does not exist the
    error comes now, not after transformers has waited for the Hub. A local folder must hold
    a config.json of a supported Qwen-VL (or a LoRA adapter_config.json).

    Example:
        check_model_path("Qwen/Qwen2.5-VL-7B-Instruct")  # a Hub id: not checked here
        check_model_path("runs/nope/model")  # ModelPathError: runs/nope/model: no such folder
    """
    text = str(path)
    local = isinstance(path, Path) or not _HUB_ID.match(text) or os.path.exists(text)
    if not local:
        return
    folder = Path(os.path.expanduser(text))
    if not folder.is_dir():
        raise ModelPathError(f"model path {text}: no such folder (a Hub id looks like org/name)")
    config = folder / "config.json"
    if not config.is_file():
        if (folder / "adapter_config.json").is_file():
            return
        raise ModelPathError(f"model path {text}: no config.json, not a Hugging Face model folder")
    model_type = json.loads(config.read_text()).get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelPathError(
            f"model path {text}: model_type {model_type!r} is not supported; "
            f"supported: {', '.join(SUPPORTED_MODEL_TYPES)} (Qwen2-VL, Qwen2.5-VL, Qwen3-VL)"
        )


def adapter_base(path: str | Path) -> str | None:
    """The base model of a LoRA adapter folder (a LoRA run's checkpoint-N: adapter files, no
    config.json), None for a model folder: the adapter's base_model_name_or_path, else the
    run's model.path in its config.yaml. ModelPathError, naming what to pass, if neither is
    a folder here (a relative path resolves from the current directory).
    """
    folder = Path(os.path.expanduser(str(path)))
    adapter = folder / "adapter_config.json"
    if (folder / "config.json").is_file() or not adapter.is_file():
        return None
    candidates = [json.loads(adapter.read_text()).get("base_model_name_or_path")]
    run_config = folder / "config.yaml"
    if run_config.is_file():
        import yaml

        candidates.append(
            ((yaml.safe_load(run_config.read_text()) or {}).get("model") or {}).get("path")
        )
    for base in candidates:
        if base and (Path(os.path.expanduser(str(base))) / "config.json").is_file():
            return str(base)
    named = " or ".join(str(c) for c in dict.fromkeys(candidates) if c) or "none named"
    raise ModelPathError(
        f"model path {path}: a LoRA checkpoint (adapters only) whose base model ({named}) is "
        "not found from here; pass the run's final/ (the merged model), or run from the "
        "folder the run was started in"
    )


def _resolve_dtype(dtype: Any) -> Any:
    import torch

    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected 'auto' or one of {list(_DTYPES)}")
    return getattr(torch, dtype)


def load_model(
    path: str | Path,
    *,
    dtype: Any = "auto",
    attn_implementation: str | None = None,
    fast_vision: bool = True,
) -> Any:
    """A Qwen2-VL, Qwen2.5-VL or Qwen3-VL checkpoint as its ForConditionalGeneration class.

    fast_vision: the vision tower's patch embedding as one matmul and, under sdpa, its
    attention windows batched by size: same weights, same result to float rounding, faster
    (video_r1.models.fast_vision); False keeps transformers' modules as they are.
    A Qwen2.5-VL gets the 3D positions its checkpoint was trained with, which transformers 5
    changed for the text after a video (video_r1.models.positions).
    """
    ensure_torchvision_importable()
    from transformers import AutoConfig, AutoModelForImageTextToText

    from video_r1.models.positions import use_trained_positions

    check_model_path(path)
    base = adapter_base(path)  # a LoRA run's checkpoint: its base + the adapter, merged
    config = AutoConfig.from_pretrained(base or path)
    if config.model_type not in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl"):
        raise ValueError(f"{path}: model_type {config.model_type!r} is not a supported Qwen-VL")
    kwargs: dict[str, Any] = {"dtype": _resolve_dtype(dtype)}
    if attn_implementation is not None:
        kwargs["attn_implementation"] = usable_attn_implementation(attn_implementation)
    model = AutoModelForImageTextToText.from_pretrained(base or path, **kwargs)
    if base is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    use_trained_positions(model)
    if fast_vision:
        from video_r1.models.fast_vision import use_fast_vision

        use_fast_vision(model)
    return model


def usable_attn_implementation(requested: str) -> str:
    """`requested`, or sdpa where flash_attention_2 cannot run (flash-attn not installed, or no
    CUDA device), with one log line naming both: the published configs ask for flash
    attention, which no install step provides and no CPU runs.

    Example (on a machine without flash-attn):
        >>> usable_attn_implementation("eager")
        'eager'
    """
    if requested != "flash_attention_2":
        return requested
    from transformers.utils import is_flash_attn_2_available

    if is_flash_attn_2_available():
        return requested
    logger.warning(
        "attention: flash_attention_2 requested, using sdpa (flash-attn is not importable "
        "or there is no CUDA device)"
    )
    return "sdpa"


def load_processor(
    path: str | Path,
    *,
    image_min_pixels: int | None = None,
    image_max_pixels: int | None = None,
    video_min_pixels: int | None = None,
    video_max_pixels: int | None = None,
) -> Any:
    """The checkpoint's processor, tokenizer padding on the left (for generation).

    Pixel settings only matter where the processor itself resizes (the published path);
    `video_r1.prompts.encode_prompts` passes media that are already resized.
    """
    ensure_torchvision_importable()
    from transformers import AutoProcessor

    check_model_path(path)
    processor = AutoProcessor.from_pretrained(path)
    processor.tokenizer.padding_side = "left"
    _set_pixels(processor.image_processor, image_min_pixels, image_max_pixels)
    _set_pixels(processor.video_processor, video_min_pixels, video_max_pixels)
    return processor


def _set_pixels(part: Any, min_pixels: int | None, max_pixels: int | None) -> None:
    size = dict(part.size)
    if min_pixels is not None:
        size["shortest_edge"] = int(min_pixels)
    if max_pixels is not None:
        size["longest_edge"] = int(max_pixels)
    if min_pixels is not None or max_pixels is not None:
        if size["shortest_edge"] > size["longest_edge"]:
            raise ValueError(
                f"min_pixels {size['shortest_edge']} > max_pixels {size['longest_edge']}"
            )
        part.size = type(part.size)(**size) if not isinstance(part.size, dict) else size


def vision_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the image/video placeholders and vision start/end/pad tokens.

    Example:
        vision_token_ids(qwen2_5_vl_tokenizer) -> [151652, 151653, 151654, 151655, 151656]
    """
    vocab = tokenizer.get_vocab()
    missing = [t for t in VISION_TOKENS if t not in vocab]
    if missing:
        raise ValueError(f"tokenizer lacks Qwen-VL vision tokens {missing}")
    return [int(vocab[t]) for t in VISION_TOKENS]


def stop_token_ids(tokenizer: Any, model: Any = None) -> list[int]:
    """<|im_end|> first, then <|endoftext|>, the tokenizer's eos and the model's eos ids.

    Example:
        stop_token_ids(qwen2_5_vl_tokenizer) -> [151645, 151643]
    """
    ids = [int(tokenizer.convert_tokens_to_ids(t)) for t in ("<|im_end|>", "<|endoftext|>")]
    ids.append(tokenizer.eos_token_id)
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids += eos if isinstance(eos, list) else [eos]
    return list(dict.fromkeys(int(i) for i in ids if i is not None))


def generation_config(
    model: Any,
    processor: Any,
    *,
    temperature: float = 1.0,
    top_p: float = 0.95,
    top_k: int = 50,
    max_new_tokens: int = 768,
    do_sample: bool = True,
) -> Any:
    """Decoding settings that never emit a vision token and stop at <|im_end|>/eos.

    Also suppresses the embedding rows past the tokenizer's vocabulary (real Qwen-VL
    checkpoints carry a few hundred), which decode to nothing. top_k 50 is transformers
    4.49's default, under which the published trainer sampled its rollouts (0: off). Every
    sampling field is set here: the checkpoint's generation_config.json must not fill one in
    (`video_r1.rollout.sampling`, `without_checkpoint_defaults`).
    """
    from transformers import GenerationConfig

    tokenizer = processor.tokenizer
    stops = stop_token_ids(tokenizer, model)
    vocab_size = int(model.get_output_embeddings().weight.shape[0])
    suppress = vision_token_ids(tokenizer) + list(range(len(tokenizer), vocab_size))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[-1]
    kwargs: dict[str, Any] = {}
    if do_sample:
        kwargs = {"temperature": temperature, "top_p": top_p, "top_k": top_k}
    return GenerationConfig(
        do_sample=do_sample,
        max_new_tokens=max_new_tokens,
        eos_token_id=stops,
        pad_token_id=int(pad),
        suppress_tokens=suppress,
        **kwargs,
    )


def generation_stop_ids(
    generation_config: Any, eos_token_ids: Sequence[int] | None = None
) -> list[int]:
    """The ids generation stops at (`generation_config.eos_token_id`), checked against a
    caller's list of the same.

    Example:
        >>> from transformers import GenerationConfig
        >>> generation_stop_ids(GenerationConfig(eos_token_id=[7, 9]), [9, 7])
        [7, 9]
    """
    configured = generation_config.eos_token_id
    if configured is None:
        raise ValueError("the generation config has no eos_token_id: generation would never stop")
    stops = [int(i) for i in (configured if isinstance(configured, list) else [configured])]
    if eos_token_ids is not None and set(map(int, eos_token_ids)) != set(stops):
        raise ValueError(
            f"stop tokens {sorted(set(map(int, eos_token_ids)))} differ from the generation "
            f"config's eos_token_id {sorted(set(stops))}; build both with "
            "video_r1.models.stop_token_ids(tokenizer, model), or pass no list"
        )
    return stops


def completion_pad_id(generation_config: Any) -> int:
    """The id completions are right-padded with (masked out in any case): the config's
    pad_token_id, else its first stop id.

    Example:
        >>> from transformers import GenerationConfig
        >>> completion_pad_id(GenerationConfig(eos_token_id=[7, 9])), completion_pad_id(
        ...     GenerationConfig(eos_token_id=[7, 9], pad_token_id=3))
        (7, 3)
    """
    pad = generation_config.pad_token_id
    return int(pad) if pad is not None else generation_stop_ids(generation_config)[0]
